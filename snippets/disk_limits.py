"""Partition-table limits and partition alignment, computed from first principles.

This module answers two interview questions with arithmetic instead of folklore:

* How big can a disk (or a partition) be under MBR and under GPT?  MBR stores
  start and size as 32-bit sector counts, GPT as 64-bit LBAs, so the limit is
  2^32 or 2^64 *sectors*; in bytes it depends on the logical sector size
  (512 or 4096).  The old CHS fields of an MBR entry stop much earlier.
* Is a partition aligned?  A start LBA is aligned when its byte offset is a
  multiple of the physical sector (4 KiB on 512e and 4Kn drives) and, as the
  partitioning tools do by default, of 1 MiB.

>>> human(mbr_limit_bytes(512)), human(mbr_limit_bytes(4096))
('2 TiB', '16 TiB')
>>> human(gpt_limit_bytes(512)), human(gpt_limit_bytes(4096))
('8 ZiB', '64 ZiB')
>>> check_alignment(63, logical=512, physical=4096)["physical_aligned"]
False
>>> mbr_limit_bytes(1000)
Traceback (most recent call last):
...
ValueError: logical sector size 1000 is not supported: use 512, 1024, 2048 or 4096 bytes
"""
from __future__ import annotations

import argparse
import re
import sys

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _check_sector(size: int, what: str = "logical sector size") -> int:
    if type(size) is not int or size not in SECTOR_SIZES:
        raise ValueError(f"{what} {size} is not supported: use 512, 1024, 2048 or 4096 bytes")
    return size


def human(nbytes: int) -> str:
    """Binary units, exact when the value is a power-of-two multiple: 2199023255552 -> '2 TiB'.

    >>> human(8422686720)
    '7.84 GiB'
    """
    if not isinstance(nbytes, int):
        raise ValueError(f"byte count {nbytes!r} is not a whole number")
    if nbytes < 0:
        raise ValueError(f"byte count {nbytes} is negative: use 0 or more")
    if nbytes >= 1 << 100:                       # float() of a longer number overflows
        raise ValueError(f"byte count of {nbytes.bit_length()} bits is too large: accepted below 2**100")
    value = float(nbytes)
    unit = 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} {UNITS[unit]}"


# --8<-- [start:limits]
SECTOR_SIZES = (512, 1024, 2048, 4096)
MIB = 1024 * 1024
MAX_U32 = 2 ** 32 - 1                        # the widest value of a 32-bit field
MAX_LBA = 2 ** 64 - 1                        # the largest GPT LBA


def mbr_limit_bytes(sector_size: int = 512) -> int:
    """Bytes addressable by an MBR entry: 32-bit LBA fields -> 2^32 sectors.

    LBAs 0 .. 2^32-1 can be named, so 2^32 sectors; fdisk warns about disks of
    more than 2^32-1 sectors ("DOS partition table format cannot be used on
    drives for volumes larger than 2199023255040 bytes for 512-byte sectors").
    """
    return 2 ** 32 * _check_sector(sector_size)


def gpt_limit_bytes(sector_size: int = 512) -> int:
    """Bytes addressable by GPT: 64-bit LBAs -> 2^64 sectors."""
    return 2 ** 64 * _check_sector(sector_size)


def chs_limit_bytes(sector_size: int = 512) -> int:
    """The CHS fields of an MBR entry: 10-bit cylinder, 8-bit head (0-254 used), 6-bit sector (1-63)."""
    return 1024 * 255 * 63 * _check_sector(sector_size)


def gpt_entry_array(entries: int = 128, entry_size: int = 128, sector_size: int = 512) -> dict:
    """Size of a GPT entry array and the first usable LBA that follows it.

    The UEFI specification asks for at least 16 KiB of entries: 128 entries of
    128 bytes.  LBA 0 is the protective MBR, LBA 1 the header, the array starts
    at LBA 2.
    """
    _check_sector(sector_size)
    if not 1 <= entries <= MAX_U32 or not 128 <= entry_size <= MAX_U32 or entry_size % 8:
        raise ValueError(f"entries={entries}, entry_size={entry_size}: use 1 .. {MAX_U32} entries "
                         f"and an entry size of at least 128 bytes, a multiple of 8 (both are "
                         "32-bit header fields)")
    nbytes = entries * entry_size
    sectors = -(-nbytes // sector_size)          # round up
    return {"bytes": nbytes, "sectors": sectors, "first_usable_lba": 2 + sectors}
# --8<-- [end:limits]


def lba_to_chs(lba: int, heads: int = 255, sectors: int = 63) -> tuple[int, int, int]:
    """Cylinder/head/sector of an LBA; beyond cylinder 1023 the fields saturate at 1023/254/63.

    >>> lba_to_chs(2048)
    (0, 32, 33)
    >>> lba_to_chs(2 ** 31)
    (1023, 254, 63)
    """
    if type(lba) is not int or lba < 0 or lba >= 2 ** 32:
        raise ValueError(f"LBA {lba!r:.40} does not fit an MBR entry: use 0 .. 4294967295")
    if type(heads) is not int or type(sectors) is not int or \
            not 1 <= heads <= 255 or not 1 <= sectors <= 63:
        raise ValueError(f"geometry {heads} heads x {sectors} sectors: use 1 .. 255 heads and "
                         "1 .. 63 sectors per track (8 and 6 bits in the CHS fields)")
    per_cylinder = heads * sectors
    if lba // per_cylinder > 1023:
        lba = per_cylinder * 1024 - 1
    return lba // per_cylinder, (lba // sectors) % heads, lba % sectors + 1


def chs_bytes(lba: int, heads: int = 255, sectors: int = 63) -> bytes:
    """The 3 bytes stored in an MBR entry: head, sector | cylinder bits 8-9, cylinder bits 0-7."""
    c, h, s = lba_to_chs(lba, heads, sectors)
    return bytes([h, (s & 0x3F) | ((c >> 2) & 0xC0), c & 0xFF])


# --8<-- [start:align]
DRIVE_KINDS = {"512n": (512, 512), "512e": (512, 4096), "4Kn": (4096, 4096)}


def check_alignment(start_lba: int, logical: int = 512, physical: int = 4096,
                    grain: int = MIB) -> dict:
    """Is a partition starting at start_lba aligned to the physical sector and to 1 MiB?

    >>> r = check_alignment(2048, logical=512, physical=4096)
    >>> r["offset"], r["physical_aligned"], r["mib_aligned"]
    (1048576, True, True)
    >>> check_alignment(63)["offset"] % 4096      # the old DOS start, 63 x 512 B
    3584
    """
    _check_alignment_args(start_lba, logical, physical, grain)     # whole numbers, sector sizes
    if physical % logical or physical > 65536:
        raise ValueError(f"physical sector {physical} must be a multiple of the logical sector "
                         f"{logical} and at most 65536 bytes")
    if not 0 <= start_lba <= MAX_LBA:
        raise ValueError(f"start LBA {start_lba} is outside 0 .. {MAX_LBA} (a GPT LBA is 64 bits)")
    if grain <= 0 or grain % logical:
        raise ValueError(f"alignment grain {grain} must be a positive multiple of the logical "
                         f"sector {logical}")
    offset = start_lba * logical
    next_lba = -(-offset // grain) * grain // logical
    if next_lba > MAX_LBA:
        next_lba = None                      # no boundary left before the last 64-bit LBA
    return {
        "offset": offset,
        "physical_aligned": offset % physical == 0,
        "mib_aligned": offset % grain == 0,
        # a 4 KiB write at this offset touches this many physical sectors
        "physical_sectors_per_4k_write": (offset % physical + 4096 + physical - 1) // physical,
        "next_aligned_lba": next_lba,
    }
# --8<-- [end:align]


def _check_alignment_args(start_lba: int, logical: int, physical: int, grain: int) -> None:
    _check_sector(logical)
    for name, value in (("start LBA", start_lba), ("physical sector", physical), ("alignment grain", grain)):
        if type(value) is not int:
            raise ValueError(f"{name} {value!r:.40} must be a whole number")
    if physical <= 0:
        raise ValueError(f"physical sector {physical} must be a positive multiple of the logical "
                         f"sector {logical}")


def _whole_number(what: str, low: int, high: int, allowed: tuple[int, ...] = ()):
    """An argparse type: a decimal whole number in low..high (and in `allowed`, if given),
    or a message that names the accepted values; argparse prints it and exits 2."""
    accepted = (", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}") if allowed else f"{low} to {high}"

    def parse(text: str) -> int:
        digits = text.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", digits):
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r} is not a whole number: give a {what}: {accepted}")
        if len(digits.lstrip("+-").lstrip("0")) > 30:       # far out of range: do not even convert
            raise argparse.ArgumentTypeError(f"{digits[:40]}... is out of range: give a {what}: {accepted}")
        value = int(digits, 10)
        if value < 0 <= low:
            raise argparse.ArgumentTypeError(f"{value} is negative: give a {what}: {accepted}")
        if not low <= value <= high or (allowed and value not in allowed):
            raise argparse.ArgumentTypeError(f"{value} is not accepted: give a {what}: {accepted}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    lim = sub.add_parser("limits", help="MBR, CHS and GPT limits for a sector size")
    lim.add_argument("--sector-size", type=_whole_number("logical sector size in bytes", 512, 4096,
                                                         SECTOR_SIZES),
                     default=512, help="512, 1024, 2048 or 4096")
    al = sub.add_parser("align", help="check a partition start LBA")
    al.add_argument("start", type=_whole_number("start LBA", 0, MAX_LBA))
    al.add_argument("--kind", choices=sorted(DRIVE_KINDS), default="512e")
    args = parser.parse_args(argv)          # bad arguments: argparse prints the message, exits 2
    try:
        if args.cmd == "limits":
            ss = args.sector_size
            print(f"MBR (2^32 sectors x {ss} B): {human(mbr_limit_bytes(ss))}")
            print(f"CHS (1024 x 255 x 63 x {ss} B): {human(chs_limit_bytes(ss))}")
            print(f"GPT (2^64 sectors x {ss} B): {human(gpt_limit_bytes(ss))}")
            arr = gpt_entry_array(sector_size=ss)
            print(f"GPT entry array: 128 x 128 B = {arr['bytes']} B = {arr['sectors']} sectors, "
                  f"first usable LBA {arr['first_usable_lba']}")
        else:
            logical, physical = DRIVE_KINDS[args.kind]
            r = check_alignment(args.start, logical, physical)
            print(f"{args.kind}: start LBA {args.start} = byte {r['offset']}; "
                  f"physical {'aligned' if r['physical_aligned'] else 'MISALIGNED'}, "
                  f"1 MiB {'aligned' if r['mib_aligned'] else 'not aligned'}; "
                  + (f"next 1 MiB boundary at LBA {r['next_aligned_lba']}"
                     if r["next_aligned_lba"] is not None else "no later 1 MiB boundary below LBA 2^64"))
    except ValueError as exc:
        print(f"disk_limits.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
