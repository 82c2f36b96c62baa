"""snippets/qcow2_tool.py and the reader snippets/qcow2.py on images made to hurt a reader:
cost, memory, and files the image names.

Images are built with make_qcow2 (layout: 0 header, 1 refcount table, 2 refcount
block, 3 L1, then L2 tables and data) and patched; the expected values are worked
out by hand in each test.  tests/twins/test_qcow2_tool_qemu_img_unusual.py runs the same
shapes against qemu-img.
"""
from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qcow2
import qcow2_tool

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "qcow2_tool.py"
CS = 65536


def script(*args: str, cwd: Path | None = None, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return subprocess.run([sys.executable, str(SNIPPET), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, preexec_fn=limit)


def test_snapshot_option_on_a_raw_image_is_a_clear_error(tmp_path: Path) -> None:
    raw = tmp_path / "r.raw"
    raw.write_bytes(bytes(4096))
    proc = script("read", str(raw), "0", "16", "--snapshot", "x")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr == ("qcow2_tool.py: --snapshot 'x': a raw image has no internal snapshots "
                           "(accepted: a qcow2 image)\n")


def test_map_of_an_empty_1_tib_image_is_one_entry_and_quick(tmp_path: Path) -> None:
    """1 TiB / (64 KiB x 8192 per L2 table) = 2048 L1 entries, all 0: one run each, merged into
    one entry (qemu-img 7.2 prints the same line).  Walking it cluster by cluster took 86 s."""
    path = qcow2.make_qcow2(str(tmp_path / "big.qcow2"), 1 << 40, {})
    start = time.process_time()
    with qcow2.open_image(path) as img:
        assert len(img.l1) == 2048
        assert qcow2_tool.map_json(img) == ('[{ "start": 0, "length": 1099511627776, "depth": 0, '
                                       '"present": false, "zero": true, "data": false}]')
    assert time.process_time() - start < 5


def test_map_runs_stop_at_a_gap_in_the_host_offsets(tmp_path: Path) -> None:
    """Guest clusters 0, 1, 2 written in that order are host clusters 5, 6, 7 (contiguous: one
    entry); guest cluster 4 is host 8, right after 7, but guest 3 lies between: a new entry."""
    path = qcow2.make_qcow2(str(tmp_path / "m.qcow2"), 1 << 20, {0: b"a", 1: b"b", 2: b"c", 4: b"e"})
    with qcow2.open_image(path) as img:
        entries = [(e.start // CS, e.length // CS, e.data, e.offset) for e in qcow2_tool.image_map(img)]
    assert entries == [(0, 3, True, 5 * CS), (3, 1, False, None), (4, 1, True, 8 * CS),
                       (5, 11, False, None)]


def four_thousand_l1_entries(tmp_path: Path) -> str:
    """A 2 TiB disk (4096 L1 entries) with one written cluster, every L1 entry then pointed at
    the one L2 table (cluster 4), whose entry 0 points at the data cluster 5."""
    path = qcow2.make_qcow2(str(tmp_path / "h.qcow2"), 2 << 40, {0: b"x"})
    with open(path, "r+b") as f:
        f.seek(3 * CS)
        f.write(struct.pack(">Q", qcow2.L2_COPIED | 4 * CS) * 4096)
    return path


def test_check_counts_a_shared_l2_table_once_per_reference(tmp_path: Path) -> None:
    """4096 references to the L2 table and, through it, 4096 to the data cluster; both are
    stored with refcount 1.  Each table is read once (the walk used to repeat 4096 x 8192
    entries), the counts are those of walking it 4096 times."""
    path = four_thousand_l1_entries(tmp_path)
    start = time.process_time()
    with qcow2.open_image(path) as img:
        res = qcow2_tool.check(img)
    assert time.process_time() - start < 10
    assert res.messages == ["ERROR cluster 4 refcount=1 reference=4096",
                            "ERROR cluster 5 refcount=1 reference=4096"]
    # every active L1 entry is walked for the statistics: 4096 x 1 allocated cluster
    assert (res.corruptions, res.allocated_clusters, res.exit_status) == (2, 4096, 2)
    assert res.image_end_offset == 6 * CS


def test_map_and_read_of_the_shared_l2_table_image(tmp_path: Path) -> None:
    """Every 512 MiB of the disk starts with the same data cluster: 4096 data entries."""
    path = four_thousand_l1_entries(tmp_path)
    with qcow2.open_image(path) as img:
        entries = qcow2_tool.image_map(img)
        assert img.read(3 * (512 << 20), 1) == b"x"
    data = [e for e in entries if e.data]
    assert len(data) == 4096 and {(e.length, e.offset) for e in data} == {(CS, 5 * CS)}


def test_read_of_16_mib_streams_the_dump(tmp_path: Path) -> None:
    """16 MiB make 1 Mi dump lines (80 MiB of text): the dump used to be built whole and ran
    out of memory under a 200 MiB address-space limit.  Streamed, it comes out line for line."""
    path = qcow2.make_qcow2(str(tmp_path / "d.qcow2"), 64 << 20, {0: b"first", 255: b"last"})
    proc = script("read", path, "0", "16M", limit_bytes=200 << 20)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == (16 << 20) // 16 + 1
    assert lines[0] == "00000000:  66 69 72 73 74 00 00 00 00 00 00 00 00 00 00 00  first..........."
    assert lines[(255 * CS) // 16] == ("00ff0000:  6c 61 73 74 00 00 00 00 00 00 00 00 00 00 00 00  "
                                       "last............")
    assert lines[-1] == "read 16777216/16777216 bytes at offset 0"


def test_read_longer_than_qemu_io_accepts_is_refused(tmp_path: Path) -> None:
    """qemu-io 7.2: "length cannot exceed 2147483136, given 3G" (BDRV_REQUEST_MAX_BYTES)."""
    path = qcow2.make_qcow2(str(tmp_path / "l.qcow2"), 4 << 30, {})
    proc = script("read", path, "0", "3G")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("qcow2_tool.py: length cannot exceed 2147483136, given 3G")


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_a_backing_file_outside_the_image_directory_is_not_followed(tmp_path: Path, where: str) -> None:
    """The image names /etc/passwd-like files three ways; read and map refuse, info still
    prints the name (qemu-img info does not open backing files either)."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    sub = tmp_path / "images"
    sub.mkdir()
    name = {"absolute": str(secret), "dotdot": "../secret.txt", "symlink": "link.raw"}[where]
    if where == "symlink":
        (sub / "link.raw").symlink_to(secret)
    img = qcow2.make_qcow2(str(sub / "evil.qcow2"), 1 << 20, {}, backing=name, backing_format="raw")
    for args in (["read", img, "0", "16"], ["map", img]):
        proc = script(*args)
        assert proc.returncode == 2 and proc.stdout == "", proc.stdout
        assert f"backing file '{qcow2.path_combine(img, name)}' named inside the image lies " \
               f"outside the image's directory {sub}" in proc.stderr
    assert script(img).returncode == 0                      # info names it without opening it
    proc = script("read", "--allow-backing", img, "0", "4")
    assert proc.returncode == 0 and proc.stdout.startswith("00000000:  72 6f 6f 74  root")
    with pytest.raises(ValueError, match="lies outside the image's directory"):
        qcow2.open_image(img)
    with qcow2.open_image(img, allow_backing=True) as opened:
        assert opened.read(0, 4) == b"root"


def test_a_backing_file_next_to_the_image_is_followed(tmp_path: Path) -> None:
    base = qcow2.make_qcow2(str(tmp_path / "base.qcow2"), 1 << 20, {0: b"base"})
    top = qcow2.make_qcow2(str(tmp_path / "top.qcow2"), 1 << 20, {}, backing="base.qcow2",
                           backing_format="qcow2")
    assert os.path.exists(base)
    proc = script("read", top, "0", "4")
    assert proc.returncode == 0 and proc.stdout.startswith("00000000:  62 61 73 65  base")


def test_a_device_named_as_backing_file_is_refused_even_when_allowed(tmp_path: Path) -> None:
    img = qcow2.make_qcow2(str(tmp_path / "dev.qcow2"), 1 << 20, {}, backing="/dev/zero",
                           backing_format="raw")
    proc = script("read", "--allow-backing", img, "0", "4")
    assert proc.returncode == 2
    assert proc.stderr == ("qcow2_tool.py: refusing /dev/zero: examples work on image files or loop "
                           "devices only, not on a real disk\n")
