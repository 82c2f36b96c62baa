"""Helpers shared by the disk labs (tests/labs/test_disks_*.py).

* `unique_label()`: labs run in parallel with other labs that also make
  filesystems labelled "mydata"; a random suffix keeps LABEL= lookups exact.
* `ext4_image()`: a sparse image with a fresh ext4 on it (no discard, quiet).
* `lvm_sandbox()`: an LVM environment that sees only the loop devices given
  to it: LVM_SYSTEM_DIR points at a temp dir with its own lvm.conf (backup
  and archive files, lock dir there too) and every command gets
  `--devices DEV,...`, so the host's PVs, VGs, /etc/lvm and devices file are
  never read or written (and `hints = "none"` keeps /run/lvm/hints untouched).  On exit it removes the VG and the PV labels.
"""
from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from collections.abc import Iterator, Sequence

from labkit import make_image, run

MiB = 1 << 20


def unique_label(prefix: str = "mydata") -> str:
    """prefix plus 4 hex digits; ext4 labels hold at most 16 bytes."""
    label = f"{prefix}-{secrets.token_hex(2)}"
    assert len(label) <= 16
    return label


def ext4_image(path: Path, size: int, *mkfs_args: str) -> Path:
    make_image(path, size)
    run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", *mkfs_args, str(path)])
    return path


LVM_CONF = """\
devices {{
    use_devicesfile = 0
    obtain_device_list_from_udev = 0
    external_device_info_source = "none"
    hints = "none"
}}
global {{
    locking_dir = "{root}/lock"
    use_lvmlockd = 0
}}
backup {{
    backup = 1
    backup_dir = "{root}/backup"
    archive = 1
    archive_dir = "{root}/archive"
}}
activation {{
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}}
"""


class LvmSandbox:
    def __init__(self, root: Path, devices: Sequence[str]):
        self.root = root
        self.devices = list(devices)
        self.env = {"LVM_SYSTEM_DIR": str(root), "LVM_SUPPRESS_FD_WARNINGS": "1"}
        self.vgs: list[str] = []

    def __call__(self, tool: str, *args: str, check: bool = True):
        """Run an LVM tool restricted to our devices."""
        return run([tool, "--devices", ",".join(self.devices), *args], env=self.env, check=check)

    def direct(self, tool: str, *args: str, check: bool = True):
        """Run a tool that reads only the device it is given (pvck refuses --devices
        lists in lvm2 2.03.16: "device is not in devices list")."""
        return run([tool, *args], env=self.env, check=check)


@contextlib.contextmanager
def lvm_sandbox(root: Path, devices: Sequence[str]) -> Iterator[LvmSandbox]:
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("lock", "backup", "archive"):
        (root / sub).mkdir(exist_ok=True)
    (root / "lvm.conf").write_text(LVM_CONF.format(root=root))
    box = LvmSandbox(root, devices)
    try:
        yield box
    finally:
        for vg in box.vgs:
            box("vgremove", "-f", "--driverloaded", "n", vg, check=False)
        box("pvremove", "-ff", "-y", *box.devices, check=False)
