"""Twin: snippets/dfcalc.py against coreutils df, byte for byte.

`python snippets/dfcalc.py PATH...` must print exactly what
`df -B1 --output=size,used,avail,pcent,itotal,iused,iavail,ipcent PATH...`
prints, on generated filesystems: tmpfs mounts of random size and inode
count filled with random files (including a full one and one with no
free inodes), ext4 images with random reserved-block percentages and fill,
and an empty pseudo filesystem (proc, where df prints "-").
"""
from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from disks_fixtures import ext4_image
from labkit import loop_device, mounted, need_root, run

pytestmark = pytest.mark.twin

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "dfcalc.py"
DF = ["df", "-B1", "--output=size,used,avail,pcent,itotal,iused,iavail,ipcent"]


def ours(*paths: str) -> str:
    return subprocess.run([sys.executable, str(SNIPPET), *paths], check=True,
                          capture_output=True, text=True).stdout


def theirs(*paths: str) -> str:
    return run(DF + list(paths)).stdout


def fill(root: Path, rng: random.Random, files: int, max_size: int) -> None:
    for i in range(files):
        try:
            with open(root / f"f{i}", "wb") as f:
                f.write(os.urandom(rng.randint(0, max_size)))
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            break


def test_tmpfs_mounts_match_df(tmp_path):
    need_root()
    rng = random.Random(20261126)
    targets = []
    try:
        for k in range(8):
            t = tmp_path / f"t{k}"
            t.mkdir()
            size_kib = rng.choice([64, 100, 1024, 4096, 12345])
            inodes = rng.choice([8, 50, 1000, 100000])
            run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,nr_inodes={inodes}", "tmpfs", str(t)])
            targets.append(t)
            fill(t, rng, files=rng.choice([0, 3, 40, inodes + 5]), max_size=rng.choice([10, 5000, 300000]))
        paths = [str(t) for t in targets]
        assert ours(*paths) == theirs(*paths)
        for p in paths:                          # one at a time: column widths differ
            assert ours(p) == theirs(p)
    finally:
        for t in targets:
            run(["umount", str(t)], check=False)


def test_ext4_with_reserved_blocks_matches_df(tmp_path):
    need_root()
    rng = random.Random(7)
    for k, reserved_pct in enumerate([0, 1, 5, 17]):
        img = ext4_image(tmp_path / f"e{k}.img", rng.choice([16, 40, 64]) << 20,
                         "-m", str(reserved_pct), "-N", str(rng.choice([64, 512, 4096])))
        with loop_device(img, partitions=False) as dev, mounted(dev, tmp_path / f"m{k}") as mnt:
            fill(mnt, rng, files=rng.choice([5, 100, 5000]), max_size=rng.choice([100, 200000]))
            run(["sync"])
            assert ours(str(mnt)) == theirs(str(mnt))


def test_pseudo_filesystem_prints_dashes():
    expected = theirs("/proc")
    assert expected.splitlines()[1].split()[3] == "-"
    assert ours("/proc") == expected


def test_bad_path_is_an_error_not_a_traceback():
    res = subprocess.run([sys.executable, str(SNIPPET), "/no/such/dir"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "No such file or directory" in res.stderr and "Traceback" not in res.stderr
