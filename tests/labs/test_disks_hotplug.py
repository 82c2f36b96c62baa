"""Lab for docs/disks/hotplug-nvme.md: growing a "LUN" online, layer by layer.

A loop device stands in for the LUN (this kernel has no SCSI or NVMe): the
image file grows as the array would grow the LUN, `losetup -c` makes the
kernel re-read the capacity as `echo 1 > /sys/block/sdX/device/rescan` would,
`growpart` moves the GPT backup header and the end of partition 1 while it is
mounted, and `xfs_growfs` grows the mounted XFS.  The numbers are those on the
page: 320 MiB -> 800 MiB, partition end at LBA 1638400 - 34, XFS data blocks
81920 -> 204539, df 256 -> 735 MiB (the internal log's 16384 blocks are not
counted).
"""
from __future__ import annotations

import re
from pathlib import Path


from labkit import loop_device, make_image, mounted, need_tools, run, wait_for


ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "disks" / "hotplug-nvme.md").read_text(encoding="utf-8")
MiB = 1 << 20


def _sizes(dev: str) -> list[int]:
    out = run(["lsblk", "-bno", "SIZE", dev]).stdout.split()
    return [int(x) for x in out]


def _df_mib(target: Path) -> int:
    return int(run(["df", "-m", "--output=size", str(target)]).stdout.split()[-1])


def test_grow_lun_partition_and_xfs_online(tmp_path):
    need_tools("sfdisk", "growpart", "mkfs.xfs", "xfs_growfs", "lsblk", "df")
    img = make_image(tmp_path / "lun.img", 400 * MiB)
    run(["sfdisk", "-q", str(img)], input="label: gpt\n,320M,L\n")
    with loop_device(img) as dev:
        part = wait_for(lambda: Path(dev + "p1").exists() and dev + "p1", what="partition node")
        run(["mkfs.xfs", "-q", "-K", part])
        with mounted(part, tmp_path / "x") as mnt:
            assert _df_mib(mnt) == 256 == (81920 - 16384) * 4096 // MiB

            with open(img, "r+b") as f:                  # the array grows the LUN to 800 MiB
                f.truncate(800 * MiB)
            assert _sizes(dev) == [400 * MiB, 320 * MiB]  # the kernel does not know yet
            run(["losetup", "-c", dev])                  # the rescan
            assert _sizes(dev) == [800 * MiB, 320 * MiB]

            grow = run(["growpart", dev, "1"])
            assert grow.stdout.strip() == ("CHANGED: partition=1 start=2048 old: size=655360 end=657407 "
                                           "new: size=1636319 end=1638366")
            assert grow.stdout.strip() in PAGE
            last = 800 * MiB // 512 - 34                 # the backup GPT takes the last 33 LBAs
            assert 1638366 == last and 1636319 == last - 2048 + 1
            assert _sizes(dev) == [800 * MiB, 1636319 * 512]

            xfs = run(["xfs_growfs", str(mnt)]).stdout
            line = re.search(r"^data blocks changed from \d+ to \d+$", xfs, re.M).group(0)
            assert line == "data blocks changed from 81920 to 204539" and line in PAGE
            assert 204539 == 1636319 * 512 // 4096
            assert _df_mib(mnt) == 735                     # (204539 - 16384) * 4 KiB, rounded up
            assert -(-(204539 - 16384) * 4096 // MiB) == 735
