"""What each step from a raw disk to a usable filesystem writes, byte by byte.

A raw disk is just numbered sectors.  Partitioning writes a table (here an MBR:
four 16-byte entries at byte 446 and the signature 55 AA at byte 510);
`mkfs.ext4` writes a superblock whose magic number 0xEF53 sits 1080 bytes into
the filesystem (superblock at 1024, field s_magic at offset 0x38); mounting
writes nothing on its own until files are written.  This module reads those
fields back from an image file so a reader can watch each step land.

>>> import os, tempfile
>>> img = os.path.join(tempfile.mkdtemp(), "disk.img")
>>> create_image(img, 64 * MiB)
>>> inspect(img)["mbr_signature"] is None        # a new disk is all zeros
True
>>> write_mbr(img, [(2048, 129024, 0x83)])       # one Linux partition from 1 MiB
>>> inspect(img)["partitions"]
[{'slot': 1, 'boot': False, 'type': '0x83', 'start_lba': 2048, 'sectors': 129024}]
>>> write_mbr(img, [(1, 10, 0x83), (5, 10, 0x83)])
Traceback (most recent call last):
...
ValueError: partitions 1 and 2 overlap (sectors 1-10 and 5-14)
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import uuid

from safety import open_guarded, printable

MiB = 1024 * 1024
SECTOR = 512


def create_image(path: str, size: int) -> None:
    """Make a sparse, all-zero image file: our stand-in for a raw disk."""
    if not isinstance(size, int) or size <= 0 or size % SECTOR or size > 2**63 - 1:
        raise ValueError(f"image size must be a positive multiple of {SECTOR} bytes "
                         f"(up to 8 EiB), got {size!r}")
    fd = open_guarded(path, create=True)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


# --8<-- [start:mbr]
MBR_TABLE = 446          # 4 entries x 16 bytes follow the 446-byte boot code area
MBR_SIGNATURE = 510      # bytes 510-511 must be 55 AA


def write_mbr(path: str, parts: list[tuple[int, int, int]], boot: int | None = None) -> None:
    """Write a DOS/MBR table: parts are (start_lba, sectors, type) for slots 1-4.

    Each 16-byte entry: status (0x80 = bootable), CHS start (3 bytes), type,
    CHS end (3 bytes), LBA start (u32 LE), sector count (u32 LE).  CHS fields
    are filled with the 'LBA only' marker FE FF FF, as modern tools do.
    """
    if len(parts) > 4:
        raise ValueError(f"an MBR holds at most 4 primary entries, got {len(parts)}")
    # the guard opens first and checks what it opened (an image file, or a loop device over one)
    with os.fdopen(open_guarded(path, write=True), "r+b") as f:
        disk_sectors = f.seek(0, os.SEEK_END) // SECTOR
        spans = []
        for i, (start, count, ptype) in enumerate(parts, 1):
            if not all(isinstance(v, int) for v in (start, count, ptype)):
                raise ValueError(f"partition {i}: start, size and type must be whole numbers, "
                                 f"got {(start, count, ptype)!r}")
            if start < 1 or count < 1:
                raise ValueError(f"partition {i}: start must be >= 1 and size >= 1 sector")
            if start + count > min(disk_sectors, 2**32):
                raise ValueError(f"partition {i} ends past the disk or past 2^32 sectors")
            if not 0 < ptype < 256:
                raise ValueError(f"partition {i}: type must be 1-255, got {ptype}")
            for j, (s2, e2) in enumerate(spans, 1):
                if start <= e2 and s2 <= start + count - 1:
                    raise ValueError(f"partitions {j} and {i} overlap (sectors {s2}-{e2} "
                                     f"and {start}-{start + count - 1})")
            spans.append((start, start + count - 1))
        table = b""
        for i, (start, count, ptype) in enumerate(parts, 1):
            status = 0x80 if boot == i else 0x00
            table += struct.pack("<B3sB3sII", status, b"\xfe\xff\xff", ptype,
                                 b"\xfe\xff\xff", start, count)
        f.seek(MBR_TABLE)
        f.write(table.ljust(64, b"\0") + b"\x55\xaa")
# --8<-- [end:mbr]


# --8<-- [start:inspect]
EXT4_MAGIC_OFFSET = 1024 + 0x38   # superblock at byte 1024, s_magic at 0x38 -> 1080
EXT4_MAX_LOG_BLOCK = 6            # EXT4_MAX_BLOCK_LOG_SIZE 16 - EXT4_MIN_BLOCK_LOG_SIZE 10


def read_mbr(sector0: bytes) -> list[dict]:
    """Decode the four primary entries of an MBR sector (empty slots skipped)."""
    if len(sector0) < 512:
        raise ValueError(f"an MBR sector has 512 bytes, got {len(sector0)}")
    out = []
    for slot in range(4):
        raw = sector0[MBR_TABLE + 16 * slot: MBR_TABLE + 16 * (slot + 1)]
        status, _, ptype, _, start, count = struct.unpack("<B3sB3sII", raw)
        if ptype:
            out.append({"slot": slot + 1, "boot": status == 0x80, "type": hex(ptype),
                        "start_lba": start, "sectors": count})
    return out


def read_ext4(fs: bytes) -> dict | None:
    """Read a few ext4 superblock fields from the first 2 KiB of a filesystem."""
    if len(fs) < 2048 or struct.unpack_from("<H", fs, EXT4_MAGIC_OFFSET)[0] != 0xEF53:
        return None
    sb = fs[1024:2048]
    blocks_lo, = struct.unpack_from("<I", sb, 0x04)
    log_block, = struct.unpack_from("<I", sb, 0x18)
    if log_block > EXT4_MAX_LOG_BLOCK:          # the kernel: "Invalid log block size" (ext4_fill_super)
        raise ValueError(f"ext4 superblock field s_log_block_size is {log_block}: block size "
                         f"1024 << {log_block} is invalid (accepted: 0..{EXT4_MAX_LOG_BLOCK}, "
                         "1 KiB to 64 KiB blocks)")
    label = sb[0x78:0x88].rstrip(b"\0").decode("utf-8", "replace")
    return {"magic": "0xef53", "block_size": 1024 << log_block, "blocks": blocks_lo,
            "uuid": str(uuid.UUID(bytes=sb[0x68:0x78])), "label": label}


def inspect(path: str) -> dict:
    """What the partition-table and mkfs steps left on the image."""
    with os.fdopen(open_guarded(path), "rb") as f:
        sector0 = f.read(SECTOR)
        result: dict = {"mbr_signature": None, "partitions": [], "filesystems": {}}
        if sector0[MBR_SIGNATURE:MBR_SIGNATURE + 2] != b"\x55\xaa":
            f.seek(0)
            fs = read_ext4(f.read(2048))           # a filesystem on the whole disk?
            if fs:
                result["filesystems"]["whole disk"] = fs
            return result
        result["mbr_signature"] = "55aa"
        result["partitions"] = read_mbr(sector0)
        for p in result["partitions"]:
            f.seek(p["start_lba"] * SECTOR)
            fs = read_ext4(f.read(2048))
            if fs:
                result["filesystems"][p["slot"]] = fs
    return result
# --8<-- [end:inspect]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Show the MBR and ext4 superblock fields of an image file.")
    ap.add_argument("image")
    args = ap.parse_args(argv)
    try:
        print(json.dumps(inspect(args.image), indent=2, ensure_ascii=False))
    except (ValueError, OSError) as e:
        print(printable(f"rawdisk.py: {e}"), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
