"""Properties of snippets/qcow2.py that need no QEMU: the format arithmetic by hand.

Expected values come from qcow2.txt (QEMU docs/interop) worked out by hand in
each test, or from outputs of qemu-img 7.2 quoted where they are used.
"""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import qcow2

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "qcow2.py"


def header_bytes(**over: int) -> bytes:
    """A v3 header with sane defaults; keyword arguments override fields."""
    f = dict(version=3, backing_file_offset=0, backing_file_size=0, cluster_bits=16,
             size=1 << 30, crypt_method=0, l1_size=2, l1_table_offset=0x30000,
             refcount_table_offset=0x10000, refcount_table_clusters=1, nb_snapshots=0,
             snapshots_offset=0, incompatible=0, compatible=0, autoclear=0,
             refcount_order=4, header_length=112)
    f.update(over)
    return (qcow2.QCOW_MAGIC + struct.pack(
        ">IQIIQIIQQIIQQQQII", f["version"], f["backing_file_offset"], f["backing_file_size"],
        f["cluster_bits"], f["size"], f["crypt_method"], f["l1_size"], f["l1_table_offset"],
        f["refcount_table_offset"], f["refcount_table_clusters"], f["nb_snapshots"],
        f["snapshots_offset"], f["incompatible"], f["compatible"], f["autoclear"],
        f["refcount_order"], f["header_length"]) + bytes(8))


def test_header_fields_decode_at_the_offsets_of_the_spec() -> None:
    h = qcow2.parse_header(header_bytes(cluster_bits=12, size=10 << 20, refcount_order=6))
    assert (h.version, h.cluster_size, h.size, h.refcount_bits) == (3, 4096, 10 << 20, 64)
    assert (h.l1_table_offset, h.refcount_table_offset, h.header_length) == (0x30000, 0x10000, 112)


@pytest.mark.parametrize("over, message", [
    (dict(version=1), "unsupported qcow2 version 1 (accepted: 2 or 3)"),
    (dict(cluster_bits=8), "cluster_bits 8 out of range (accepted: 9 to 21"),
    (dict(cluster_bits=22), "cluster_bits 22 out of range"),
    (dict(refcount_order=7), "refcount_order 7 out of range (accepted: 0 to 6"),
    (dict(incompatible=qcow2.INCOMPAT_EXTL2, cluster_bits=13), "extended L2 entries need cluster_bits >= 14"),
    (dict(header_length=100), "header_length 100 must be >= 104"),
    (dict(incompatible=qcow2.INCOMPAT_COMPRESSION), "compression type bit and compression_type field disagree"),
])
def test_bad_headers_are_refused_with_the_accepted_range(over: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        qcow2.parse_header(header_bytes(**over))


def test_v2_header_is_72_bytes_and_implies_16_bit_refcounts() -> None:
    h = qcow2.parse_header(header_bytes(version=2)[:72])
    assert h.header_length == 72 and h.refcount_bits == 16 and h.incompatible_features == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bits=st.integers(9, 14), n=st.integers(1, 300), data=st.data())
def test_written_clusters_read_back_and_the_rest_reads_as_zeros(tmp_path: Path, bits: int,
                                                               n: int, data) -> None:
    cs = 1 << bits
    size = n * cs - data.draw(st.sampled_from([0, 0, 512]))
    size = max(size, 512)
    n_guest = -(-size // cs)
    clusters = data.draw(st.dictionaries(st.integers(0, n_guest - 1),
                                         st.binary(min_size=1, max_size=cs), max_size=6))
    path = qcow2.make_qcow2(str(tmp_path / "p.qcow2"), size, clusters, cluster_bits=bits)
    expected = bytearray(size)
    for idx, blob in clusters.items():
        expected[idx * cs:idx * cs + len(blob)] = blob[:max(0, size - idx * cs)]
    with qcow2.open_image(path) as img:
        assert img.read(0, size) == bytes(expected)
        off = data.draw(st.integers(0, size - 1))
        ln = data.draw(st.integers(0, size - off))
        assert img.read(off, ln) == bytes(expected[off:off + ln])
        for idx in clusters:
            assert img.locate(idx * cs).kind == "data"
            assert img.refcount(img.locate(idx * cs).host_offset) == 1


def test_overlay_falls_through_to_a_smaller_backing_file(tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    base.write_bytes(b"B" * 1000)                    # 1000 bytes: QEMU sees 1024 (two sectors)
    top = qcow2.make_qcow2(str(tmp_path / "top.qcow2"), 4096, {1: b"T" * 512},
                           cluster_bits=9, backing="base.raw", backing_format="raw")
    with qcow2.open_image(top) as img:
        assert img.backing.size == 1024
        got = img.read(0, 2048)
    # cluster 0 from the base, cluster 1 our own, then base bytes up to 1000,
    # the base's sector padding (zeros) and nothing past the base: zeros
    assert got[:512] == b"B" * 512
    assert got[512:1024] == b"T" * 512
    assert got[1024:] == bytes(1024)


def test_a_backing_loop_is_refused_not_followed_forever(tmp_path: Path) -> None:
    loop = str(tmp_path / "loop.qcow2")
    qcow2.make_qcow2(loop, 4096, {}, cluster_bits=9, backing="loop.qcow2", backing_format="qcow2")
    with pytest.raises(ValueError, match="backing chain longer than 32"):
        qcow2.open_image(loop)


def test_deflate_compressed_cluster_with_descriptor_built_by_hand(tmp_path: Path) -> None:
    """cluster_bits 16: x = 62 - (16 - 8) = 54 offset bits, then (sectors - 1) above them."""
    path = qcow2.make_qcow2(str(tmp_path / "c.qcow2"), 1 << 20, {0: b"", 1: b""})
    cluster = (b"qcow2 " * 20000)[:65536]
    co = zlib.compressobj(9, zlib.DEFLATED, -12)       # raw deflate, as QEMU writes it
    packed = co.compress(cluster) + co.flush()
    with qcow2.open_image(path) as img:
        l2 = img.l1[0] & qcow2.OFFSET_MASK
        spare = img.locate(65536).host_offset            # put the stream in cluster 1's space
    host = spare + 100                                   # deliberately not sector aligned
    sectors = -(-(100 + len(packed)) // 512)             # 512-byte sectors touched from `spare`
    desc = qcow2.L2_COMPRESSED | ((sectors - 1) << 54) | host
    with open(path, "r+b") as f:
        f.seek(host)
        f.write(packed)
        f.seek(l2)
        f.write(struct.pack(">Q", desc))
    with qcow2.open_image(path) as img:
        assert img.locate(0).kind == "compressed"
        assert img.read(0, 65536) == cluster
        assert img.read(65530, 6) == cluster[65530:]


@pytest.mark.parametrize("bits, index, raw, expected", [
    # 4-bit refcounts: entry 3 is the high nibble of byte 1 (bit 0 = least significant)
    (4, 3, bytes([0x00, 0x70]), 7),
    (4, 2, bytes([0x00, 0x07]), 7),
    # 1-bit refcounts: entry 9 is bit 1 of byte 1
    (1, 9, bytes([0x00, 0x02]), 1),
    # 2-bit refcounts: entry 5 is bits 2-3 of byte 1
    (2, 5, bytes([0x00, 0b1100]), 3),
    # 32-bit: big endian, entry 1 at bytes 4-7
    (32, 1, bytes([0, 0, 0, 0, 0, 0, 1, 2]), 258),
])
def test_refcount_entries_are_packed_as_the_spec_says(tmp_path: Path, bits: int, index: int,
                                                      raw: bytes, expected: int) -> None:
    path = qcow2.make_qcow2(str(tmp_path / "r.qcow2"), 65536, {}, cluster_bits=12)
    with open(path, "r+b") as f:                     # rewrite refcount_order and the block
        f.seek(96)
        f.write(struct.pack(">I", bits.bit_length() - 1))
        f.seek(2 * 4096)
        f.write(raw + bytes(4096 - len(raw)))
    with qcow2.open_image(path) as img:
        assert img.header.refcount_bits == bits
        assert img.refcount(index * 4096) == expected


def test_json_key_order_is_qemu_img_7_2s() -> None:
    # the order qemu-img 7.2 printed for an overlay with one snapshot
    keys = ["backing-filename-format", "snapshots", "virtual-size", "filename", "cluster-size",
            "format", "actual-size", "format-specific", "full-backing-filename",
            "backing-filename", "dirty-flag"]
    assert sorted(keys, key=qcow2.qdict_bucket) == keys
    snap = ["icount", "vm-clock-nsec", "name", "date-sec", "date-nsec", "vm-clock-sec", "id",
            "vm-state-size"]
    assert sorted(snap, key=qcow2.qdict_bucket) == snap


def test_json_strings_escape_like_qemu_json_writer() -> None:
    assert qcow2._quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert qcow2._quote("bäse") == '"b\\u00E4se"'            # capitals, not json's \\u00e4
    assert qcow2._quote("\x7f☃") == '"\\u007F\\u2603"'
    assert qcow2._quote("😀") == '"\\uD83D\\uDE00"'            # a surrogate pair
    assert qcow2.qemu_json({"flags": []}) == '{\n    "flags": [\n    ]\n}'


def test_hexdump_prints_only_letters_and_digits() -> None:
    data = bytes(range(0x2e, 0x2e + 20))
    assert qcow2.hexdump(data, 1 << 32).splitlines() == [
        "100000000:  2e 2f 30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d  ..0123456789....",
        "100000010:  3e 3f 40 41  ...A",
    ]


def test_read_outside_the_disk_names_the_range(tmp_path: Path) -> None:
    path = qcow2.make_qcow2(str(tmp_path / "s.qcow2"), 4096, {}, cluster_bits=9)
    with qcow2.open_image(path) as img:
        with pytest.raises(ValueError, match=r"offset \+ length <= virtual size 4096"):
            img.read(4000, 100)


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
        clean = img.check()
    assert clean.messages == [] and clean.exit_status == 0
    assert clean.image_end_offset == 6 * 65536 and clean.allocated_clusters == 1
    with open(path, "r+b") as f:            # data cluster 5: refcount 1 -> 0 (a lost update)
        f.seek(2 * 65536 + 5 * 2)
        f.write(struct.pack(">H", 0))
        f.seek(2 * 65536 + 9 * 2)           # cluster 9, past the end of the file: not checked
        f.write(struct.pack(">H", 7))
    with qcow2.open_image(path) as img:
        broken = img.check()
    assert broken.messages == [
        "ERROR cluster 5 refcount=0 reference=1",
        "ERROR OFLAG_COPIED data cluster: l2_entry=8000000000050000 refcount=0"]
    assert (broken.corruptions, broken.leaks, broken.exit_status) == (2, 0, 2)
    assert broken.report().startswith("\n2 errors were found on the image.\n")


def test_map_of_a_hand_built_image(tmp_path: Path) -> None:
    """Cluster 1 written (host cluster 5 = 327680), the rest unallocated and without backing."""
    path = qcow2.make_qcow2(str(tmp_path / "m.qcow2"), 1 << 20, {1: b"d"})
    with qcow2.open_image(path) as img:
        assert qcow2.map_json(img).splitlines() == [
            '[{ "start": 0, "length": 65536, "depth": 0, "present": false, "zero": true, "data": false},',
            '{ "start": 65536, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": 327680},',
            '{ "start": 131072, "length": 917504, "depth": 0, "present": false, "zero": true, "data": false}]']
