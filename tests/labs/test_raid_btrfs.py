"""Lab: RAID redundancy for real, with btrfs RAID1 and RAID6 on loop devices.

This kernel has no md driver, so the md commands of docs/raid/mdadm.md cannot
run here (the last tests prove that).  btrfs implements the same RAID levels
itself: we write a file, remove member devices, mount with -o degraded and
check that the file's SHA-256 is unchanged, then rebuild a RAID1 onto a new
device with `btrfs replace` and verify it with `btrfs scrub`.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path

import pytest


for _extra in (Path(__file__).resolve().parents[2] / "snippets", Path(__file__).resolve().parents[1]):
    if str(_extra) not in sys.path:  # tests/conftest.py normally does this
        sys.path.insert(0, str(_extra))

from labkit import loop_device, make_image, mounted, need_root, need_tools, run


MIB = 1024 * 1024


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Members:
    """Loop devices we attached, each detachable on its own (and all detached at the end)."""

    def __init__(self, tmp: Path, count: int, size: int = 256 * MIB):
        self.tmp = tmp
        self.stacks: list[contextlib.ExitStack] = []
        self.devs: list[str] = []
        for _ in range(count):
            self.add(size)

    def add(self, size: int = 256 * MIB) -> str:
        image = make_image(self.tmp / f"member{len(self.devs)}.img", size)
        stack = contextlib.ExitStack()
        dev = stack.enter_context(loop_device(image, partitions=False))
        self.stacks.append(stack)
        self.devs.append(dev)
        return dev

    def pull(self, i: int) -> None:
        """'Pull the disk': unregister it from btrfs, then detach the loop device."""
        run(["btrfs", "device", "scan", "--forget", self.devs[i]], check=False)
        self.stacks[i].close()

    def close(self) -> None:
        for i, stack in enumerate(self.stacks):
            run(["btrfs", "device", "scan", "--forget", self.devs[i]], check=False)
            stack.close()


@pytest.fixture
def members(tmp_path):
    need_root()
    need_tools("mkfs.btrfs", "btrfs", "losetup", "mount")
    made: list[Members] = []

    def factory(count: int) -> Members:
        m = Members(tmp_path, count)
        made.append(m)
        return m

    yield factory
    for m in made:
        m.close()


def write_random_file(mnt: Path, size: int) -> str:
    path = mnt / "data.bin"
    path.write_bytes(os.urandom(size))
    run(["sync"])
    return sha256(path)


def test_btrfs_raid1_survives_losing_a_member_and_rebuilds_with_replace(members, tmp_path):
    m = members(2)
    run(["mkfs.btrfs", "-f", "-L", "r1lab", "-d", "raid1", "-m", "raid1", *m.devs])
    mnt = tmp_path / "mnt"
    with mounted(m.devs[0], mnt):
        digest = write_random_file(mnt, 20 * MIB)
        df = run(["btrfs", "filesystem", "df", str(mnt)]).stdout
        assert "Data, RAID1" in df and "Metadata, RAID1" in df
    m.pull(1)                                      # one mirror gone
    plain = run(["mount", m.devs[0], str(mnt)], check=False)
    assert plain.returncode != 0                   # btrfs refuses a degraded mount by default
    with mounted(m.devs[0], mnt, "degraded"):
        assert sha256(mnt / "data.bin") == digest
        show = run(["btrfs", "filesystem", "show", str(mnt)]).stdout
        assert "MISSING" in show
        new = m.add()                              # rebuild: copy onto a new member
        run(["btrfs", "replace", "start", "-B", "2", new, str(mnt)])
        show = run(["btrfs", "filesystem", "show", str(mnt)]).stdout
        assert "MISSING" not in show and new in show
        # chunks allocated while degraded may be "single" (one copy only): convert them back
        run(["btrfs", "balance", "start", "--force", "-dconvert=raid1,soft", "-mconvert=raid1,soft",
             "-sconvert=raid1,soft", str(mnt)])
        df = run(["btrfs", "filesystem", "df", str(mnt)]).stdout
        assert [line for line in df.splitlines() if "single" in line and "GlobalReserve" not in line] == []
        scrub = run(["btrfs", "scrub", "start", "-B", str(mnt)])
        assert "no errors found" in scrub.stdout + scrub.stderr
        assert sha256(mnt / "data.bin") == digest
    m.pull(0)                                      # now lose the *original* member
    with mounted(m.devs[2], mnt, "degraded", "ro"):
        assert sha256(mnt / "data.bin") == digest  # the rebuilt copy alone holds the data


def test_btrfs_raid6_survives_losing_two_members(members, tmp_path):
    m = members(4)
    run(["mkfs.btrfs", "-f", "-L", "r6lab", "-d", "raid6", "-m", "raid1c3", *m.devs])
    mnt = tmp_path / "mnt"
    with mounted(m.devs[0], mnt):
        digest = write_random_file(mnt, 30 * MIB)
        df = run(["btrfs", "filesystem", "df", str(mnt)]).stdout
        assert "Data, RAID6" in df and "Metadata, RAID1C3" in df
    m.pull(1)
    m.pull(3)                                      # two of four members gone
    assert run(["mount", m.devs[0], str(mnt)], check=False).returncode != 0
    with mounted(m.devs[0], mnt, "degraded", "ro"):
        assert sha256(mnt / "data.bin") == digest
        show = run(["btrfs", "filesystem", "show", str(mnt)]).stdout
        assert show.count("MISSING") == 2


def test_this_kernel_has_no_md_driver():
    # /proc/mdstat exists as soon as md_mod is loaded or built in (md(4))
    assert not Path("/proc/mdstat").exists()
    assert not Path("/sys/module/md_mod").exists()


def test_mdadm_create_fails_here_for_lack_of_md(tmp_path):
    need_root()
    need_tools("mdadm", "modprobe", "losetup")
    probe = run(["modprobe", "raid456"], check=False)
    assert probe.returncode != 0 and "not found" in probe.stderr
    node = "/dev/md77"
    existed = os.path.exists(node)
    with contextlib.ExitStack() as stack:
        devs = [stack.enter_context(loop_device(make_image(tmp_path / f"d{i}.img", 64 * MIB),
                                                partitions=False)) for i in range(4)]
        try:
            res = run(["mdadm", "--create", node, "--run", "--level=5", "--raid-devices=3",
                       "--spare-devices=1", *devs], check=False, timeout=60)
        finally:
            if not existed and os.path.exists(node):
                os.unlink(node)                    # mdadm made the node by hand; remove it
    assert res.returncode != 0
    assert "md_mod" in res.stderr or "failure opening" in res.stderr


def test_mkfs_xfs_records_su_sw_from_chunk_and_data_disks(tmp_path):
    # 4-disk md RAID 5 with the default 512 KiB chunk: su=512k, sw=3 data disks
    need_tools("mkfs.xfs", "xfs_db")
    import raid
    su, sw = raid.xfs_stripe_geometry("5", 4, 512 * 1024)
    image = make_image(tmp_path / "xfs.img", 1024 * MIB)   # mkfs.xfs wants >= 300 MB
    run(["mkfs.xfs", "-q", "-d", f"su={su},sw={sw}", str(image)])
    out = run(["xfs_db", "-r", "-c", "sb 0", "-c", "print unit width blocksize", str(image)]).stdout
    # superblock stores them in filesystem blocks: 524288 / 4096 = 128, x 3 = 384
    assert out.split() == ["unit", "=", "128", "width", "=", "384", "blocksize", "=", "4096"]
