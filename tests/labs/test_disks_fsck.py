"""Lab for docs/disks/fsck.md: e2fsck repairs a damaged ext4 image.

* zeroing the primary superblock: `e2fsck -n` reports "Bad magic number in
  super-block" and exits 8 or 4; `e2fsck -fy -b 32768 -B 4096` repairs from
  the backup (exit 1: errors corrected), and a second `e2fsck -fn` is clean;
* zeroing a directory's only block: e2fsck salvages the directory and puts
  the orphaned file into lost+found as #INODE, with its content intact;
* e2fsck refuses a mounted filesystem ("is mounted", "Cannot continue");
  xfs_repair refuses a mounted XFS and `xfs_repair -n` checks an unmounted one.
"""
from __future__ import annotations

import re


from disks_fixtures import ext4_image
from labkit import loop_device, make_image, mounted, need_tools, run



def _debugfs(img, request: str) -> str:
    return run(["debugfs", "-R", request, str(img)]).stdout


def test_backup_superblock_and_lost_found(tmp_path):
    need_tools("mkfs.ext4", "e2fsck", "debugfs", "dumpe2fs")
    img = ext4_image(tmp_path / "f.img", 256 << 20, "-b", "4096", "-L", "fscklab")
    dump = run(["dumpe2fs", str(img)]).stdout
    assert "Backup superblock at 32768" in dump       # 4 KiB blocks: 32768 blocks per group

    with loop_device(img, partitions=False) as dev, mounted(dev, tmp_path / "mnt") as mnt:
        (mnt / "dir").mkdir()
        (mnt / "dir" / "note.txt").write_text("hello\n")
    ino = int(_debugfs(img, "stat /dir/note.txt").split("Inode: ")[1].split()[0])

    # 1. the primary superblock (byte 1024..2047) zeroed
    with open(img, "r+b") as f:
        f.seek(1024)
        f.write(bytes(1024))
    check = run(["e2fsck", "-n", str(img)], check=False)
    assert "Bad magic number in super-block" in check.stdout + check.stderr
    assert check.returncode == 4                               # errors left uncorrected
    fix = run(["e2fsck", "-fy", "-b", "32768", "-B", "4096", str(img)], check=False)
    assert fix.returncode == 1, fix.stdout                      # 1 = errors corrected
    assert "***** FILE SYSTEM WAS MODIFIED *****" in fix.stdout
    assert run(["e2fsck", "-fn", str(img)], check=False).returncode == 0

    # 2. the directory's data block zeroed: its file becomes an orphan
    block = int(_debugfs(img, "blocks /dir").split()[0])
    with open(img, "r+b") as f:
        f.seek(block * 4096)
        f.write(bytes(4096))
    fix = run(["e2fsck", "-fy", str(img)], check=False)
    assert fix.returncode == 1, fix.stdout
    assert "directory corrupted" in fix.stdout
    assert f"Unattached inode {ino}" in fix.stdout
    assert "Connect to /lost+found? yes" in fix.stdout
    listing = _debugfs(img, "ls -l /lost+found")
    assert re.search(rf"^\s*{ino}\s+100644 .* #{ino}\s*$", listing, re.M), listing
    assert _debugfs(img, f"cat /lost+found/#{ino}") == "hello\n"
    assert run(["e2fsck", "-fn", str(img)], check=False).returncode == 0


def test_repair_tools_refuse_a_mounted_filesystem(tmp_path):
    need_tools("e2fsck", "mkfs.xfs", "xfs_repair")
    img = ext4_image(tmp_path / "e.img", 64 << 20)
    with loop_device(img, partitions=False) as dev, mounted(dev, tmp_path / "m1"):
        res = run(["e2fsck", "-fy", dev], check=False)
        assert res.returncode == 8
        assert f"{dev} is mounted." in res.stdout + res.stderr
        assert "Cannot continue, aborting." in res.stdout + res.stderr

    ximg = make_image(tmp_path / "x.img", 320 << 20)          # mkfs.xfs wants >= 300 MB
    run(["mkfs.xfs", "-q", "-K", str(ximg)])
    with loop_device(ximg, partitions=False) as dev:
        with mounted(dev, tmp_path / "m2"):
            res = run(["xfs_repair", "-n", dev], check=False)
            assert res.returncode != 0
            assert "contains a mounted and writable filesystem" in res.stderr
        res = run(["xfs_repair", "-n", dev], check=False)
        assert res.returncode == 0, res.stderr
        assert "No modify flag set, skipping filesystem flush and exiting." in res.stderr
