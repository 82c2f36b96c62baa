"""Read and write MBR and GPT partition tables; as a script, a twin of `sfdisk -J IMAGE`.

What it demonstrates:

* the MBR sector: 446 bytes of boot code (with the 4-byte disk id at 440),
  four 16-byte entries, the 0x55 0xAA signature;
* logical partitions: a chain of EBRs inside the extended partition, each
  holding one data entry (relative to the EBR) and one link (relative to the
  start of the extended partition);
* GPT: a protective MBR, a primary header at LBA 1 and its entry array from
  LBA 2, a backup array and a backup header at the last LBA, each header and
  each array protected by CRC32; which copy is damaged, and how one copy is
  rebuilt from the other.

`python snippets/partition_table.py IMAGE` prints the same bytes as
`sfdisk -J IMAGE` (util-linux 2.38) on stdout and on stderr: the table, the
notes sfdisk puts before it, its warnings word for word.  A loop device is
read with its own sector size, an image file with 512-byte sectors or
`--sector-size`.  A damaged image (overlapping partitions, a partition past
the end, a loop in the EBR chain, both GPT copies bad ...) is refused with
one line naming the damage and exit status 2, where sfdisk may still print
something.  `--check` reports the state of both GPT copies and sfdisk's
warnings, `--repair` rebuilds a damaged copy, moves the backup of a grown
disk to its end and makes the protective MBR cover the disk.

>>> import io
>>> disk = io.BytesIO(bytes(4 * 1024 * 1024))
>>> write_gpt(disk, [Partition(1, 2048, 4096, LINUX_FS, name="data")],
...           disk_guid="01234567-89AB-CDEF-0123-456789ABCDEF")
>>> t = read_table(disk)
>>> t.label, t.id, [(p.node_number, p.start, p.size, p.name) for p in t.partitions]
('gpt', '01234567-89AB-CDEF-0123-456789ABCDEF', [(1, 2048, 4096, 'data')])
>>> read_table(io.BytesIO(bytes(4096)))
Traceback (most recent call last):
...
ValueError: no partition table: MBR signature at byte 510 is 0x0000, expected 0x55 0xAA
"""
from __future__ import annotations

# --8<-- [start:imports]
import argparse
import dataclasses
import io
import os
import stat
import struct
import sys
import uuid
import zlib
from typing import BinaryIO

from disk_limits import chs_bytes
from safety import open_guarded, printable
# --8<-- [end:imports]

LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
EFI_SYSTEM = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
EXTENDED_TYPES = (0x05, 0x0F, 0x85)      # DOS extended, W95 extended (LBA), Linux extended


@dataclasses.dataclass
class Partition:
    """One partition. For MBR `type` is the hex id ("83", "5"), for GPT the type GUID."""

    node_number: int                  # kernel numbering: sda1-4 primary, sda5.. logical
    start: int                        # first sector (absolute LBA)
    size: int                         # in sectors
    type: str
    bootable: bool = False            # MBR boot flag 0x80
    uuid: str | None = None           # GPT unique partition GUID (PARTUUID)
    name: str = ""                    # GPT partition name (PARTLABEL), UTF-16LE on disk
    attrs: int = 0                    # GPT attribute bits
    ebr: int | None = None            # MBR logical: LBA of the EBR describing it

    @property
    def end(self) -> int:
        return self.start + self.size - 1


@dataclasses.dataclass
class Notes:
    """What sfdisk says besides the JSON: info lines (on stdout, before it) and warnings (stderr)."""

    infos: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def info(self, text: str) -> None:
        self.infos.append(text)

    def warn(self, text: str) -> None:
        self.warnings.append(text)


@dataclasses.dataclass
class Table:
    label: str                        # "dos" or "gpt"
    id: str                           # "0x1234abcd" or the disk GUID
    sector_size: int
    total_sectors: int
    partitions: list[Partition]
    first_lba: int = 0                # GPT first/last usable LBA
    last_lba: int = 0
    entries: int = 0                  # GPT entry-array length
    copies: dict[str, str] = dataclasses.field(default_factory=dict)   # GPT copy -> "ok" or problem
    notes: Notes = dataclasses.field(default_factory=Notes)
    grain: int = 1024 * 1024          # libfdisk's alignment grain, printed when not 1 MiB


# ---------------------------------------------------------------- disk access
def _size(f: BinaryIO) -> int:
    f.seek(0, os.SEEK_END)
    return f.tell()


def _read(f: BinaryIO, offset: int, length: int, what: str) -> bytes:
    f.seek(offset)
    data = f.read(length)
    if len(data) != length:
        raise ValueError(f"truncated image: {what} needs bytes {offset}..{offset + length - 1} "
                         f"but the image ends at byte {offset + len(data)}")
    return data


def _write(f: BinaryIO, offset: int, data: bytes) -> None:
    f.seek(offset)
    f.write(data)


SECTOR_SIZES = (512, 1024, 2048, 4096)


def _whole_numbers(**values: int) -> None:
    """Sector sizes must be one of SECTOR_SIZES, other LBAs, counts and sizes whole numbers
    0..2**64-1 (what a 64-bit field holds); floats and bools are refused, not truncated."""
    for name, value in values.items():
        if name == "ss":
            if type(value) is not int or value not in SECTOR_SIZES:
                raise ValueError(f"sector size {value!r:.40} (accepted: 512, 1024, 2048, 4096)")
        elif type(value) is not int or not 0 <= value < 1 << 64:
            raise ValueError(f"{name.replace('_', ' ')} {value!r:.40} (accepted: a whole number "
                             f"0..{(1 << 64) - 1})")


def _sector(ss: int) -> int:
    _whole_numbers(ss=ss)
    return ss


def _need_bytes(data: bytes, length: int, what: str) -> None:
    if not isinstance(data, (bytes, bytearray)) or len(data) < length:
        got = f"{len(data)} bytes" if isinstance(data, (bytes, bytearray)) else type(data).__name__
        raise ValueError(f"{what} needs {length} bytes, got {got}")


# ---------------------------------------------------------------- MBR
# --8<-- [start:mbr]
MBR_ENTRY = struct.Struct("<B3sB3sII")   # boot flag, CHS start, type, CHS end, LBA start, sectors


def mbr_entries(sector: bytes, signed: bool = True) -> list[tuple[int, int, int, int]]:
    """The four entries of an MBR or EBR: (boot flag, type, relative start, sectors)."""
    _need_bytes(sector, 512, "an MBR or EBR sector")
    if signed and sector[510:512] != b"\x55\xaa":
        raise ValueError("no partition table: MBR signature at byte 510 is "
                         f"0x{sector[510]:02X}{sector[511]:02X}, expected 0x55 0xAA")
    out = []
    for i in range(4):                   # entries at bytes 446, 462, 478, 494
        boot, _chs1, ptype, _chs2, start, count = MBR_ENTRY.unpack_from(sector, 446 + 16 * i)
        out.append((boot, ptype, start, count))
    return out
# --8<-- [end:mbr]


def _fits(p: Partition, field: str, value: object, bits: int) -> int:
    """A number for an on-disk field of `bits` bits: a whole number that fits, or ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise ValueError(f"partition {p.node_number}: {field} {value!r} does not fit the "
                         f"{bits}-bit field (accepted: a whole number 0..{(1 << bits) - 1})")
    return value


def _mbr_type(p: Partition) -> int:
    try:
        ptype = int(p.type, 16)
    except (TypeError, ValueError):
        ptype = -1
    if not 0 <= ptype <= 0xFF:
        raise ValueError(f"partition {p.node_number}: MBR type {p.type!r} (accepted: hex 0..ff)")
    return ptype


def _mbr_entry(boot: bool, ptype: int, start: int, size: int, offset: int) -> bytes:
    """A 16-byte entry; `offset` is what start is relative to (0, an EBR, or the extended)."""
    if not (0 <= start < 1 << 32 and 0 <= size < 1 << 32):
        raise ValueError(f"MBR entry with start {start} (relative to LBA {offset}) and {size} sectors: "
                         "both must fit 32 bits (accepted: 0..4294967295; a logical partition "
                         "starts after its EBR)")
    absolute = offset + start
    return MBR_ENTRY.pack(0x80 if boot else 0, chs_bytes(absolute), ptype,
                          chs_bytes(absolute + size - 1), start, size)


# --8<-- [start:ebr]
MAXIMUM_PARTS = 60          # libfdisk dos.c: it keeps 4 primaries + 56 logicals


def _cleared(sector: bytes, slot: int) -> bool:
    """An entry whose 16 bytes are all zero is 'cleared' (libfdisk: is_cleared_partition)."""
    return sector[446 + 16 * slot: 462 + 16 * slot] == bytes(16)


def read_logical(f: BinaryIO, ext_start: int, ss: int, total: int, notes: Notes | None = None,
                 first_ebr: int | None = None) -> tuple[list[Partition], int]:
    """Follow the EBR chain of the extended partition starting at ext_start.

    Each EBR holds a data entry (start relative to this EBR) and a link entry
    (start of the next EBR, relative to the extended partition's start).  The
    entries are picked as libfdisk's read_extended() picks them: the first
    entry with a size and an extended type is the link, the first other entry
    with a size and a type is the data; an EBR without data still takes a
    number, and empty ones are dropped afterwards.  Returns the listed
    logical partitions and the number of EBRs kept.
    """
    _whole_numbers(ss=ss, total_sectors=total, extended_start=ext_start, first_EBR=first_ebr or 0)
    notes = notes if notes is not None else Notes()
    chain: list[tuple[int, bytes, int, int]] = []     # (EBR LBA, sector, data slot, link slot)
    seen: set[int] = set()
    ebr = ext_start if first_ebr is None else first_ebr
    while True:
        if ebr in seen:
            raise ValueError(f"loop in the EBR chain: the EBR at LBA {ebr} is linked twice "
                             "(sfdisk repeats the loop up to partition 60 and warns)")
        if len(chain) >= MAXIMUM_PARTS - 4:
            notes.warn(f"Omitting partitions after #{MAXIMUM_PARTS}. "
                       "They will be deleted if you save this partition table.")
            break
        if ebr >= total:
            raise ValueError(f"EBR link to LBA {ebr} is past the end of the image (LBA {total - 1})")
        seen.add(ebr)
        sector = _read(f, ebr * ss, 512, f"EBR at LBA {ebr}")
        entries = mbr_entries(sector, signed=False)   # libfdisk reads an EBR even without 0x55AA
        data = link = None
        for slot, (_boot, ptype, _start, count) in enumerate(entries):
            if not count:
                continue
            if ptype in EXTENDED_TYPES:
                if link is None:
                    link = slot
                else:
                    notes.warn(f"Extra link pointer in partition table {5 + len(chain)}.")
            elif ptype:
                if data is None:
                    data = slot
                else:
                    notes.warn(f"Ignoring extra data in partition table {5 + len(chain)}.")
        if data is None:                              # libfdisk's fallback: slot 0, or 1 if 0 is the link
            data = 0 if link != 0 else 1
        if link is None:
            link = 0 if data != 0 else 1
        chain.append((ebr, sector, data, link))
        if entries[link][1] not in EXTENDED_TYPES:
            break
        ebr = ext_start + entries[link][2]
    # an all-zero last EBR (the empty chain sfdisk writes) is no partition
    if chain and _cleared(chain[-1][1], chain[-1][2]) and _cleared(chain[-1][1], chain[-1][3]):
        chain.pop()
    # empty links: a logical of size 0 is dropped and the rest renumbered (told on stdout)
    while True:
        sizes = [mbr_entries(s, signed=False)[d][3] for _e, s, d, _l in chain]
        first_type = mbr_entries(chain[0][1], signed=False)[chain[0][2]][1] if chain else 0
        empty = [i for i, size in enumerate(sizes) if not size]
        if not empty or not (len(chain) > 1 or first_type):
            break
        notes.info(f"omitting empty partition ({5 + empty[0]})")
        del chain[empty[0]]
    parts = []
    for i, (ebr, sector, data, _link) in enumerate(chain):
        if sector[510:512] != b"\x55\xaa":
            notes.info(f"Invalid flag 0x{sector[510]:02x}{sector[511]:02x} of EBR (for partition "
                       f"{5 + i}) will be corrected by w(rite).")
        if _cleared(sector, data):
            continue                                  # keeps its number, but is not listed
        boot, ptype, rel, count = mbr_entries(sector, signed=False)[data]
        parts.append(Partition(5 + i, ebr + rel, count, f"{ptype:x}", bootable=boot == 0x80, ebr=ebr))
    return parts, len(chain)
# --8<-- [end:ebr]


def human_size(nbytes: int) -> str:
    """util-linux's size_to_human_string() with a space and 3-letter suffix: '3 TiB', '2.5 TiB'.

    >>> human_size(3 * 2 ** 40), human_size(2 ** 41 + 2 ** 40 // 2), human_size(2 ** 42 - 2 ** 31)
    ('3 TiB', '2.5 TiB', '4 TiB')
    """
    _whole_numbers(byte_count=nbytes)
    exp = next((e for e in range(0, 61, 10) if nbytes < 1 << (e + 10)), 60)
    whole, frac = (nbytes >> exp, nbytes % (1 << exp)) if exp else (nbytes, 0)
    unit = "BKMGTPE"[exp // 10] + ("iB" if exp else "")
    if frac:
        frac = (frac * 1000 >> exp) if frac < 2 ** 64 // 1000 else ((frac // 1024) * 1000) >> (exp - 10)
        frac = (frac + 50) // 100 * 10                 # one digit after the point, rounded
        if frac == 100:
            whole, frac = whole + 1, 0
    if not frac:
        return f"{whole} {unit}"
    return f"{whole}.{frac:02d}".removesuffix("0") + f" {unit}"


def read_mbr(f: BinaryIO, ss: int, total: int, notes: Notes | None = None) -> Table:
    _whole_numbers(ss=ss, total_sectors=total)
    notes = notes if notes is not None else Notes()
    if total > 0xFFFFFFFF:                             # libfdisk dos_init(): more sectors than 32 bits hold
        notes.warn(f"The size of this disk is {human_size(total * ss)} ({total * ss} bytes). DOS partition "
                   "table format cannot be used on drives for volumes larger than "
                   f"{0xFFFFFFFF * ss} bytes for {ss}-byte sectors. Use GUID partition table format (GPT).")
    sector0 = _read(f, 0, 512, "the MBR")
    entries = mbr_entries(sector0)
    parts: list[Partition] = []
    logical: list[Partition] = []
    ext_slot, kept, ext_offset = None, 0, None
    for i, (boot, ptype, start, count) in enumerate(entries):
        if not _cleared(sector0, i):                  # an all-zero slot is unused
            parts.append(Partition(i + 1, start, count, f"{ptype:x}", bootable=boot == 0x80))
        if ptype not in EXTENDED_TYPES:
            continue
        if kept:                                      # libfdisk reads one non-empty chain only
            notes.warn(f"Ignoring extra extended partition {i + 1}")
            continue
        if start == 0:
            raise ValueError(f"extended partition {i + 1} starts at LBA 0, on the MBR itself "
                             "(sfdisk warns 'Bad offset in primary extended partition.')")
        ext_slot = i
        # libfdisk quirk: after an empty chain, the next extended partition's first EBR is
        # read at (first extended's start + its start), and links stay relative to the first
        first = start if ext_offset is None else ext_offset + start
        ext_offset = start if ext_offset is None else ext_offset
        logical, kept = read_logical(f, ext_offset, ss, total, notes, first_ebr=first)
    disk_id = struct.unpack_from("<I", sector0, 440)[0]
    table = Table("dos", f"0x{disk_id:08x}", ss, total, parts + logical, notes=notes)
    _check_layout(table, ext_slot)
    return table


def write_mbr(f: BinaryIO, partitions: list[Partition], disk_id: int = 0,
              sector_size: int = 512) -> None:
    """Write an MBR (and the EBR chain for partitions numbered 5 and up).

    A logical partition's EBR goes where sfdisk puts it unless `ebr` is set:
    the first at the start of the extended partition, the others one MiB
    (or one sector, if there is no room) before their partition.
    """
    ss = _sector(sector_size)
    if type(disk_id) is not int or not 0 <= disk_id < 1 << 32:
        raise ValueError(f"disk id {disk_id!r:.40} does not fit the 32-bit field (accepted: 0..0xffffffff)")
    for p in partitions:       # what the 32-bit fields hold (the layout itself is not judged here)
        _fits(p, "number", p.node_number, 7)
        if p.node_number < 1:
            raise ValueError(f"partition number {p.node_number} (accepted: 1..4 primary, 5.. logical)")
        _fits(p, "start", p.start, 32)
        _fits(p, "size", p.size, 32)
        _mbr_type(p)
        if p.ebr is not None:
            _fits(p, "EBR LBA", p.ebr, 32)
    primary = [p for p in partitions if p.node_number <= 4]
    logical = sorted((p for p in partitions if p.node_number > 4), key=lambda p: p.node_number)
    if len({p.node_number for p in primary}) != len(primary):
        raise ValueError("two primary partitions with the same number: use 1..4 once each")
    sector0 = bytearray(_read(f, 0, 512, "the MBR")) if _size(f) >= 512 else bytearray(512)
    sector0[440:444] = struct.pack("<I", disk_id)
    sector0[444:510] = bytes(66)
    for p in primary:
        ptype = int(p.type, 16)
        slot = 446 + 16 * (p.node_number - 1)
        sector0[slot:slot + 16] = _mbr_entry(p.bootable, ptype, p.start, p.size, 0)
    sector0[510:512] = b"\x55\xaa"
    _write(f, 0, bytes(sector0))
    ext = [p for p in primary if int(p.type, 16) in EXTENDED_TYPES]
    if not logical:
        for p in ext[:1]:                # an empty chain: a blank, signed EBR, as sfdisk writes
            _write(f, p.start * ss, bytes(510) + b"\x55\xaa")
        return
    if len(ext) != 1:
        raise ValueError(f"logical partitions need exactly one extended partition, found {len(ext)}")
    ext_start = ext[0].start
    ebrs = []
    for i, p in enumerate(logical):
        if p.ebr is not None:
            ebrs.append(p.ebr)
        elif i == 0:
            ebrs.append(ext_start)
        else:
            gap = 2048 if p.start - 2048 > logical[i - 1].end else 1
            ebrs.append(p.start - gap)
    for i, (p, ebr) in enumerate(zip(logical, ebrs)):
        sector = bytearray(ss)
        sector[446:462] = _mbr_entry(p.bootable, int(p.type, 16), p.start - ebr, p.size, ebr)
        if i + 1 < len(logical):
            nxt, nebr = logical[i + 1], ebrs[i + 1]
            sector[462:478] = _mbr_entry(False, 0x05, nebr - ext_start, nxt.end - nebr + 1, ext_start)
        sector[510:512] = b"\x55\xaa"
        _write(f, ebr * ss, bytes(sector))


# ---------------------------------------------------------------- GPT
# --8<-- [start:gpt-header]
GPT_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")   # 92 bytes, UEFI spec table 5-5
GPT_ENTRY = struct.Struct("<16s16sQQQ72s")           # 128 bytes, UEFI spec table 5-6


def guid_str(raw: bytes) -> str:
    """On disk the first three GUID fields are little-endian (uuid.bytes_le)."""
    return str(uuid.UUID(bytes_le=raw)).upper()


def parse_gpt_header(sector: bytes) -> dict:
    _need_bytes(sector, GPT_HEADER.size, "a GPT header")
    (sig, rev, hsize, hcrc, _res, my_lba, alt_lba, first, last, disk_guid,
     entries_lba, n_entries, entry_size, entries_crc) = GPT_HEADER.unpack_from(sector)
    return dict(signature=sig, revision=rev, header_size=hsize, header_crc=hcrc,
                my_lba=my_lba, alternate_lba=alt_lba, first_lba=first, last_lba=last,
                disk_guid=guid_str(disk_guid), entries_lba=entries_lba,
                entries=n_entries, entry_size=entry_size, entries_crc=entries_crc)


def header_crc(sector: bytes, header_size: int) -> int:
    """CRC32 of the first header_size bytes with the CRC field (bytes 16-19) as zero."""
    _whole_numbers(header_size=header_size)
    data = bytearray(sector[:header_size])
    data[16:20] = bytes(4)
    return zlib.crc32(data)
# --8<-- [end:gpt-header]


# Linux (block/partitions/efi.c) refuses an entry array larger than KMALLOC_MAX_SIZE, 4 MiB
# on x86-64; the 128 entries tools write take 16 KiB
GPT_ARRAY_MAX = 4 << 20


# --8<-- [start:gpt-copy]
def check_gpt_copy(f: BinaryIO, lba: int, ss: int, total: int) -> tuple[dict | None, bytes, str]:
    """Read the GPT header at `lba` and its entry array; return (header, array, "ok" or problem).

    The checks are those of libfdisk's gpt_read_header(): signature, header
    size, header CRC32, entry-array CRC32, usable range inside the disk, and
    the header's own LBA; two more of ours: the array must not overlap the
    usable range (libfdisk does not look), and it must not be larger than the
    kernel reads (4 MiB), which is checked before the array is read.
    """
    _whole_numbers(ss=ss, total_sectors=total, lba=lba)
    if not 0 < lba < total:
        return None, b"", f"header LBA {lba} is outside the disk (0..{total - 1})"
    sector = _read(f, lba * ss, ss, f"GPT header at LBA {lba}")
    h = parse_gpt_header(sector)
    if h["signature"] != b"EFI PART":
        return None, b"", f"no 'EFI PART' signature at LBA {lba}"
    if not 92 <= h["header_size"] <= ss:
        return None, b"", f"header size {h['header_size']} outside 92..{ss}"
    crc = header_crc(sector, h["header_size"])
    if crc != h["header_crc"]:
        return None, b"", (f"header CRC mismatch at LBA {lba}: stored 0x{h['header_crc']:08x}, "
                           f"computed 0x{crc:08x}")
    if h["entries"] < 1 or h["entry_size"] < 128 or h["entry_size"] % 8:
        return None, b"", (f"entry array of {h['entries']} x {h['entry_size']} bytes: need at least "
                           "1 entry of at least 128 bytes (a multiple of 8)")
    length = h["entries"] * h["entry_size"]
    if length > GPT_ARRAY_MAX:                 # the kernel's is_gpt_valid(): "Table is too large"
        return None, b"", (f"entry array of {h['entries']} x {h['entry_size']} bytes is too large: "
                           f"{length} > {GPT_ARRAY_MAX} bytes (the kernel's limit, KMALLOC_MAX_SIZE)")
    array_end = h["entries_lba"] + -(-length // ss) - 1      # last sector of the array
    if array_end >= total:
        return None, b"", (f"entry count {h['entries']} runs the array (LBA {h['entries_lba']}.."
                           f"{array_end}) past the end of the disk (LBA {total - 1})")
    array = _read(f, h["entries_lba"] * ss, length, "GPT entry array")
    if zlib.crc32(array) != h["entries_crc"]:
        return h, array, (f"entry array CRC mismatch (array at LBA {h['entries_lba']}): stored "
                          f"0x{h['entries_crc']:08x}, computed 0x{zlib.crc32(array):08x}")
    first, last = h["first_lba"], h["last_lba"]
    if last < first:
        return None, b"", f"header at LBA {lba}: last usable LBA {last} is before the first {first}"
    if last >= total:
        return None, b"", (f"header at LBA {lba}: usable LBA {first}..{last} runs past the end of "
                           f"the image (last LBA {total - 1}): truncated or shrunk image")
    if first < 1 < last:
        return None, b"", f"header at LBA {lba}: usable LBA {first}..{last} covers the header at LBA 1"
    if h["my_lba"] != lba:
        return None, b"", f"header at LBA {lba} says it is at LBA {h['my_lba']} (MyLBA)"
    inside = h["first_lba"] <= h["entries_lba"] <= h["last_lba"] or \
        h["first_lba"] <= array_end <= h["last_lba"]
    if inside:
        return None, b"", (f"entry count {h['entries']} is beyond the array: entries at LBA "
                           f"{h['entries_lba']}..{array_end} overlap the usable area "
                           f"{h['first_lba']}..{h['last_lba']}")
    return h, array, "ok"
# --8<-- [end:gpt-copy]


# sfdisk's (libfdisk gpt_probe_label()) words when one copy is bad
PRIMARY_CORRUPT = "The primary GPT table is corrupt, but the backup appears OK, so that will be used."
BACKUP_CORRUPT = "The backup GPT table is corrupt, but the primary appears OK, so that will be used."


def gpt_copies(f: BinaryIO, ss: int, total: int,
               notes: Notes | None = None) -> tuple[dict, bytes, dict[str, str]]:
    """Check both copies; return the header and array to use and a status per copy.

    Like libfdisk: the backup is looked for at the primary's AlternateLBA, or at
    the last LBA when the primary is bad; sfdisk's warning goes into `notes`.
    """
    _whole_numbers(ss=ss, total_sectors=total)
    notes = notes if notes is not None else Notes()
    primary, parray, pstatus = check_gpt_copy(f, 1, ss, total)
    backup_lba = primary["alternate_lba"] if primary and pstatus == "ok" else total - 1
    backup, barray, bstatus = check_gpt_copy(f, backup_lba, ss, total)
    status = {"primary": pstatus, "backup": bstatus}
    if pstatus == "ok":
        if bstatus != "ok":
            notes.warn(BACKUP_CORRUPT)
        return primary, parray, status
    if bstatus == "ok":
        notes.warn(PRIMARY_CORRUPT)
        return backup, barray, status
    raise ValueError(f"both GPT copies are damaged: primary: {pstatus}; backup: {bstatus} "
                     "(sfdisk then reads the protective MBR as a dos table)")


def _utf16_name(raw: bytes) -> str:
    # UTF-16LE up to the first NUL; lone surrogates kept, as libfdisk keeps them
    return raw.decode("utf-16-le", "surrogatepass").split("\x00")[0]


def gpt_partitions(h: dict, array: bytes) -> list[Partition]:
    """The used entries of an array: libfdisk lists an entry whose type GUID or start is not zero."""
    _need_bytes(array, h["entries"] * h["entry_size"], f"an array of {h['entries']} x {h['entry_size']} bytes")
    parts = []
    for i in range(h["entries"]):
        tguid, pguid, start, end, attrs, name = GPT_ENTRY.unpack_from(array, i * h["entry_size"])
        if tguid == bytes(16) and start == 0:
            continue                                  # unused entry
        parts.append(Partition(i + 1, start, end - start + 1, guid_str(tguid), uuid=guid_str(pguid),
                               name=_utf16_name(name), attrs=attrs))
    return parts


def read_gpt(f: BinaryIO, ss: int, total: int, notes: Notes | None = None) -> Table:
    notes = notes if notes is not None else Notes()
    h, array, status = gpt_copies(f, ss, total, notes)
    # a grown (or shrunk) disk: the primary points at a backup that is not the last LBA
    alternate = h["alternate_lba"] if status["primary"] == "ok" else total - 1
    if alternate > total or alternate < total - 1:       # libfdisk's test, off by one included
        notes.warn("The backup GPT table is not on the end of the device.")
    table = Table("gpt", h["disk_guid"], ss, total, gpt_partitions(h, array), first_lba=h["first_lba"],
                  last_lba=h["last_lba"], entries=h["entries"], copies=status, notes=notes)
    _check_layout(table)
    return table


def _gpt_header_bytes(h: dict, ss: int) -> bytes:
    sector = bytearray(ss)
    GPT_HEADER.pack_into(sector, 0, b"EFI PART", 0x00010000, 92, 0, 0, h["my_lba"], h["alternate_lba"],
                         h["first_lba"], h["last_lba"], uuid.UUID(h["disk_guid"]).bytes_le,
                         h["entries_lba"], h["entries"], h["entry_size"], h["entries_crc"])
    sector[16:20] = struct.pack("<I", header_crc(sector, 92))
    return bytes(sector)


def write_gpt(f: BinaryIO, partitions: list[Partition], disk_guid: str | None = None,
              sector_size: int = 512, entries: int = 128, first_lba: int | None = None,
              last_lba: int | None = None) -> None:
    """Write protective MBR, primary header + array, backup array + header.

    first_lba/last_lba default to the smallest layout (sgdisk's 34 and
    total-34 for 512-byte sectors; sfdisk uses 2048 as first_lba).
    """
    ss = _sector(sector_size)
    if not isinstance(entries, int) or not 1 <= entries <= GPT_ARRAY_MAX // 128:
        raise ValueError(f"entries {entries!r} (accepted: 1..{GPT_ARRAY_MAX // 128}, the kernel's "
                         "4 MiB array limit)")
    total = _size(f) // ss
    array_sectors = -(-entries * 128 // ss)
    first = 2 + array_sectors if first_lba is None else first_lba
    last = total - 2 - array_sectors if last_lba is None else last_lba
    for name, value in (("first_lba", first), ("last_lba", last)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} {value!r} (accepted: a whole number of sectors)")
    if total < 2 * array_sectors + 4 or not 2 + array_sectors <= first <= last <= total - 2 - array_sectors:
        raise ValueError(f"disk of {total} sectors is too small for a GPT with {entries} entries "
                         f"and usable LBA {first}..{last}")
    array = bytearray(entries * 128)
    for p in partitions:
        # the fields must hold the numbers; the layout is not judged (damaged tables are written on purpose)
        if not isinstance(p.node_number, int) or not 1 <= p.node_number <= entries:
            raise ValueError(f"partition number {p.node_number} outside 1..{entries}")
        _fits(p, "start LBA", p.start, 64)
        _fits(p, "end LBA", p.end, 64)   # (the size is not stored: an end before the start is)
        _fits(p, "attributes", p.attrs, 64)
        try:
            type_guid, part_guid = uuid.UUID(p.type), uuid.UUID(p.uuid or str(uuid.uuid4()))
            name = p.name.encode("utf-16-le", "surrogatepass")
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(f"partition {p.node_number}: type {p.type!r}, GUID {p.uuid!r} or name "
                             f"{p.name!r}: {exc} (accepted: GUID strings and a text name)") from None
        if len(name) > 72:
            raise ValueError(f"partition name {p.name!r} is longer than 36 UTF-16 code units")
        GPT_ENTRY.pack_into(array, (p.node_number - 1) * 128, type_guid.bytes_le, part_guid.bytes_le,
                            p.start, p.end, p.attrs, name)
    guid = disk_guid or str(uuid.uuid4())
    h = dict(my_lba=1, alternate_lba=total - 1, first_lba=first, last_lba=last, disk_guid=guid,
             entries_lba=2, entries=entries, entry_size=128, entries_crc=zlib.crc32(array))
    # protective MBR: one entry of type 0xEE from LBA 1 over the whole disk (at most 2^32-1)
    pmbr = bytearray(512)
    pmbr[446:462] = MBR_ENTRY.pack(0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1,
                                   min(total - 1, 0xFFFFFFFF))
    pmbr[510:512] = b"\x55\xaa"
    _write(f, 0, bytes(pmbr))
    _write(f, ss, _gpt_header_bytes(h, ss))
    _write(f, 2 * ss, bytes(array))
    backup = dict(h, my_lba=total - 1, alternate_lba=1, entries_lba=total - 1 - array_sectors)
    _write(f, backup["entries_lba"] * ss, bytes(array))
    _write(f, (total - 1) * ss, _gpt_header_bytes(backup, ss))


# --8<-- [start:repair]
def repair_gpt(f: BinaryIO, sector_size: int = 512) -> str:
    """Fix what sfdisk warns about: rebuild a damaged copy from the good one, move
    the backup of a grown disk to the last LBA, make the protective MBR cover the
    disk.  Returns what was done."""
    ss = _sector(sector_size)
    total = _size(f) // ss
    if 0xEE not in [e[1] for e in mbr_entries(_read(f, 0, 512, "the MBR"))]:
        raise ValueError("no GPT: the MBR has no 0xEE (protective) entry; --repair repairs GPT only")
    h, array, status = gpt_copies(f, ss, total)
    sectors = -(-len(array) // ss)
    good = "backup" if status["primary"] != "ok" else "primary"
    primary = dict(h, my_lba=1, entries_lba=2) if good == "backup" else dict(h)
    moved = good == "primary" and primary["alternate_lba"] != total - 1
    if moved:                      # as libfdisk and `sgdisk -e` do: last usable LBA follows the backup
        primary["last_lba"] = total - 2 - sectors
        ends = [p.end for p in gpt_partitions(h, array)]
        if primary["last_lba"] < max(ends + [primary["first_lba"]]):
            raise ValueError(f"the backup GPT copy cannot move to LBA {total - 1}: a partition or "
                             f"the usable range ends after LBA {primary['last_lba']}")
    primary["alternate_lba"] = total - 1
    backup = dict(primary, my_lba=total - 1, alternate_lba=1, entries_lba=total - 1 - sectors)
    if 2 + sectors > primary["first_lba"] and good == "backup":
        raise ValueError(f"entry array of {sectors} sectors does not fit between LBA 2 and "
                         f"the first usable LBA {primary['first_lba']}")
    if not primary["last_lba"] < backup["entries_lba"]:
        raise ValueError(f"backup header LBA {total - 1} leaves no room for the array after the "
                         f"last usable LBA {primary['last_lba']} (disk has {total} sectors)")
    done = []
    if good == "backup" or moved:
        if good == "backup":
            _write(f, 2 * ss, array)
        _write(f, ss, _gpt_header_bytes(primary, ss))
    if good == "backup":
        done.append("rewrote the primary GPT copy (header at LBA 1, entries at LBA 2) from the backup")
    if good == "primary" and (status["backup"] != "ok" or moved):
        _write(f, backup["entries_lba"] * ss, array)
        _write(f, backup["my_lba"] * ss, _gpt_header_bytes(backup, ss))
        what = "moved the backup GPT copy to the end of the disk" if moved else "rewrote the backup GPT copy"
        done.append(f"{what} (header at LBA {backup['my_lba']}, entries at LBA "
                    f"{backup['entries_lba']}) from the primary")
        if moved:
            done.append(f"last usable LBA is now {primary['last_lba']}")
    sector0 = bytearray(_read(f, 0, 512, "the MBR"))
    slots = [i for i in range(4) if sector0[446 + 16 * i + 4] == 0xEE]
    others = [i for i in range(4) if sector0[446 + 16 * i + 4] not in (0, 0xEE)]
    size_at = 446 + 16 * slots[0] + 12 if slots else 0
    want = min(total - 1, 0xFFFFFFFF)
    if slots and not others and struct.unpack_from("<I", sector0, size_at)[0] not in (want, 0xFFFFFFFF):
        old = struct.unpack_from("<I", sector0, size_at)[0]
        _write(f, size_at, struct.pack("<I", want))
        done.append(f"protective MBR now covers {want} sectors (it said {old})")
    return "; ".join(done) or "both GPT copies are valid, nothing to repair"
# --8<-- [end:repair]


# ---------------------------------------------------------------- both
def _check_layout(t: Table, ext_slot: int | None = None) -> None:
    """Every partition inside the disk (and inside its container); no two overlap."""
    lo, hi = (t.first_lba, t.last_lba) if t.label == "gpt" else (0, t.total_sectors - 1)
    ext = next((p for p in t.partitions if ext_slot is not None and p.node_number == ext_slot + 1), None)
    for p in t.partitions:
        if p.size <= 0 and t.label == "gpt":
            raise ValueError(f"partition {p.node_number}: end LBA before start LBA {p.start}")
        if p.size and (p.start < lo or p.end > hi):
            where = "usable LBA range" if t.label == "gpt" else "image"
            raise ValueError(f"partition {p.node_number} (LBA {p.start}..{p.end}) lies outside the "
                             f"{where} {lo}..{hi}: truncated image or corrupt entry")
        if ext and p.node_number > 4 and (p.ebr < ext.start or p.end > ext.end):
            raise ValueError(f"logical partition {p.node_number} (LBA {p.start}..{p.end}) lies "
                             f"outside the extended partition {ext.start}..{ext.end}")
    # the extended container may hold logicals but must not overlap another primary
    groups = [[p for p in t.partitions if p is not ext], [p for p in t.partitions if p.node_number <= 4]]
    for group in groups:
        used = sorted((p for p in group if p.size), key=lambda p: p.start)
        for a, b in zip(used, used[1:]):
            if b.start <= a.end:
                raise ValueError(f"partitions {a.node_number} (LBA {a.start}..{a.end}) and "
                                 f"{b.node_number} (LBA {b.start}..{b.end}) overlap")


def _block_device(f: BinaryIO) -> int | None:
    """st_rdev of an open block device (a loop device), None for files and buffers."""
    try:
        st = os.fstat(f.fileno())
    except (AttributeError, io.UnsupportedOperation, OSError):
        return None
    return st.st_rdev if stat.S_ISBLK(st.st_mode) else None


def _sector_size(f: BinaryIO) -> int:
    """Regular files use 512-byte sectors (as sfdisk does); a loop device tells its own."""
    if _block_device(f) is None:
        return 512
    import fcntl
    blksszget = 0x1268                                 # ioctl BLKSSZGET, <linux/fs.h>
    return struct.unpack("i", fcntl.ioctl(f.fileno(), blksszget, b"\0" * 4))[0]


def _topology(f: BinaryIO, ss: int) -> tuple[int, int]:
    """(physical sector size, I/O size) as libfdisk gets them from blkid: sysfs queue/ of a device."""
    rdev = _block_device(f)
    if rdev is None:
        return ss, ss
    queue = f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}/queue"
    if not os.path.isdir(queue):                       # a partition: its disk's queue
        queue = f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}/../queue"

    def value(name: str) -> int:
        try:
            with open(f"{queue}/{name}") as q:
                return int(q.read())
        except (OSError, ValueError):
            return 0
    phy = value("physical_block_size") or ss
    io_size = value("optimal_io_size") or value("minimum_io_size") or ss
    if io_size % phy:                                  # libfdisk ignores a misaligned I/O size
        io_size = phy
    return phy, io_size


def grain_for(total: int, ss: int, phy: int, io_size: int) -> int:
    """libfdisk's alignment grain: the I/O size but at least 1 MiB; on a disk of
    at most 4 grains the physical sector (alignment.c, topology_get_grain())."""
    _whole_numbers(ss=ss, total_sectors=total, physical_sector_size=phy, io_size=io_size)
    grain = max(io_size, 1024 * 1024)
    return phy if total <= grain * 4 // ss else grain


def read_table(f: BinaryIO, sector_size: int | None = None) -> Table:
    """Read the partition table of an open image: GPT if the MBR is protective, else MBR."""
    ss = sector_size or _sector_size(f)
    if type(ss) is not int or ss not in SECTOR_SIZES:
        raise ValueError(f"sector size {ss!r:.40} is not supported: use 512, 1024, 2048 or 4096")
    if sector_size and _block_device(f) is not None and sector_size != _sector_size(f):
        raise ValueError(f"--sector-size {sector_size} disagrees with the device's own "
                         f"{_sector_size(f)}-byte sectors: leave it out for a loop device")
    size = _size(f)
    if size < 512:
        raise ValueError(f"image of {size} bytes is too small: an MBR needs 512 bytes")
    total = size // ss
    if total < 1:
        raise ValueError(f"image of {size} bytes is smaller than one {ss}-byte sector")
    notes = Notes()
    entries = mbr_entries(_read(f, 0, 512, "the MBR"))
    types = [e[1] for e in entries]
    table = None
    if 0xEE in types:
        # libfdisk's valid_pmbr(): a protective MBR (only 0xEE entries) must start at LBA 1
        # and should cover the disk; a hybrid MBR (0xEE next to other types) need not
        pmbr = entries[types.index(0xEE)]
        hybrid = any(t not in (0, 0xEE) for t in types)
        if hybrid or pmbr[2] == 1:
            if not hybrid and pmbr[3] not in (total - 1, 0xFFFFFFFF):
                notes.warn(f"GPT PMBR size mismatch ({pmbr[3]} != {total - 1}) will be corrected by write.")
            if total < 3:
                raise ValueError(f"image of {total} sectors is too small for a GPT (needs at least 3)")
            table = read_gpt(f, ss, total, notes)
    if table is None:
        table = read_mbr(f, ss, total, notes)
    table.grain = grain_for(total, ss, *_topology(f, ss))
    return table


# ---------------------------------------------------------------- sfdisk -J
def _json_str(value: bytes) -> bytes:
    """libsmartcols/jsonwrt escaping: quote and backslash, control bytes; UTF-8 passes through."""
    out = bytearray(b'"')
    short = {8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r"}
    for c in value:
        if c in (0x22, 0x5C):
            out += b"\\" + bytes([c])
        elif c >= 0x20:
            out.append(c)
        else:
            out += short.get(c, b"\\u00%02x" % c)
    return bytes(out + b'"')


# the one type GUID sfdisk's table (util-linux 2.38) spells in lower case
_SFDISK_TYPE_SPELLING = {"773F91EF-66D4-49B5-BD83-D683BF40AD16": "773f91ef-66d4-49b5-bd83-d683bf40ad16"}
_ATTR_NAMES = {0: "RequiredPartition", 1: "NoBlockIOProtocol", 2: "LegacyBIOSBootable"}


def attrs_string(attrs: int) -> str | None:
    """GPT attribute bits as sfdisk names them; bits 3-47 are not shown (None if no bits at all)."""
    _whole_numbers(attributes=attrs)
    if not attrs:
        return None
    words = [name for bit, name in _ATTR_NAMES.items() if attrs >> bit & 1]
    guid_bits = [str(b) for b in range(48, 64) if attrs >> b & 1]
    if guid_bits:
        words.append("GUID:" + ",".join(guid_bits))
    return " ".join(words)


def node_name(device: str, number: int) -> str:
    """Partition device name as libfdisk's fdisk_partname() builds it: sda1, loop0p1, nvme0n1p1."""
    _whole_numbers(partition_number=number)
    if device.endswith("disc"):
        return f"{device[:-4]}part{number}"
    if device.startswith(("/dev/disk/by-id", "/dev/disk/by-path", "/dev/mapper")):
        for sep in ("", "p"):
            if os.path.exists(f"{device}{sep}{number}"):
                return f"{device}{sep}{number}"
        return f"{device}-part{number}"
    return f"{device}{'p' if device[-1:].isdigit() else ''}{number}"


def sfdisk_json(t: Table, device: str) -> bytes:
    """The bytes `sfdisk -J device` prints for this table."""
    def s(text: str) -> bytes:
        return _json_str(text.encode("utf-8", "surrogatepass"))

    head = [(b"label", s(t.label)), (b"id", s(t.id)), (b"device", s(device)),
            (b"unit", s("sectors"))]
    if t.label == "gpt":
        head += [(b"firstlba", b"%d" % t.first_lba), (b"lastlba", b"%d" % t.last_lba)]
        if t.entries != 128:
            head.append((b"table-length", s(str(t.entries))))
    if t.grain != 1024 * 1024:                      # see grain_for()
        head.append((b"grain", s(str(t.grain))))
    head.append((b"sectorsize", b"%d" % t.sector_size))
    lines = [b'      "%s": %s' % kv for kv in head]
    out = b'{\n   "partitiontable": {\n' + b",\n".join(lines)
    objects = []
    for p in t.partitions:
        fields = [(b"node", s(node_name(device, p.node_number))),
                  (b"start", b"%d" % p.start), (b"size", b"%d" % p.size),
                  (b"type", s(_SFDISK_TYPE_SPELLING.get(p.type, p.type)))]
        if p.uuid:
            fields.append((b"uuid", s(p.uuid)))
        if p.name:
            fields.append((b"name", s(p.name)))
        if t.label == "gpt" and p.attrs:
            words = attrs_string(p.attrs)
            fields.append((b"attrs", s(words) if words else b"null"))
        if p.bootable:
            fields.append((b"bootable", b"true"))
        body = b",\n".join(b'            "%s": %s' % kv for kv in fields)
        objects.append(b"{\n" + body + b"\n         }")
    if objects:
        out += b',\n      "partitions": [\n         ' + b",".join(objects) + b"\n      ]"
    return out + b"\n   }\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print an image's partition table as `sfdisk -J` does; check or repair GPT copies.")
    parser.add_argument("image", help="disk image file (or loop device)")
    parser.add_argument("--sector-size", type=int, choices=(512, 1024, 2048, 4096),
                        help="logical sector size (default: 512 for files, the device's own for loops)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="report the state of both GPT copies")
    group.add_argument("--repair", action="store_true", help="rewrite a damaged GPT copy from the good one")
    args = parser.parse_args(argv)
    try:
        # the guard checks what was opened (a file, or a loop device over one) and hands the descriptor on
        with os.fdopen(open_guarded(args.image, write=args.repair), "r+b" if args.repair else "rb") as f:
            if args.repair:
                print(repair_gpt(f, args.sector_size or _sector_size(f)))
                return 0
            table = read_table(f, args.sector_size)
    except (ValueError, OSError) as exc:
        print(printable(f"partition_table.py: {args.image}: {exc}"), file=sys.stderr)
        return 2
    bad = {k: v for k, v in table.copies.items() if v != "ok"}
    if args.check:
        if table.label != "gpt":
            print(f"{args.image}: MBR (dos) table, {len(table.partitions)} partitions, no GPT copies")
        for copy, state in table.copies.items():
            print(f"{copy}: {state}")
        for text in table.notes.warnings:
            if text not in (PRIMARY_CORRUPT, BACKUP_CORRUPT):      # already said on the lines above
                print(f"warning: {text}")
        return 1 if bad or table.notes.warnings else 0
    # what sfdisk says besides the table: info lines before it, warnings on stderr
    for text in table.notes.warnings:
        print(text, file=sys.stderr)
    for text in table.notes.infos:
        print(text)
    sys.stdout.flush()
    sys.stdout.buffer.write(sfdisk_json(table, args.image))
    return 0


if __name__ == "__main__":
    sys.exit(main())
