"""Properties of the reader snippets/qcow2.py that need no QEMU: the format arithmetic by hand.

Expected values come from qcow2.txt (QEMU docs/interop) worked out by hand in
each test.  What qemu-img prints (info, map, check) is tested in test_qcow2_tool.py.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import qcow2


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


def test_read_outside_the_disk_names_the_range(tmp_path: Path) -> None:
    path = qcow2.make_qcow2(str(tmp_path / "s.qcow2"), 4096, {}, cluster_bits=9)
    with qcow2.open_image(path) as img:
        with pytest.raises(ValueError, match=r"offset \+ length <= virtual size 4096"):
            img.read(4000, 100)


def test_without_a_format_the_qcow2_magic_decides(tmp_path: Path) -> None:
    """The reader knows two formats: the first four bytes QFI\\xfb mean qcow2, anything else
    is raw (a file of 1000 bytes is a 1024-byte raw disk: QEMU counts whole sectors)."""
    raw = tmp_path / "plain.img"
    raw.write_bytes(b"KDMV" + bytes(996))
    with qcow2.open_image(str(raw)) as img:
        assert (img.format, img.size, img.read(0, 4)) == ("raw", 1024, b"KDMV")
    path = qcow2.make_qcow2(str(tmp_path / "q.qcow2"), 4096, {}, cluster_bits=9)
    with qcow2.open_image(path) as img:
        assert img.format == "qcow2"
