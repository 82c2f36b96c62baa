"""Lab for docs/disks/usage.md: inode exhaustion and sparse files on a real ext4.

* an ext4 made with `mkfs.ext4 -N 64` accepts exactly as many new files as
  `df -i` shows free inodes (IFree), then fails with "No space left on
  device" while `df` still shows almost all blocks free; snippets/dfcalc.py
  predicts the count;
* a 1 GiB file made with truncate has st_size 1 GiB and no blocks: `ls -l`
  shows 1073741824, `du` shows 0, `du --apparent-size` 1.0G.
"""
from __future__ import annotations

import errno
import os

import pytest

import dfcalc
from disks_fixtures import ext4_image
from labkit import loop_device, mounted, need_tools, run



def test_inode_exhaustion_with_free_blocks(tmp_path):
    need_tools("mkfs.ext4", "df")
    img = ext4_image(tmp_path / "i.img", 16 << 20, "-N", "64")
    with loop_device(img, partitions=False) as dev, mounted(dev, tmp_path / "mnt") as mnt:
        before = dfcalc.figures_of(str(mnt))
        assert before.itotal == 64 and before.iused == 11       # inodes 1-10 are reserved (root is 2), 11 is lost+found
        s = os.statvfs(mnt)
        predicted = dfcalc.fill_small_files(s.f_ffree, s.f_bavail, s.f_frsize, 0)
        assert predicted.stopped_by == "inodes"
        created = 0
        with pytest.raises(OSError) as exc:
            while True:
                open(mnt / f"f{created}", "x").close()
                created += 1
        assert exc.value.errno == errno.ENOSPC
        assert created == before.iavail == predicted.files == 53
        after = dfcalc.figures_of(str(mnt))
        assert (after.iavail, after.iuse_pct) == (0, 100)
        assert after.use_pct == 1 and after.avail > 0.9 * (after.used + after.avail)
        inodes = run(["df", "-i", str(mnt)]).stdout.splitlines()[1].split()
        assert inodes[1:5] == ["64", "64", "0", "100%"]
        touch = run(["touch", str(mnt / "one-more")], check=False)
        assert "No space left on device" in touch.stderr


def test_sparse_file_ls_versus_du(tmp_path):
    p = tmp_path / "sp.img"
    run(["truncate", "-s", "1G", str(p)])
    assert run(["ls", "-l", str(p)]).stdout.split()[4] == "1073741824"
    assert run(["du", "-B1", str(p)]).stdout.split()[0] == "0"
    assert run(["du", "-h", "--apparent-size", str(p)]).stdout.split()[0] == "1.0G"
    assert dfcalc.apparent_and_allocated(str(p)) == (1 << 30, 0)
    with open(p, "r+b") as f:                        # one written 4 KiB block
        f.seek(512 << 20)
        f.write(b"x" * 4096)
    apparent, allocated = dfcalc.apparent_and_allocated(str(p))
    assert apparent == 1 << 30 and 4096 <= allocated <= 64 << 10
