"""Properties of snippets/partition_table.py: round trips, CRC detection, clear errors on bad images.

Expected values are hand calculations written here or structure sizes from
the UEFI specification (header 92 bytes, entries 128 bytes, MBR entry 16
bytes at offset 446); sfdisk itself is the oracle in tests/twins/.
"""
from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "snippets"))

import partition_table as pt  # noqa: E402

SCRIPT = ROOT / "snippets" / "partition_table.py"
MIB = 1024 * 1024


def blank(size: int = 8 * MIB) -> io.BytesIO:
    return io.BytesIO(bytes(size))


@st.composite
def gpt_layouts(draw):
    """Non-overlapping partitions inside LBA 34..16349 of an 8 MiB disk (16384 sectors)."""
    cuts = sorted(draw(st.sets(st.integers(34, 16349), min_size=0, max_size=16)))
    parts = []
    slots = draw(st.permutations(range(1, 129)))
    for i, (a, b) in enumerate(zip(cuts[::2], cuts[1::2])):
        parts.append(pt.Partition(slots[i], a, b - a + 1,
                                  str(draw(st.uuids())).upper(), uuid=str(draw(st.uuids())).upper(),
                                  name=draw(st.text(st.characters(min_codepoint=1, max_codepoint=0xFFFF,
                                                                  blacklist_categories=("Cs",)),
                                                    max_size=36)),
                                  attrs=draw(st.integers(0, 2 ** 64 - 1))))
    return parts


@settings(max_examples=60, deadline=None)
@given(gpt_layouts())
def test_gpt_write_then_read_returns_the_same_partitions(parts):
    disk = blank()
    pt.write_gpt(disk, parts, disk_guid="00000000-0000-4000-8000-000000000001")
    t = pt.read_table(disk)
    assert t.copies == {"primary": "ok", "backup": "ok"}
    assert (t.first_lba, t.last_lba) == (34, 16384 - 34)       # 2 + 32 array sectors; last - 33
    got = {p.node_number: (p.start, p.size, p.type, p.uuid, p.name, p.attrs) for p in t.partitions}
    want = {p.node_number: (p.start, p.size, p.type, p.uuid, p.name, p.attrs) for p in parts}
    assert got == want


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 91), st.integers(1, 255))
def test_any_damaged_primary_header_byte_is_detected_and_backup_used(pos, xor):
    disk = blank()
    pt.write_gpt(disk, [pt.Partition(1, 2048, 2048, pt.LINUX_FS)])
    raw = bytearray(disk.getvalue())
    raw[512 + pos] ^= xor
    t = pt.read_table(io.BytesIO(bytes(raw)))
    assert t.copies["primary"] != "ok" and t.copies["backup"] == "ok"
    assert [(p.start, p.size) for p in t.partitions] == [(2048, 2048)]


def test_header_crc_is_crc32_with_the_crc_field_zeroed():
    disk = blank()
    pt.write_gpt(disk, [])
    sector = disk.getvalue()[512:1024]
    stored = struct.unpack_from("<I", sector, 16)[0]
    assert stored == zlib.crc32(sector[:16] + bytes(4) + sector[20:92])


def test_repair_rebuilds_the_primary_from_the_backup_byte_for_byte():
    disk = blank()
    pt.write_gpt(disk, [pt.Partition(3, 100, 50, pt.EFI_SYSTEM, name="ESP")],
                 disk_guid="11111111-2222-4333-8444-555555555555")
    good = disk.getvalue()
    disk.seek(512)
    disk.write(bytes(512 * 33))                  # wipe primary header and its array
    assert pt.read_table(disk).copies["primary"].startswith("no 'EFI PART' signature")
    assert "rewrote the primary GPT copy" in pt.repair_gpt(disk)
    assert disk.getvalue() == good
    assert pt.repair_gpt(disk) == "both GPT copies are valid, nothing to repair"


def test_repair_rebuilds_the_backup_from_the_primary_byte_for_byte():
    disk = blank()
    pt.write_gpt(disk, [pt.Partition(1, 2048, 8, pt.LINUX_FS, attrs=1)])
    good = disk.getvalue()
    disk.seek(8 * MIB - 512)
    disk.write(b"garbage")
    assert pt.read_table(disk).copies["backup"].startswith("no 'EFI PART'")
    pt.repair_gpt(disk)
    assert disk.getvalue() == good


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 8), st.booleans(), st.sampled_from([0x83, 0x82, 0x07, 0x0B])),
                min_size=0, max_size=8))
def test_mbr_with_logical_partitions_round_trips(logicals):
    """Primary 1 (1 MiB at 2048), extended 2 over the rest; logicals of 1-8 MiB."""
    disk = blank(80 * MIB)
    parts = [pt.Partition(1, 2048, 2048, "83", bootable=True), pt.Partition(2, 4096, 80 * 2048 - 4096, "5")]
    start = 4096 + 2048
    for n, (mib, boot, ptype) in enumerate(logicals, start=5):
        parts.append(pt.Partition(n, start, mib * 2048, f"{ptype:x}", bootable=boot))
        start += mib * 2048 + 2048
    pt.write_mbr(disk, parts, disk_id=0xDEADBEEF)
    t = pt.read_table(disk)
    assert t.label == "dos" and t.id == "0xdeadbeef"
    assert [(p.node_number, p.start, p.size, p.type, p.bootable) for p in t.partitions] == \
        [(p.node_number, p.start, p.size, p.type, p.bootable) for p in parts]


def test_mbr_layout_offsets_from_the_specification():
    disk = blank(MIB)
    pt.write_mbr(disk, [pt.Partition(4, 2048, 10, "83", bootable=True)], disk_id=0x01020304)
    raw = disk.getvalue()
    assert raw[440:444] == b"\x04\x03\x02\x01"          # disk id, little endian
    entry = raw[446 + 3 * 16: 446 + 4 * 16]             # the 4th 16-byte entry
    assert entry[0] == 0x80 and entry[4] == 0x83
    assert struct.unpack("<II", entry[8:16]) == (2048, 10)
    assert raw[510:512] == b"\x55\xaa"


# ---------------------------------------------------------------- bad images
def test_too_small_image_is_refused():
    with pytest.raises(ValueError, match="too small: an MBR needs 512 bytes"):
        pt.read_table(io.BytesIO(bytes(100)))


def test_missing_signature_is_refused():
    with pytest.raises(ValueError, match="MBR signature at byte 510 is 0x0000"):
        pt.read_table(blank(MIB))


def test_truncated_mbr_image_is_refused():
    disk = blank(4 * MIB)
    pt.write_mbr(disk, [pt.Partition(1, 2048, 4096, "83")])
    assert pt.read_table(disk).partitions[0].end == 6143
    with pytest.raises(ValueError, match=r"partition 1 \(LBA 2048..6143\) lies outside the image "
                                         r"0..4095: truncated image"):
        pt.read_table(io.BytesIO(disk.getvalue()[:2 * MIB]))


def test_truncated_gpt_image_loses_both_copies():
    disk = blank()
    pt.write_gpt(disk, [pt.Partition(1, 2048, 2048, pt.LINUX_FS)])
    with pytest.raises(ValueError, match="both GPT copies are damaged"):
        pt.read_table(io.BytesIO(disk.getvalue()[:4 * MIB]))


@pytest.mark.parametrize("label", ["gpt", "dos"])
def test_overlapping_partitions_are_refused(label):
    disk = blank()
    parts = [pt.Partition(1, 2048, 2048, "83"), pt.Partition(2, 4000, 100, "83")]
    if label == "gpt":
        for p in parts:
            p.type = pt.LINUX_FS
        pt.write_gpt(disk, parts)
    else:
        pt.write_mbr(disk, parts)
    with pytest.raises(ValueError, match=r"partitions 1 \(LBA 2048..4095\) and 2 \(LBA 4000..4099\) overlap"):
        pt.read_table(disk)


def test_primary_overlapping_the_extended_container_is_refused():
    disk = blank(16 * MIB)
    pt.write_mbr(disk, [pt.Partition(1, 2048, 8192, "5"), pt.Partition(2, 8192, 4096, "83")])
    with pytest.raises(ValueError, match=r"partitions 1 \(LBA 2048..10239\) and 2 \(LBA 8192..12287\) overlap"):
        pt.read_table(disk)


def _rewrite_header(raw: bytearray, lba: int, **fields) -> None:
    h = pt.parse_gpt_header(bytes(raw[lba * 512:(lba + 1) * 512]))
    h.update(fields)
    raw[lba * 512:(lba + 1) * 512] = pt._gpt_header_bytes(h, 512)


def test_entry_count_beyond_the_array_is_refused():
    disk = blank()
    pt.write_gpt(disk, [])
    raw = bytearray(disk.getvalue())
    # 1000 entries x 128 B = 250 sectors from LBA 2: runs into the usable area from LBA 34
    array = bytes(raw[1024:1024 + 1000 * 128])
    for lba in (1, 16383):
        _rewrite_header(raw, lba, entries=1000, entries_crc=zlib.crc32(array))
    with pytest.raises(ValueError, match=r"entry count 1000 is beyond the array: entries at LBA 2..251 "
                                         r"overlap the usable area 34..16350"):
        pt.read_table(io.BytesIO(bytes(raw)))


def test_loop_in_the_ebr_chain_is_refused():
    disk = blank(16 * MIB)
    pt.write_mbr(disk, [pt.Partition(1, 2048, 30000, "5"), pt.Partition(5, 4096, 100, "83"),
                        pt.Partition(6, 8192, 100, "83")])
    raw = bytearray(disk.getvalue())
    # the second EBR (at 8192 - 2048 = 6144) links back to the first (relative start 0)
    raw[6144 * 512 + 462 + 4] = 0x05
    struct.pack_into("<II", raw, 6144 * 512 + 462 + 8, 0, 100)
    with pytest.raises(ValueError, match="loop in the EBR chain: the EBR at LBA 2048 is linked twice"):
        pt.read_table(io.BytesIO(bytes(raw)))


def test_logical_outside_extended_is_refused():
    disk = blank(16 * MIB)
    pt.write_mbr(disk, [pt.Partition(1, 2048, 4000, "5"), pt.Partition(5, 4096, 8000, "83")])
    with pytest.raises(ValueError, match="logical partition 5 .* outside the extended partition 2048..6047"):
        pt.read_table(disk)


# ---------------------------------------------------------------- naming and JSON details
@pytest.mark.parametrize("device,number,expected", [
    ("sda", 1, "sda1"), ("/dev/loop0", 5, "/dev/loop0p5"), ("nvme0n1", 2, "nvme0n1p2"),
    ("disk.img", 3, "disk.img3"), ("/dev/disc", 1, "/dev/part1"),
])
def test_node_names_follow_libfdisk_partname(device, number, expected):
    assert pt.node_name(device, number) == expected


def test_attribute_names_and_hidden_bits():
    assert pt.attrs_string(0) is None
    assert pt.attrs_string(0b111) == "RequiredPartition NoBlockIOProtocol LegacyBIOSBootable"
    assert pt.attrs_string(1 << 60 | 1 << 48) == "GUID:48,60"
    assert pt.attrs_string(1 << 5) == ""                  # bit 5 exists but sfdisk names it nowhere


def test_json_escapes_quotes_backslashes_and_control_bytes():
    assert pt._json_str(b'a"b\\c\td\x01\xe4\xb8\xad') == b'"a\\"b\\\\c\\td\\u0001\xe4\xb8\xad"'


# ---------------------------------------------------------------- the script
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_script_bad_image_exits_2_with_message_and_no_traceback(tmp_path):
    bad = tmp_path / "zero.img"
    bad.write_bytes(bytes(4096))
    proc = cli(str(bad))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no partition table" in proc.stderr and "Traceback" not in proc.stderr


def test_script_refuses_a_real_disk():
    proc = cli("/dev/sda")
    assert proc.returncode == 2
    assert "not on a real disk" in proc.stderr


def test_script_check_on_mbr_reports_no_gpt(tmp_path):
    img = tmp_path / "m.img"
    with open(img, "w+b") as f:
        f.truncate(MIB)
        pt.write_mbr(f, [pt.Partition(1, 100, 10, "83")])
    proc = cli(str(img), "--check")
    assert proc.returncode == 0 and "MBR (dos) table, 1 partitions, no GPT copies" in proc.stdout


# ---------------------------------------------------------------- hostile headers and bad arguments
def test_a_2_gib_entry_array_is_refused_before_it_is_read(tmp_path):
    """A primary header asking for 2^24 entries x 128 B = 2 GiB, with both CRCs valid, on an
    8 GiB sparse image: Linux refuses arrays above KMALLOC_MAX_SIZE (4 MiB, block/partitions/
    efi.c is_gpt_valid()), so do we, before reading.  sfdisk 2.38 read all 2 GiB (2.1 GB of
    memory, 12 s) and then also fell back to the backup, with the warning expected here."""
    import resource
    img = tmp_path / "huge-array.img"
    with open(img, "w+b") as f:
        f.truncate(8 << 30)
        pt.write_gpt(f, [pt.Partition(1, 2048, 2048, pt.LINUX_FS)],
                     disk_guid="00000000-0000-4000-8000-000000000002")
        f.seek(1024)
        crc = zlib.crc32(f.read(128 * 128))           # the written entries, then zeros
        zeros = bytes(64 << 20)
        left = (1 << 24) * 128 - 128 * 128
        while left:
            crc = zlib.crc32(zeros[:min(left, len(zeros))], crc)
            left -= min(left, len(zeros))
        f.seek(512)
        h = pt.parse_gpt_header(f.read(512))
        h.update(entries=1 << 24, entries_crc=crc)
        f.seek(512)
        f.write(pt._gpt_header_bytes(h, 512))
    with open(img, "rb") as f:
        assert pt.check_gpt_copy(f, 1, 512, 8 << 24)[2] == (
            "entry array of 16777216 x 128 bytes is too large: 2147483648 > 4194304 bytes "
            "(the kernel's limit, KMALLOC_MAX_SIZE)")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
    proc = subprocess.run([sys.executable, str(SCRIPT), str(img)], capture_output=True, text=True,
                          timeout=60, preexec_fn=limit)
    assert proc.returncode == 0
    assert proc.stderr == "The primary GPT table is corrupt, but the backup appears OK, so that will be used.\n"
    assert '"start": 2048,' in proc.stdout


@pytest.mark.parametrize("part, message", [
    (pt.Partition(1, -5, 100, pt.LINUX_FS), "partition 1: start LBA -5 does not fit the 64-bit field"),
    (pt.Partition(1, 2048.0, 100, pt.LINUX_FS), "partition 1: start LBA 2048.0 does not fit"),
    (pt.Partition(1, 2048, 2 ** 64, pt.LINUX_FS), "partition 1: end LBA 18446744073709553663 does not fit"),
    (pt.Partition(1, 2048, 10, pt.LINUX_FS, attrs=-1), "partition 1: attributes -1 does not fit"),
    (pt.Partition(1, 2048, 10, "not-a-guid"), "partition 1: type 'not-a-guid'"),
    (pt.Partition(0, 2048, 10, pt.LINUX_FS), "partition number 0 outside 1..128"),
])
def test_write_gpt_refuses_numbers_its_fields_cannot_hold(part, message):
    """struct.error and TypeError used to escape; the layout itself stays unjudged (twins write
    overlapping or reversed partitions on purpose)."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        pt.write_gpt(blank(), [part])


@pytest.mark.parametrize("kwargs, message", [
    (dict(entries=0), r"entries 0 \(accepted: 1\.\.32768"),
    (dict(entries=1 << 24), r"entries 16777216"),
    (dict(sector_size=500), r"sector size 500"),
    (dict(first_lba=34.5), r"first_lba 34\.5"),
])
def test_write_gpt_refuses_bad_table_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pt.write_gpt(blank(), [], **kwargs)


@pytest.mark.parametrize("parts, message", [
    ([pt.Partition(1, -1, 10, "83")], "partition 1: start -1 does not fit the 32-bit field"),
    ([pt.Partition(1, 2048, 2 ** 32, "83")], "partition 1: size 4294967296 does not fit"),
    ([pt.Partition(1, 2048, 10, "zz")], "partition 1: MBR type 'zz'"),
    ([pt.Partition(1, 2048, 8192, "5"), pt.Partition(5, 4096, 100, "83", ebr=5000)],
     r"MBR entry with start -904 \(relative to LBA 5000\)"),
])
def test_write_mbr_refuses_numbers_its_fields_cannot_hold(parts, message):
    with pytest.raises(ValueError, match=message):
        pt.write_mbr(blank(16 * MIB), parts)


# ---------------------------------------------------------------- numbers of the wrong kind (issue 18)
def _gpt_disk() -> io.BytesIO:
    disk = blank()
    pt.write_gpt(disk, [pt.Partition(1, 2048, 4096, pt.LINUX_FS)], disk_guid=uuid_of(1))
    return disk


def uuid_of(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


@pytest.mark.parametrize("start", [-1, -2048, -(2**63)])
def test_write_gpt_with_a_negative_start_is_a_value_error_not_struct_error(start):
    """GPT_ENTRY packs the start as an unsigned 64-bit 'Q': struct.error ('argument out of
    range') escaped before."""
    with pytest.raises(ValueError, match=rf"partition 1: start LBA {start} does not fit the 64-bit field "
                                         r"\(accepted: a whole number 0\.\.18446744073709551615\)"):
        pt.write_gpt(blank(), [pt.Partition(1, start, 100, pt.LINUX_FS)])


@pytest.mark.parametrize("call, message", [
    (lambda d: pt.write_gpt(d, [], sector_size=512.0), r"sector size 512\.0 \(accepted: 512, 1024, 2048, 4096\)"),
    (lambda d: pt.write_gpt(d, [], sector_size=True), r"sector size True"),
    (lambda d: pt.write_gpt(d, [pt.Partition(1.0, 2048, 10, pt.LINUX_FS)]), r"partition number 1\.0 outside"),
    (lambda d: pt.write_gpt(d, [pt.Partition(1, 2048, 10, pt.LINUX_FS, attrs=1.5)]), r"attributes 1\.5"),
    (lambda d: pt.write_mbr(d, [], disk_id=-1), r"disk id -1 does not fit the 32-bit field"),
    (lambda d: pt.write_mbr(d, [], disk_id=1.5), r"disk id 1\.5 does not fit"),
    (lambda d: pt.write_mbr(d, [], disk_id=2**32), r"disk id 4294967296 does not fit"),
    (lambda d: pt.write_mbr(d, [], sector_size=0), r"sector size 0 \(accepted"),
    (lambda d: pt.write_mbr(d, [pt.Partition(1, 2048.0, 10, "83")]), r"partition 1: start 2048\.0 does not fit"),
    (lambda d: pt.read_mbr(d, 512.0, 16384), r"sector size 512\.0"),
    (lambda d: pt.read_gpt(d, 512, 16384.0), r"total sectors 16384\.0 \(accepted: a whole number"),
    (lambda d: pt.gpt_copies(d, 4096.0, 2048), r"sector size 4096\.0"),
    (lambda d: pt.check_gpt_copy(d, 1.0, 512, 16384), r"lba 1\.0"),
    (lambda d: pt.check_gpt_copy(d, -(10**400), 512, 16384), r"lba -1000000000"),
    (lambda d: pt.read_logical(d, 2048.5, 512, 16384), r"extended start 2048\.5"),
    (lambda d: pt.repair_gpt(d, 0), r"sector size 0"),
    (lambda d: pt.repair_gpt(d, 1), r"sector size 1 "),
    (lambda d: pt.read_table(d, 512.0), r"sector size 512\.0 is not supported"),
    (lambda d: pt.read_table(d, True), r"sector size True is not supported"),
])
def test_disk_functions_refuse_floats_and_odd_sector_sizes(call, message):
    """Each was a TypeError (a float offset for seek, a float slice), a ZeroDivisionError (sector
    size 0) or a struct.error (sector size 1 gives a 1-byte 'header'), or a negative disk id."""
    with pytest.raises(ValueError, match=message):
        call(_gpt_disk())


@pytest.mark.parametrize("call, message", [
    (lambda: pt.human_size(1.5 * 2**40), r"byte count 1649267441664\.0 \(accepted: a whole number"),
    (lambda: pt.human_size(-1), r"byte count -1"),
    (lambda: pt.attrs_string(0.5), r"attributes 0\.5"),
    (lambda: pt.node_name("/dev/sda", 1.5), r"partition number 1\.5"),
    (lambda: pt.grain_for(8192, 0, 4096, 0), r"sector size 0"),
    (lambda: pt.header_crc(bytes(512), 92.0), r"header size 92\.0"),
    (lambda: pt.mbr_entries(bytes(100)), r"an MBR or EBR sector needs 512 bytes, got 100 bytes"),
    (lambda: pt.parse_gpt_header(bytes(50)), r"a GPT header needs 92 bytes, got 50 bytes"),
    (lambda: pt.gpt_partitions({"entries": 2, "entry_size": 128}, bytes(100)),
     r"an array of 2 x 128 bytes needs 256 bytes, got 100 bytes"),
])
def test_helpers_refuse_floats_and_short_buffers(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_helpers_still_give_the_hand_values():
    # 2**40 + 2**39 bytes = 1.5 TiB; attribute bit 0 and GUID bit 60; sda1 / loop0p1
    assert pt.human_size(2**40 + 2**39) == "1.5 TiB"
    assert pt.attrs_string(1 | 1 << 60) == "RequiredPartition GUID:60"
    assert (pt.node_name("/dev/sda", 1), pt.node_name("/dev/loop0", 1)) == ("/dev/sda1", "/dev/loop0p1")
    # a disk of 8192 sectors (4 MiB) is at most 4 grains of 1 MiB: the grain is the physical sector
    assert pt.grain_for(8192, 512, 4096, 0) == 4096
    t = pt.read_table(_gpt_disk(), 512)
    assert [(p.start, p.size) for p in t.partitions] == [(2048, 4096)]


@pytest.mark.parametrize("sector_size", ["0", "-512", "512.0", "nan", "1" + "0" * 400])
def test_cli_sector_size_of_the_wrong_kind_gives_one_line(tmp_path, sector_size):
    img = tmp_path / "d.img"
    img.write_bytes(_gpt_disk().getvalue())
    proc = cli(str(img), f"--sector-size={sector_size}")
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("usage:", " "))]
    assert (proc.returncode, proc.stdout, len(lines)) == (2, "", 1), proc.stderr
    assert lines[0].startswith("partition_table.py: error: argument --sector-size: invalid ")
