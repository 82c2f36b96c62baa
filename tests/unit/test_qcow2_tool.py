"""What snippets/qcow2_tool.py prints, on images built by hand: info's JSON, map, check, the
hex dump of read, the command line's errors.

Expected values are worked out by hand in each test (make_qcow2's layout: 0 header,
1 refcount table, 2 refcount block, 3 L1, then L2 tables and data), or are outputs of
qemu-img 7.2 quoted where they are used.  tests/twins/test_qcow2_tool_qemu_img*.py
compare the same functions with QEMU itself.
"""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

import qcow2
import qcow2_tool

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "qcow2_tool.py"


def test_json_key_order_is_qemu_img_7_2s() -> None:
    # the order qemu-img 7.2 printed for an overlay with one snapshot
    keys = ["backing-filename-format", "snapshots", "virtual-size", "filename", "cluster-size",
            "format", "actual-size", "format-specific", "full-backing-filename",
            "backing-filename", "dirty-flag"]
    assert sorted(keys, key=qcow2_tool.qdict_bucket) == keys
    snap = ["icount", "vm-clock-nsec", "name", "date-sec", "date-nsec", "vm-clock-sec", "id",
            "vm-state-size"]
    assert sorted(snap, key=qcow2_tool.qdict_bucket) == snap


def test_json_strings_escape_like_qemu_json_writer() -> None:
    assert qcow2_tool._quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert qcow2_tool._quote("bäse") == '"b\\u00E4se"'            # capitals, not json's \\u00e4
    assert qcow2_tool._quote("\x7f☃") == '"\\u007F\\u2603"'
    assert qcow2_tool._quote("😀") == '"\\uD83D\\uDE00"'            # a surrogate pair
    assert qcow2_tool.qemu_json({"flags": []}) == '{\n    "flags": [\n    ]\n}'


def test_hexdump_prints_only_letters_and_digits() -> None:
    data = bytes(range(0x2e, 0x2e + 20))
    assert qcow2_tool.hexdump(data, 1 << 32).splitlines() == [
        "100000000:  2e 2f 30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d  ..0123456789....",
        "100000010:  3e 3f 40 41  ...A",
    ]


@pytest.mark.parametrize("args, message", [
    (["read", "{img}", "0", "lots"], "bad size 'lots'"),
    (["read", "{img}", "8000", "1000"], "outside the disk"),
    (["{dir}/missing.qcow2"], "No such file"),
    (["/dev/sda"], "refusing /dev/sda"),
])
def test_cli_errors_exit_2_without_traceback(tmp_path: Path, args: list, message: str) -> None:
    img = qcow2.make_qcow2(str(tmp_path / "e.qcow2"), 4096, {}, cluster_bits=9)
    argv = [a.format(img=img, dir=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, str(SNIPPET), *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_cli_read_prints_the_dump_and_the_summary_line(tmp_path: Path) -> None:
    img = qcow2.make_qcow2(str(tmp_path / "d.qcow2"), 4096, {0: b"Hi!"}, cluster_bits=9)
    proc = subprocess.run([sys.executable, str(SNIPPET), "read", img, "0", "4"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == "00000000:  48 69 21 00  Hi..\nread 4/4 bytes at offset 0\n"


def test_check_finds_a_leak_and_a_wrong_copied_flag_by_hand(tmp_path: Path) -> None:
    """make_qcow2 layout: 0 header, 1 refcount table, 2 refcount block, 3 L1, 4 L2, 5 data."""
    path = qcow2.make_qcow2(str(tmp_path / "k.qcow2"), 1 << 20, {0: b"x"})
    with qcow2.open_image(path) as img:
        clean = qcow2_tool.check(img)
    assert clean.messages == [] and clean.exit_status == 0
    assert clean.image_end_offset == 6 * 65536 and clean.allocated_clusters == 1
    with open(path, "r+b") as f:            # data cluster 5: refcount 1 -> 0 (a lost update)
        f.seek(2 * 65536 + 5 * 2)
        f.write(struct.pack(">H", 0))
        f.seek(2 * 65536 + 9 * 2)           # cluster 9, past the end of the file: not checked
        f.write(struct.pack(">H", 7))
    with qcow2.open_image(path) as img:
        broken = qcow2_tool.check(img)
    assert broken.messages == [
        "ERROR cluster 5 refcount=0 reference=1",
        "ERROR OFLAG_COPIED data cluster: l2_entry=8000000000050000 refcount=0"]
    assert (broken.corruptions, broken.leaks, broken.exit_status) == (2, 0, 2)
    assert broken.report().startswith("\n2 errors were found on the image.\n")


def test_map_of_a_hand_built_image(tmp_path: Path) -> None:
    """Cluster 1 written (host cluster 5 = 327680), the rest unallocated and without backing."""
    path = qcow2.make_qcow2(str(tmp_path / "m.qcow2"), 1 << 20, {1: b"d"})
    with qcow2.open_image(path) as img:
        assert qcow2_tool.map_json(img).splitlines() == [
            '[{ "start": 0, "length": 65536, "depth": 0, "present": false, "zero": true, "data": false},',
            '{ "start": 65536, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": 327680},',
            '{ "start": 131072, "length": 917504, "depth": 0, "present": false, "zero": true, "data": false}]']


def test_a_backing_file_without_a_recorded_format_is_probed_like_qemu(tmp_path: Path) -> None:
    """The reader reads a backing file that lacks the qcow2 magic as raw; qemu-img probes it and
    would open a file starting with b"KDMV" as VMDK, so the tool names that format and refuses."""
    (tmp_path / "base.img").write_bytes(b"KDMV" + bytes(4092))
    top = qcow2.make_qcow2(str(tmp_path / "top.qcow2"), 4096, {}, cluster_bits=9, backing="base.img")
    with qcow2.open_image(top) as img:
        assert img.backing.format == "raw" and img.read(0, 4) == b"KDMV"
    with pytest.raises(ValueError, match=r"base.img is a vmdk image \(qemu-img info reports "
                                         r"\"format\": \"vmdk\"\)"):
        qcow2_tool.open_image(top)
    with qcow2_tool.open_image(top, open_backing=False) as img:     # info opens no backing file
        assert qcow2_tool.image_info(img)["backing-filename"] == "base.img"


def test_info_of_a_raw_file_counts_whole_sectors(tmp_path: Path) -> None:
    """qemu-img info of a 1000-byte raw file: "virtual-size": 1024 (two 512-byte sectors)."""
    (tmp_path / "r.img").write_bytes(b"x" * 1000)
    with qcow2_tool.open_image(str(tmp_path / "r.img")) as img:
        info = qcow2_tool.image_info(img)
    assert (info["format"], info["virtual-size"], info["dirty-flag"]) == ("raw", 1024, False)
