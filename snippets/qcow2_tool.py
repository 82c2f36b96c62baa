
"""The twin of QEMU's tools for qcow2 and raw images, built on the reader ``qcow2.py``.

``qcow2.py`` is the format (header, L1/L2 lookup, refcounts, snapshots, the
backing chain); this module prints what QEMU 7.2's tools print about an image
(Debian 12):

* ``python snippets/qcow2_tool.py IMAGE`` prints the same JSON as
  ``qemu-img info --output=json IMAGE`` (same keys, same key order, same
  indentation), for raw files and for qcow2 v2 (compat 0.10) and v3 (compat 1.1).
* ``python snippets/qcow2_tool.py read IMAGE OFFSET LENGTH`` prints the guest
  bytes like ``qemu-io -r -c "read -v OFFSET LENGTH" IMAGE`` (the hex dump lines).
* ``python snippets/qcow2_tool.py map IMAGE`` prints the allocation map like
  ``qemu-img map --output=json IMAGE`` (which layer of the chain answers, data or
  zeros, the host offset), following QEMU's block-status rules.
* ``python snippets/qcow2_tool.py check IMAGE`` recounts every reference and prints
  what ``qemu-img check IMAGE`` prints (stdout, stderr, exit status), without repairing.

``qemu-img info`` of QEMU 7.2 prints no ``children`` key, so neither do we.

On top of the reader's checks, ``open_image`` probes the format by its magic
number as QEMU does (a VMDK file is named, not read as raw) and makes the
open-time checks the reader leaves out: the bitmap directory
(``qcow2-bitmap.c``) and the LUKS header (``crypto/block-luks.c``).  Encrypted
images: ``info`` prints what qemu-img prints without the key (for LUKS the
whole LUKS header: algorithms, key slots, offsets); ``read``, ``map`` and
``check`` refuse, because the data is ciphertext and qemu-img needs the key.

>>> import os, tempfile
>>> from qcow2 import make_qcow2
>>> path = make_qcow2(os.path.join(tempfile.mkdtemp(), "d.qcow2"), 1 << 20, {0: b"hi"})
>>> with open_image(path) as img:
...     print(check(img).report())
...     print(map_json(img))
No errors were found on the image.
1/16 = 6.25% allocated, 0.00% fragmented, 0.00% compressed clusters
Image end offset: 393216
[{ "start": 0, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": 327680},
{ "start": 65536, "length": 983040, "depth": 0, "present": false, "zero": true, "data": false}]
"""
from __future__ import annotations

import argparse
import bisect
import os
import re
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from qcow2 import (AUTOCLEAR_BITMAPS, AUTOCLEAR_DATA_FILE_RAW, CACHE_BYTES, COMPAT_LAZY_REFCOUNTS,
                   COMPRESSION_TYPES, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY,
                   L2_COMPRESSED, L2_COPIED, L2_ZERO, MAX_L1_SIZE, OFFSET_MASK, QCOW_MAGIC,
                   Qcow2Image, RawImage, Snapshot, c_hex, c_string, check_range, path_combine,
                   read_at)
from qcow2 import open_image as open_reader
from safety import open_guarded, printable

# QEMU's limits for persistent bitmaps (block/qcow2.h)
MAX_BITMAPS = 65535
MAX_BITMAP_DIRECTORY_SIZE = 1024 * MAX_BITMAPS


# --------------------------------------------------------------- opening like qemu-img
def probe_format(head: bytes) -> str:
    """QEMU's format probe, reduced to the magic numbers of the formats qemu-img creates.

    A file that matches none is raw, which is what QEMU concludes too.

    >>> probe_format(QCOW_MAGIC + b"\\0\\0\\0\\3"), probe_format(b"KDMV"), probe_format(bytes(512))
    ('qcow2', 'vmdk', 'raw')
    """
    if head[:4] == QCOW_MAGIC:                 # qcow2 claims version >= 2, qcow version 1
        version = int.from_bytes(head[4:8].ljust(4, b"\0"), "big")
        if version:
            return "qcow" if version == 1 else "qcow2"
    magics = ((b"LUKS\xba\xbe", "luks"), (b"KDMV", "vmdk"), (b"# Disk DescriptorFile", "vmdk"),
              (b"conectix", "vpc"), (b"vhdxfile", "vhdx"), (b"QED\0", "qed"),
              (b"WithoutFreeSpace", "parallels"), (b"WithouFreSpacExt", "parallels"))
    for magic, name in magics:
        if head.startswith(magic):
            return name
    if head[64:68] == b"\x7f\x10\xda\xbe":           # VirtualBox: 0xbeda107f little endian
        return "vdi"
    return "raw"


def _only_qcow2_or_raw(path: str, fmt: str) -> None:
    if fmt not in ("qcow2", "raw"):
        raise ValueError(f"{path} is a {fmt} image (qemu-img info reports \"format\": \"{fmt}\"); "
                         "this reader handles qcow2 and raw only (accepted: qcow2, raw)")


def open_image(path: str, fmt: str | None = None, *, open_backing: bool = True,
               allow_backing: bool = False) -> Any:
    """Open an image as qemu-img does: ``qcow2.open_image`` after QEMU's format probe, then
    QEMU's open-time checks of the bitmap directory and the LUKS header, image by image down
    the backing chain (a backing file without a recorded format is probed too)."""
    fd = open_guarded(path)
    try:
        fmt = probe_format(os.pread(fd, 512, 0)) if fmt is None else fmt
        _only_qcow2_or_raw(path, fmt)
    except BaseException:
        os.close(fd)
        raise
    img = open_reader(path, fmt, open_backing=open_backing, allow_backing=allow_backing, fd=fd)
    try:
        layer = img
        while isinstance(layer, Qcow2Image):
            read_bitmaps(layer)
            encryption_info(layer)
            below = layer.backing
            if below is not None and layer.backing_format is None:
                _only_qcow2_or_raw(below.path, probe_format(os.pread(below.fd, 512, 0)))
            layer = below
    except BaseException:
        img.close()
        raise
    return img


# --------------------------------------------------------------- persistent bitmaps
@dataclass
class Bitmap:
    """A persistent dirty bitmap's directory entry (qcow2.txt, "Bitmap directory")."""

    name: str
    granularity: int
    flags: int
    table_offset: int = 0
    table_size: int = 0            # entries of 8 bytes


def read_bitmaps(img: Qcow2Image) -> tuple[tuple[int, int], list[Bitmap]]:
    """Extension 0x23852875, the directory of persistent dirty bitmaps: its (offset, size)
    and its entries, checked as QEMU checks them when it opens the image."""
    h, data = img.header, img.bitmaps_extension
    if data is None:
        return (0, 0), []
    if len(data) != 24:
        raise ValueError(f"bitmaps_ext: Invalid extension length {len(data)} (accepted: 24)")
    if not h.autoclear_features & AUTOCLEAR_BITMAPS:
        # a program without bitmap support wrote the image: QEMU ignores the bitmaps
        return (0, 0), []
    nb, reserved, dir_size, dir_off = struct.unpack(">IIQQ", data)
    if reserved:
        raise ValueError("bitmaps_ext: Reserved field is not zero")
    if nb > MAX_BITMAPS:
        raise ValueError(f"bitmaps_ext: Image has {nb} bitmaps, exceeding the QEMU supported "
                         f"maximum of {MAX_BITMAPS}")
    if nb == 0:
        raise ValueError("found bitmaps extension with zero bitmaps")
    if dir_off % h.cluster_size:
        raise ValueError(f"bitmaps_ext: invalid bitmap directory offset {dir_off:#x} "
                         "(accepted: a multiple of the cluster size)")
    if dir_size > MAX_BITMAP_DIRECTORY_SIZE:
        raise ValueError(f"bitmaps_ext: bitmap directory size ({dir_size}) exceeds the maximum "
                         f"supported size ({MAX_BITMAP_DIRECTORY_SIZE})")
    return (dir_off, dir_size), _read_bitmap_directory(img, dir_off, dir_size, nb)


def _read_bitmap_directory(img: Qcow2Image, offset: int, size: int, count: int) -> list[Bitmap]:
    """Bitmap directory entries, checked as QEMU checks them when it opens the image."""
    if size == 0:
        raise ValueError("Requested bitmap directory size is zero")
    try:
        raw = read_at(img.fd, offset, size)
    except ValueError as exc:
        raise ValueError(f"Failed to read bitmap directory: {exc}") from None
    out: list[Bitmap] = []
    pos = 0
    while pos < size:
        if pos + 24 > size:
            raise ValueError("Broken bitmap directory: an entry runs past its end")
        if len(out) == count:
            raise ValueError("More bitmaps found than specified in header extension")
        tbl, tbl_size, flags, btype, gbits, name_size, extra = struct.unpack_from(">QIIBBHI", raw, pos)
        nxt = pos + ((24 + name_size + extra + 7) & ~7)
        if nxt > size:
            raise ValueError("Broken bitmap directory: an entry runs past its end")
        if extra:
            raise ValueError("Bitmap extra data is not supported")
        name = c_string(raw[pos + 24:pos + 24 + name_size])      # QEMU: g_strndup()
        bm = Bitmap(name, 1 << gbits, flags, tbl, tbl_size)
        _check_bitmap(img, bm, btype, gbits, name_size)
        out.append(bm)
        pos = nxt
    if len(out) != count:
        raise ValueError("Less bitmaps found than specified in header extension")
    return out


def _check_bitmap(img: Qcow2Image, bm: Bitmap, btype: int, gbits: int, name_size: int) -> None:
    """QEMU's check_dir_entry(), then the table check it makes while loading the bitmap."""
    cs = img.header.cluster_size
    phys = bm.table_size * cs
    broken = (bm.table_size == 0 or bm.table_offset == 0 or bm.table_offset % cs
              or bm.table_size > 0x8000000 or not 9 <= gbits <= 31 or bm.flags & ~3
              or name_size > 1023 or btype != 1 or phys > 0x20000000
              or (not bm.flags & 1 and img.size > (phys * 8) << gbits))
    if broken:
        raise ValueError(f"Bitmap '{bm.name}' doesn't satisfy the constraints (table at "
                         f"{bm.table_offset:#x}, {bm.table_size} entries, granularity 2^{gbits}, "
                         f"type {btype}, flags {bm.flags:#x})")
    if bm.flags & 1:
        return                  # "in use": its data is not trusted, so QEMU does not load it
    try:
        table = img.read_table(bm.table_offset, bm.table_size)
    except ValueError as exc:
        raise ValueError(f"Could not read bitmap_table table from image for bitmap "
                         f"'{bm.name}': {exc}") from None
    for entry in table:
        if entry & 0xFF000000000001FE or (entry & OFFSET_MASK and (entry & 1 or entry % cs)):
            raise ValueError(f"Could not read bitmap_table table from image for bitmap "
                             f"'{bm.name}': Invalid argument (entry {entry:#x})")
    # one bit per granule, serialized in 64-bit words, stored in whole clusters
    words = -(-img.size // bm.granularity) // 64 if img.size else 0
    words += 1 if img.size and -(-img.size // bm.granularity) % 64 else 0
    if -(-words * 8 // cs) != bm.table_size:
        raise ValueError(f"Could not read bitmap '{bm.name}' from image: Invalid argument "
                         f"(its table has {bm.table_size} entries, the disk needs "
                         f"{-(-words * 8 // cs)})")


# --------------------------------------------------------------- LUKS header
# --8<-- [start:luks]
# LUKS1 on-disk header (cryptsetup's "LUKS On-Disk Format Specification" 1.2.x), big endian:
# magic, version, cipher name, cipher mode, hash, payload offset (sectors), key bytes,
# master key digest, salt and iterations, UUID, then 8 key slots of 48 bytes each.
LUKS_MAGIC = b"LUKS\xba\xbe"
LUKS_HEADER_SIZE = 592
LUKS_SLOT_ENABLED, LUKS_SLOT_DISABLED = 0x00AC71F3, 0x0000DEAD
LUKS_CIPHERS = {"aes": (16, 24, 32), "serpent": (16, 24, 32), "twofish": (16, 24, 32), "cast5": (16,)}
LUKS_MODES = ("ecb", "cbc", "xts", "ctr")
LUKS_IVGENS = ("plain", "plain64", "essiv")
LUKS_HASHES = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160")


def luks_info(buf: bytes) -> dict[str, Any]:
    """The ``encrypt`` object ``qemu-img info`` prints for a LUKS-encrypted qcow2.

    Nothing here needs the passphrase: names, iteration counts and offsets are
    stored in clear; only the key material (and the data) is encrypted.

    >>> hdr = bytearray(LUKS_HEADER_SIZE)
    >>> hdr[:8] = LUKS_MAGIC + b"\\x00\\x01"
    >>> hdr[8:11], hdr[40:51], hdr[72:78] = b"aes", b"xts-plain64", b"sha256"
    >>> struct.pack_into(">II", hdr, 104, 4040, 64)            # payload sector, key bytes
    >>> struct.pack_into(">I", hdr, 164, 1000)                 # master key PBKDF2 iterations
    >>> for i in range(8):
    ...     struct.pack_into(">II32xII", hdr, 208 + 48 * i, LUKS_SLOT_DISABLED, 0, 8 + 504 * i, 4000)
    >>> info = luks_info(bytes(hdr))
    >>> info["cipher-alg"], info["cipher-mode"], info["payload-offset"], info["slots"][1]
    ('aes-256', 'xts', 2068480, {'active': False, 'key-offset': 262144})
    >>> luks_info(bytes(592))
    Traceback (most recent call last):
    ...
    ValueError: Volume is not in LUKS format (magic b'\\x00\\x00\\x00\\x00\\x00\\x00', accepted: b'LUKS\\xba\\xbe')
    """
    if buf[:6] != LUKS_MAGIC:
        raise ValueError(f"Volume is not in LUKS format (magic {bytes(buf[:6])!r}, accepted: {LUKS_MAGIC!r})")
    version = struct.unpack_from(">H", buf, 6)[0]
    if version != 1:
        raise ValueError(f"LUKS version {version} is not supported (accepted: 1)")
    texts = []
    for start, what in ((8, "cipher name"), (40, "cipher mode"), (72, "hash spec")):
        field_ = buf[start:start + 32]
        if b"\0" not in field_:
            raise ValueError(f"LUKS header {what} is not NUL terminated")
        texts.append(field_.split(b"\0")[0].decode("ascii", "replace"))
    cipher_name, cipher_mode, hash_spec = texts
    payload, key_bytes = struct.unpack_from(">II", buf, 104)
    mk_iters = struct.unpack_from(">I", buf, 164)[0]
    uuid = buf[168:208].split(b"\0")[0].decode("ascii", "replace")
    slots = [struct.unpack_from(">II32xII", buf, 208 + 48 * i) for i in range(8)]
    # sanity checks of QEMU's qcrypto_block_luks_check_header(), in its order;
    # offsets count 512-byte sectors, the first 8 (4 KiB) belong to the header
    if payload < 8:
        raise ValueError("LUKS payload is overlapping with the header")
    if mk_iters == 0:
        raise ValueError("LUKS key iteration count is zero")

    def key_sectors(stripes: int) -> int:      # key material, rounded up to 4 KiB
        return -(-(-(-key_bytes * stripes // 512)) // 8) * 8

    for i, (active, iters, start, stripes) in enumerate(slots):
        if stripes != 4000:
            raise ValueError(f"Keyslot {i} is corrupted (stripes {stripes} != 4000)")
        if active not in (LUKS_SLOT_ENABLED, LUKS_SLOT_DISABLED):
            raise ValueError(f"Keyslot {i} state (active/disable) is corrupted")
        if active == LUKS_SLOT_ENABLED and iters == 0:
            raise ValueError(f"Keyslot {i} iteration count is zero")
        if start < 8:
            raise ValueError(f"Keyslot {i} is overlapping with the LUKS header")
        if start + key_sectors(stripes) > payload:
            raise ValueError(f"Keyslot {i} is overlapping with the encrypted payload")
        for j in range(i + 1, 8):
            start2, len2 = slots[j][2], key_sectors(slots[j][3])
            if start < start2 + len2 and start2 < start + key_sectors(stripes):
                raise ValueError(f"Keyslots {i} and {j} are overlapping in the header")
    # "xts-plain64", "cbc-essiv:sha256": <mode>-<iv generator>[:<iv hash>]
    mode, sep, ivgen = cipher_mode.partition("-")
    if not sep:
        raise ValueError(f"Unexpected cipher mode string format '{cipher_mode}'")
    ivgen, colon, ivhash = ivgen.partition(":")
    if colon and ivhash not in LUKS_HASHES:
        raise ValueError(f"Hash algorithm '{ivhash}' not supported (accepted: {', '.join(LUKS_HASHES)})")
    if mode not in LUKS_MODES:
        raise ValueError(f"Cipher mode '{mode}' not supported (accepted: {', '.join(LUKS_MODES)})")
    bytes_per_key = key_bytes // 2 if mode == "xts" else key_bytes   # XTS uses two keys
    if bytes_per_key not in LUKS_CIPHERS.get(cipher_name, ()):
        raise ValueError(f"Algorithm '{cipher_name}' with key size {bytes_per_key} bytes not supported "
                         "(accepted: aes, serpent, twofish with 16/24/32, cast5 with 16)")
    if hash_spec not in LUKS_HASHES:
        raise ValueError(f"Hash algorithm '{hash_spec}' not supported (accepted: {', '.join(LUKS_HASHES)})")
    if ivgen not in LUKS_IVGENS:
        raise ValueError(f"IV generator '{ivgen}' not supported (accepted: {', '.join(LUKS_IVGENS)})")
    if ivgen == "essiv":
        if not colon:
            raise ValueError("Missing IV generator hash specification (accepted: essiv:<hash>)")
        # ESSIV encrypts the sector number with the hash of the key: a cipher of that key size
        digest = {"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48,
                  "sha512": 64, "ripemd160": 20}[ivhash]
        if digest != bytes_per_key and cipher_name == "cast5":
            raise ValueError("Cipher cast5-128 not supported with essiv")
        if digest != bytes_per_key and digest not in (16, 24, 32):
            label = {"aes": "AES", "serpent": "Serpent", "twofish": "Twofish"}[cipher_name]
            raise ValueError(f"No {label} cipher with key size {digest} available")
    # QAPI's QCryptoBlockInfoLUKS, fields in the schema's order
    info: dict[str, Any] = {"format": "luks", "cipher-alg": f"{cipher_name}-{bytes_per_key * 8}",
                            "cipher-mode": mode, "ivgen-alg": ivgen}
    if ivgen == "essiv":
        info["ivgen-hash-alg"] = ivhash
    info.update({"hash-alg": hash_spec, "payload-offset": payload * 512,
                 "master-key-iters": mk_iters, "uuid": uuid, "slots": []})
    for active, iters, key_sector, stripes in slots:
        slot: dict[str, Any] = {"active": active == LUKS_SLOT_ENABLED}
        if slot["active"]:
            slot.update({"iters": iters, "stripes": stripes})
        slot["key-offset"] = key_sector * 512
        info["slots"].append(slot)
    return info
# --8<-- [end:luks]


def read_luks_header(img: Qcow2Image) -> bytes:
    """The LUKS header's bytes, where header extension 0x0537be77 says it lies."""
    assert img.crypto_header is not None
    offset, length = img.crypto_header
    if LUKS_HEADER_SIZE > length:
        raise ValueError(f"Request for data outside of extension header: the LUKS header needs "
                         f"{LUKS_HEADER_SIZE} bytes, the extension gives {length}")
    try:
        return read_at(img.fd, offset, LUKS_HEADER_SIZE)
    except ValueError as exc:
        raise ValueError(f"Could not read encryption header: {exc}") from None


def encryption_info(img: Qcow2Image) -> dict[str, Any] | None:
    """The ``encrypt`` object of ``qemu-img info`` for a LUKS image (checked like QEMU's open)."""
    return luks_info(read_luks_header(img)) if img.header.crypt_method == 2 else None


# --------------------------------------------------------------- qemu-img info
# --8<-- [start:json]
def qdict_bucket(key: str) -> int:
    """Bucket of ``key`` in QEMU's QDict (tdb_hash modulo 512, qobject/qdict.c).

    ``qemu-img info --output=json`` walks the buckets in order, and inside one
    bucket the most recently inserted key first, which is why its keys come out
    in an order that looks random but never changes.

    >>> qdict_bucket("virtual-size"), qdict_bucket("filename"), qdict_bucket("dirty-flag")
    (309, 313, 501)
    """
    value = (0x238F13AF * len(key)) & 0xFFFFFFFF
    for i, ch in enumerate(key.encode()):
        value = (value + (ch << (i * 5 % 24))) & 0xFFFFFFFF
    return ((1103515243 * value + 12345) & 0xFFFFFFFF) % 512


def _quote(s: str) -> str:
    """A JSON string the way QEMU's json-writer escapes it (\\uXXXX in capitals)."""
    out = ['"']
    simple = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    for ch in s:
        cp = ord(ch)
        if ch in simple:
            out.append(simple[ch])
        elif cp > 0xFFFF:
            cp -= 0x10000
            out.append(f"\\u{0xD800 + (cp >> 10):04X}\\u{0xDC00 + (cp & 0x3FF):04X}")
        elif cp < 0x20 or cp >= 0x7F:
            out.append(f"\\u{cp:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def qemu_json(value: Any, depth: int = 0) -> str:
    """Pretty JSON as QEMU prints it: 4-space indent, QDict key order, ``[\\n]`` when empty.

    >>> print(qemu_json({"format": "raw", "virtual-size": 512}))
    {
        "virtual-size": 512,
        "format": "raw"
    }
    """
    pad = "    " * (depth + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        keys = list(value)
        order = sorted(range(len(keys)), key=lambda i: (qdict_bucket(keys[i]), -i))
        items = [f"\n{pad}{_quote(keys[i])}: {qemu_json(value[keys[i]], depth + 1)}" for i in order]
        return "{" + ",".join(items) + "\n" + "    " * depth + "}"
    if isinstance(value, list):
        items = [f"\n{pad}{qemu_json(v, depth + 1)}" for v in value]
        return "[" + ",".join(items) + "\n" + "    " * depth + "]"
    raise ValueError(f"cannot encode {type(value).__name__} (accepted: bool, int, str, dict, list)")
# --8<-- [end:json]


def image_info_json(path: str) -> str:
    """What ``qemu-img info --output=json PATH`` prints (without the final newline)."""
    with open_image(path, open_backing=False) as img:
        return qemu_json(image_info(img))


def image_info(img: Any) -> dict[str, Any]:
    """The fields of ``qemu-img info``, inserted in QAPI's ImageInfo order."""
    st = os.fstat(img.fd)
    if isinstance(img, RawImage):
        return {"filename": img.path, "format": "raw", "dirty-flag": False,
                "actual-size": st.st_blocks * 512, "virtual-size": img.size}
    h = img.header
    luks = encryption_info(img)
    bitmaps = read_bitmaps(img)[1]
    out: dict[str, Any] = {"filename": img.path, "format": "qcow2",
                           "dirty-flag": bool(h.incompatible_features & INCOMPAT_DIRTY),
                           "actual-size": st.st_blocks * 512, "virtual-size": img.size,
                           "cluster-size": h.cluster_size}
    if h.crypt_method:
        out["encrypted"] = True
    if img.backing_file:
        out["backing-filename"] = img.backing_file
        out["full-backing-filename"] = path_combine(img.path, img.backing_file)
        if img.backing_format:
            out["backing-filename-format"] = img.backing_format
    if img.snapshots and not img.external:   # QEMU lists none with an external data file
        out["snapshots"] = [_snapshot_info(sn) for sn in img.snapshots]
    data: dict[str, Any]
    if h.version == 2:
        data = {"compat": "0.10", "refcount-bits": h.refcount_bits}
        if h.crypt_method == 1:
            data["encrypt"] = {"format": "aes"}
        elif luks is not None:
            data["encrypt"] = luks
    else:
        data = {"compat": "1.1"}
        if img.data_file_name is not None:
            data["data-file"] = img.data_file_name
        if h.incompatible_features & INCOMPAT_DATA_FILE:
            data["data-file-raw"] = bool(h.autoclear_features & AUTOCLEAR_DATA_FILE_RAW)
        data["extended-l2"] = h.extended_l2
        data["lazy-refcounts"] = bool(h.compatible_features & COMPAT_LAZY_REFCOUNTS)
        data["corrupt"] = bool(h.incompatible_features & INCOMPAT_CORRUPT)
        data["refcount-bits"] = h.refcount_bits
        if h.crypt_method == 1:
            data["encrypt"] = {"format": "aes"}
        elif luks is not None:
            data["encrypt"] = luks
        if bitmaps:
            data["bitmaps"] = [{"name": b.name, "granularity": b.granularity,
                                "flags": [f for bit, f in ((0, "in-use"), (1, "auto"))
                                          if b.flags >> bit & 1]}
                               for b in bitmaps]
    data["compression-type"] = COMPRESSION_TYPES[h.compression_type]
    out["format-specific"] = {"type": "qcow2", "data": data}
    return out


def _snapshot_info(sn: Snapshot) -> dict[str, Any]:
    d = {"id": sn.id, "name": sn.name, "vm-state-size": sn.vm_state_size,
         "date-sec": sn.date_sec, "date-nsec": sn.date_nsec,
         "vm-clock-sec": sn.vm_clock_nsec // 10**9, "vm-clock-nsec": sn.vm_clock_nsec % 10**9}
    if sn.icount is not None:
        d["icount"] = sn.icount
    return d


# --------------------------------------------------------------- qemu-img check
@dataclass
class CheckResult:
    """What ``qemu-img check`` reports: messages (its stderr), counters and statistics."""

    total_clusters: int
    messages: list[str] = field(default_factory=list)
    corruptions: int = 0
    leaks: int = 0
    allocated_clusters: int = 0
    fragmented_clusters: int = 0
    compressed_clusters: int = 0
    image_end_offset: int = 0

    def report(self) -> str:
        """The human-readable summary ``qemu-img check`` prints on stdout."""
        out = []
        if not (self.corruptions or self.leaks):
            out.append("No errors were found on the image.")
        if self.corruptions:
            out.append(f"\n{self.corruptions} errors were found on the image.\n"
                       "Data may be corrupted, or further writes to the image may corrupt it.")
        if self.leaks:
            out.append(f"\n{self.leaks} leaked clusters were found on the image.\n"
                       "This means waste of disk space, but no harm to data.")
        if self.total_clusters and self.allocated_clusters:
            a = self.allocated_clusters
            out.append(f"{a}/{self.total_clusters} = {a * 100.0 / self.total_clusters:.2f}% allocated, "
                       f"{self.fragmented_clusters * 100.0 / a:.2f}% fragmented, "
                       f"{self.compressed_clusters * 100.0 / a:.2f}% compressed clusters")
        if self.image_end_offset:
            out.append(f"Image end offset: {self.image_end_offset}")
        return "\n".join(out)

    @property
    def exit_status(self) -> int:
        """qemu-img check's exit status: 0 consistent, 2 corrupted, 3 only leaks."""
        return 2 if self.corruptions else 3 if self.leaks else 0


def nonzero_refcounts(img: Qcow2Image, block: int, cache: dict[int, list[int]]) -> list[int]:
    """Indexes of the entries of one refcount block that are not 0 (each block read once,
    through ``cache``, which is emptied when it holds CACHE_BYTES of blocks)."""
    found = cache.get(block)
    if found is None:
        if len(cache) * img.header.cluster_size >= CACHE_BYTES:
            cache.clear()
        data = read_at(img.fd, block, img.header.cluster_size)
        bits = img.header.refcount_bits
        if not data.count(0) - len(data):
            found = []
        elif bits >= 8:
            n = bits // 8
            zero = bytes(n)
            found = [i for i in range(len(data) // n) if data[i * n:(i + 1) * n] != zero]
        else:
            mask = (1 << bits) - 1
            found = [i for i in range(len(data) * 8 // bits)
                     if data[i * bits // 8] >> (i * bits % 8) & mask]
        cache[block] = found
    return found


# --8<-- [start:check]
def check(img: Qcow2Image) -> CheckResult:
    """Recount every reference, as ``qemu-img check`` does, and compare with the refcounts.

    Each structure adds 1 to the clusters it occupies: the header, every L1
    table (active and snapshots), every L2 table an L1 entry points to, every
    data cluster an L2 entry points to (a compressed cluster adds 1 to each
    cluster its sectors touch), the snapshot table, the refcount table and
    blocks, the bitmap directory, tables and data.  A stored refcount lower
    than the count is an ERROR (a later free would release a cluster still
    in use); a higher one is a leak (space that is never given back).

    A table that several entries point to is read once and its references
    counted that many times: the same counts as walking it again each time.
    """
    h = img.header
    cs, bits = h.cluster_size, h.cluster_bits
    file_clusters = -(-os.fstat(img.fd).st_size // cs)
    counted: dict[int, int] = {}
    res = CheckResult(total_clusters=-(-img.size // cs))

    def add(offset: int, length: int, times: int = 1) -> None:
        if length <= 0:
            return
        for c in range(offset >> bits, ((offset + length - 1) >> bits) + 1):
            counted[c] = counted.get(c, 0) + times

    l2_refs: dict[int, int] = {}           # L2 table -> references from all L1 tables
    active: dict[int, int] = {}            # ... from the active L1 table (for the statistics)

    def walk_l1(l1_offset: int, l1_size: int, times: int, refs: dict[int, int]) -> None:
        add(l1_offset, l1_size * 8, times)
        for l1_entry in img.read_table(l1_offset, l1_size):
            l2_offset = l1_entry & OFFSET_MASK
            if l2_offset:
                refs[l2_offset] = refs.get(l2_offset, 0) + times

    add(0, cs)                                               # the header cluster
    walk_l1(h.l1_table_offset, h.l1_size, 1, active)
    snapshot_l1s: dict[tuple[int, int], int] = {}
    for sn in img.snapshots:
        if sn.l1_table_offset % cs:                      # QEMU skips such an entry
            res.messages.append(f"ERROR snapshot {sn.id} ({sn.name}) l1_offset="
                                f"{c_hex(sn.l1_table_offset)}: L1 table is not cluster "
                                "aligned; snapshot table entry corrupted")
            res.corruptions += 1
            continue
        if sn.l1_size > MAX_L1_SIZE // 8:
            res.messages.append(f"ERROR snapshot {sn.id} ({sn.name}) l1_size="
                                f"{c_hex(sn.l1_size)}: L1 table is too large; snapshot "
                                "table entry corrupted")
            res.corruptions += 1
            continue
        key = (sn.l1_table_offset, sn.l1_size)
        snapshot_l1s[key] = snapshot_l1s.get(key, 0) + 1
    for (l1_offset, l1_size), times in snapshot_l1s.items():
        walk_l1(l1_offset, l1_size, times, l2_refs)
    for l2_offset, times in active.items():
        l2_refs[l2_offset] = l2_refs.get(l2_offset, 0) + times
    for l2_offset, times in l2_refs.items():
        add(l2_offset, cs, times)
        refs, stats = _l2_references(img, l2_offset)
        for host, length in refs:
            add(host, length, times)
        for name, value in zip(("allocated_clusters", "compressed_clusters",
                                "fragmented_clusters"), stats):
            setattr(res, name, getattr(res, name) + value * active.get(l2_offset, 0))
    add(h.snapshots_offset, img.snapshots_size)
    add(h.refcount_table_offset, h.refcount_table_clusters * cs)
    if img.crypto_header:                                   # the LUKS header and key slots
        add(*img.crypto_header)
    directory, bitmaps = read_bitmaps(img)
    if bitmaps:
        add(*directory)
        for bm in bitmaps:
            add(bm.table_offset, bm.table_size * 8)
            for entry in img.read_table(bm.table_offset, bm.table_size):
                if entry & OFFSET_MASK:
                    add(entry & OFFSET_MASK, cs)
    for block in img.refcount_table:
        if block & ~0x1FF:
            add(block & ~0x1FF, cs)
    # QEMU compares cluster 0, 1, 2 ... of the file; only clusters with a stored or a
    # counted reference can differ or be the last one in use
    per_block = cs * 8 // h.refcount_bits
    stored: set[int] = set()
    blocks: dict[int, list[int]] = {}                 # a block several entries name is read once
    for index, block in enumerate(img.refcount_table):
        if block & ~0x1FF and index * per_block < file_clusters:
            stored.update(index * per_block + i for i in nonzero_refcounts(img, block & ~0x1FF, blocks))
    highest = 0
    for c in sorted(c for c in stored.union(counted) if c < file_clusters):
        stored_rc, wanted = img.refcount(c << bits), counted.get(c, 0)
        if stored_rc or wanted:
            highest = c
        if stored_rc != wanted:
            kind = "ERROR" if stored_rc < wanted else "Leaked"
            res.messages.append(f"{kind} cluster {c} refcount={stored_rc} reference={wanted}")
            if stored_rc < wanted:
                res.corruptions += 1
            else:
                res.leaks += 1
    _check_copied_flags(img, res)
    res.image_end_offset = (highest + 1) * cs
    return res
# --8<-- [end:check]

def _l2_references(img: Qcow2Image, l2_offset: int) -> tuple[list[tuple[int, int]], tuple[int, int, int]]:
    """What one L2 table references: (host offset, length) per entry, and its statistics
    (allocated, compressed, fragmented clusters) as qemu-img check counts them."""
    h = img.header
    cs, bits = h.cluster_size, h.cluster_bits
    entry_size = 16 if h.extended_l2 else 8
    table = read_at(img.fd, l2_offset, cs)
    refs: list[tuple[int, int]] = []
    allocated = compressed = fragmented = 0
    if table.count(0) == len(table):
        return refs, (0, 0, 0)
    next_contiguous = 0
    for i in range(0, cs, entry_size):
        desc = struct.unpack_from(">Q", table, i)[0]
        if desc & L2_COMPRESSED:
            x = 62 - (bits - 8)
            host = desc & ((1 << x) - 1)
            sectors = ((desc >> x) & ((1 << (bits - 8)) - 1)) + 1
            refs.append((host & ~511, sectors * 512))
            allocated += 1
            compressed += 1
            fragmented += 1                 # compressed clusters count as fragmented
            continue
        host = desc & OFFSET_MASK
        if host == 0 and not (img.external and desc & L2_COPIED):
            continue                        # unallocated, or a zero cluster without space
        allocated += 1
        if next_contiguous and host != next_contiguous:
            fragmented += 1
        next_contiguous = host + cs
        if not img.external:
            refs.append((host, cs))
    return refs, (allocated, compressed, fragmented)


def _check_copied_flags(img: Qcow2Image, res: CheckResult) -> None:
    """Bit 63 of active L1 and L2 entries must be set exactly when the refcount is 1."""
    h = img.header
    entry_size = 16 if h.extended_l2 else 8
    per_table: dict[int, list[str]] = {}         # an L2 table's messages, found once
    for index, l1_entry in enumerate(img.l1):
        l2_offset = l1_entry & OFFSET_MASK
        if not l2_offset:
            continue
        rc = img.refcount(l2_offset)
        if (rc == 1) != bool(l1_entry & L2_COPIED):
            res.messages.append(f"ERROR OFLAG_COPIED L2 cluster: l1_index={index} "
                                f"l1_entry={l1_entry:x} refcount={rc}")
            res.corruptions += 1
        found = per_table.get(l2_offset)
        if found is None:
            found = per_table[l2_offset] = []
            table = read_at(img.fd, l2_offset, h.cluster_size)
            for i in range(0, h.cluster_size if table.count(0) != len(table) else 0, entry_size):
                desc = struct.unpack_from(">Q", table, i)[0]
                host = desc & OFFSET_MASK
                if desc & L2_COMPRESSED or (host == 0 and not (img.external
                                                               and desc & L2_COPIED)):
                    continue
                rc = 1 if img.external else img.refcount(host)
                if (rc == 1) != bool(desc & L2_COPIED):
                    found.append(f"ERROR OFLAG_COPIED data cluster: l2_entry={desc:x} "
                                 f"refcount={rc}")
        res.messages += found
        res.corruptions += len(found)


# --------------------------------------------------------------- qemu-img map
# Block status flags, as in QEMU's include/block/block-common.h.
BS_DATA, BS_ZERO, BS_OFFSET_VALID, BS_ALLOCATED, BS_EOF = 0x01, 0x02, 0x04, 0x10, 0x20


@dataclass
class MapEntry:
    """One line of ``qemu-img map``: a run of guest bytes with the same status."""

    start: int
    length: int
    depth: int = 0                  # how many backing levels down the answer came from
    present: bool = False           # allocated in some layer (data or a zero flag)
    zero: bool = False              # reads as zeros
    data: bool = False              # data is stored (not only a zero flag)
    offset: int | None = None    # host offset, when there is one
    filename: str | None = None  # the file holding `offset`

    def json(self) -> str:
        tail = f', "offset": {self.offset}' if self.offset is not None else ""
        b = {True: "true", False: "false"}
        return (f'{{ "start": {self.start}, "length": {self.length}, "depth": {self.depth}, '
                f'"present": {b[self.present]}, "zero": {b[self.zero]}, "data": {b[self.data]}{tail}}}')

    def mergeable(self, nxt: MapEntry) -> bool:
        if self.length == 0:
            return False
        same = ((self.zero, self.data, self.depth, self.present, self.filename, self.offset is None)
                == (nxt.zero, nxt.data, nxt.depth, nxt.present, nxt.filename, nxt.offset is None))
        if not same:
            return False
        return self.offset is None or self.offset + self.length == nxt.offset


class Layer:
    """One image of a backing chain, with what ``qemu-img map`` keeps while it walks it:
    each L2 table split into runs, the L1 entries that have an L2 table, the metadata
    preallocation guess."""

    def __init__(self, img: Any) -> None:
        self.img = img
        self.size = img.size
        below = getattr(img, "backing", None)
        self.backing = Layer(below) if below is not None else None
        self._runs: dict[int, tuple[list[int], list[tuple[int, int, str, int | None]]]] = {}
        self._l1_used: list[int] | None = None        # indexes of L1 entries with an L2 table
        self._nonzero: dict[int, list[int]] = {}
        self._prealloc: bool | None = None

    def classify(self, offset: int) -> tuple[str, int | None]:
        """QEMU's subcluster types: data, compressed, zero_plain, zero_alloc,
        unallocated_plain, unallocated_alloc; with the host offset where there is one."""
        img = self.img
        img.locate(offset)     # raises where QEMU finds the image corrupt (EIO in qemu-img map)
        h = img.header
        entry_size = 16 if h.extended_l2 else 8
        l2_entries = h.cluster_size // entry_size
        in_cluster = offset & (h.cluster_size - 1)
        l1_index, l2_index = divmod(offset >> h.cluster_bits, l2_entries)
        if l1_index >= len(img.l1) or not img.l1[l1_index] & OFFSET_MASK:
            return "unallocated_plain", None
        table = img.l2_table(img.l1[l1_index] & OFFSET_MASK)
        desc = struct.unpack_from(">Q", table, l2_index * entry_size)[0]
        if desc & L2_COMPRESSED:
            return "compressed", None
        host = desc & OFFSET_MASK
        where = host + in_cluster if host else None
        if h.extended_l2:
            bitmap = struct.unpack_from(">Q", table, l2_index * entry_size + 8)[0]
            sub = in_cluster // (h.cluster_size // 32)
            if bitmap >> (32 + sub) & 1:
                return ("zero_alloc" if host else "zero_plain"), where
            if bitmap >> sub & 1:
                return "data", where
            return ("unallocated_alloc" if host else "unallocated_plain"), where
        if h.version >= 3 and desc & L2_ZERO:
            return ("zero_alloc" if host else "zero_plain"), where
        if host == 0:
            return "unallocated_plain", None
        return "data", where

    def run(self, offset: int) -> tuple[str, int | None, int]:
        """``classify`` for the run of units that starts at ``offset``: (kind, host offset, bytes).

        The run goes on while the units (clusters, or subclusters with extended
        L2) have the same kind and their host offsets follow on, up to the end of
        one L2 table, as QEMU's count_contiguous_subclusters() counts; a missing
        L2 table is one run over all the guest bytes it would map.  Each L2 table
        is split into runs once, however many L1 entries point to it.
        """
        img = self.img
        kind, host = self.classify(offset)         # raises where QEMU finds the entry corrupt
        h = img.header
        sub = 32 if h.extended_l2 else 1
        unit = h.cluster_size // sub
        per_table = h.cluster_size // (16 if h.extended_l2 else 8) * sub    # units one L2 table maps
        l1_index, index = divmod(offset // unit, per_table)
        l2_offset = img.l1[l1_index] & OFFSET_MASK if l1_index < len(img.l1) else 0
        if not l2_offset:                  # up to the next L1 entry that has an L2 table
            if self._l1_used is None:
                self._l1_used = [i for i, e in enumerate(img.l1) if e & OFFSET_MASK]
            at = bisect.bisect_right(self._l1_used, l1_index)
            upto = self._l1_used[at] if at < len(self._l1_used) else max(len(img.l1), l1_index + 1)
            return kind, host, upto * per_table * unit - offset
        if kind == "compressed" or img.external:
            return kind, host, unit - offset % unit
        starts, runs = self.l2_runs(l2_offset)
        first, count, _kind, _host = runs[bisect.bisect_right(starts, index) - 1]
        return kind, host, (l1_index * per_table + first + count) * unit - offset

    def l2_runs(self, l2_offset: int) -> tuple[list[int], list[tuple[int, int, str, int | None]]]:
        """One L2 table as runs (first unit, units, kind, host offset of the first unit).

        An entry QEMU calls corrupt is a run of its own (kind "corrupt"), so a run
        never reaches past it; ``classify`` raises when a map arrives there.
        """
        img = self.img
        cached = self._runs.get(l2_offset)
        if cached is not None:
            return cached
        h = img.header
        cs, ext = h.cluster_size, h.extended_l2
        sub = 32 if ext else 1
        unit, esize = cs // sub, 16 if ext else 8
        table = img.l2_table(l2_offset)
        runs: list[list[Any]] = []
        if table.count(0) == len(table):                 # nothing allocated: one run
            runs.append([0, cs // esize * sub, "unallocated_plain", None])
        for i in range(0 if runs else cs // esize):
            desc = int.from_bytes(table[i * esize:i * esize + 8], "big")
            bitmap = int.from_bytes(table[i * esize + 8:i * esize + 16], "big") if ext else 0
            host = desc & OFFSET_MASK
            alloc_bits, zero_bits = bitmap & 0xFFFF_FFFF, bitmap >> 32
            corrupt = bool(host % cs) or (ext and bool((alloc_bits & zero_bits) if host
                                                       else alloc_bits)) \
                or (not ext and bool(desc & L2_ZERO) and h.version < 3)
            for s_ in range(sub):
                if desc & L2_COMPRESSED:
                    kind, where = "compressed", None
                elif corrupt:
                    kind, where = "corrupt", None
                elif ext:
                    kind = ("zero" if zero_bits >> s_ & 1 else "data" if alloc_bits >> s_ & 1
                            else "unallocated")
                    kind = kind if kind == "data" else kind + ("_alloc" if host else "_plain")
                    where = host + s_ * unit if host else None
                elif desc & L2_ZERO:
                    kind, where = ("zero_alloc" if host else "zero_plain"), host or None
                else:
                    kind, where = ("data", host) if host else ("unallocated_plain", None)
                last = runs[-1] if runs else None
                if (last and last[2] == kind and kind not in ("compressed", "corrupt")
                        and (where is None or last[3] + last[1] * unit == where)):
                    last[1] += 1
                else:
                    runs.append([i * sub + s_, 1, kind, where])
        if len(self._runs) * cs >= CACHE_BYTES:
            self._runs.clear()
        result = ([r[0] for r in runs], [tuple(r) for r in runs])
        self._runs[l2_offset] = result      # type: ignore[assignment]
        return result  # type: ignore[return-value]

    def metadata_prealloc(self) -> bool:
        if self._prealloc is None:
            self._prealloc = _metadata_preallocated(self.img, self._nonzero)
        return self._prealloc


def _file_status(fd: int, offset: int, nbytes: int) -> tuple[int, int]:
    """Holes and data of a host file (SEEK_DATA/SEEK_HOLE), as QEMU's file-posix reports them."""
    total = -(-os.fstat(fd).st_size // 512) * 512
    nbytes = min(nbytes, total - offset)
    try:
        data = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError:                       # ENXIO: only a hole from here to the end
        pnum, ret = nbytes, BS_ZERO
    else:
        if data == offset:
            hole = os.lseek(fd, offset, os.SEEK_HOLE)
            pnum, ret = min(nbytes, hole - offset), BS_DATA
        else:
            pnum, ret = min(nbytes, data - offset), BS_ZERO
    ret |= BS_OFFSET_VALID | BS_ALLOCATED
    if offset + pnum == total:
        ret |= BS_EOF
    return pnum, ret


def _metadata_preallocated(img: Qcow2Image, cache: dict[int, list[int]]) -> bool:
    """QEMU's guess: far more clusters have a refcount than the file has blocks allocated."""
    cs = img.header.cluster_size
    st = os.fstat(img.fd)
    real_clusters = st.st_blocks * 512 // cs
    threshold = max(real_clusters * 10 // 9, real_clusters + 2)
    clusters = -(-st.st_size // cs)
    per_block = cs * 8 // img.header.refcount_bits
    count = 0
    # QEMU asks the refcount of cluster 0, 1, 2 ... in turn; only allocated refcount blocks
    # hold counts that are not 0, so they are all that is read
    for index, entry in enumerate(img.refcount_table):
        if count >= threshold or index * per_block >= clusters:
            break
        if entry & ~0x1FF:
            found = nonzero_refcounts(img, entry & ~0x1FF, cache)
            count += bisect.bisect_left(found, clusters - index * per_block)
    return count >= threshold


# --8<-- [start:map]
def block_status(layer: Layer, offset: int, nbytes: int) -> tuple[int, int, int | None, str | None]:
    """(bytes, flags, host offset, host file) for the run at ``offset`` of one image layer."""
    img = layer.img
    nbytes = min(nbytes, img.size - offset)
    if isinstance(img, RawImage):         # raw: the answer is the host file's own status
        pnum, ret = _file_status(img.fd, offset, nbytes)
        return pnum, ret, offset, img.path
    kind, host, run = layer.run(offset)   # units of one kind, their host offsets following on
    pnum = min(nbytes, run)
    ret, where = 0, None
    if kind in ("data", "zero_alloc", "unallocated_alloc"):
        ret |= BS_OFFSET_VALID
        where = img.path
    if kind in ("zero_plain", "zero_alloc"):
        ret |= BS_ZERO
    elif kind in ("data", "compressed"):
        ret |= BS_DATA
    if ret & (BS_DATA | BS_ZERO):
        ret |= BS_ALLOCATED
    elif layer.backing is None or offset >= layer.backing.size:
        ret |= BS_ZERO                    # nothing below, or below the end of a shorter backing
    if (ret & BS_DATA and ret & BS_OFFSET_VALID and not ret & BS_ZERO
            and layer.metadata_prealloc()):
        fpnum, fret = _file_status(img.fd, host, pnum)
        if fret & BS_EOF and (fpnum == 0 or fret & BS_ZERO):
            ret |= BS_ZERO
        else:
            pnum = fpnum
            ret |= fret & BS_ZERO
    return pnum, ret, host if ret & BS_OFFSET_VALID else None, where


def image_map(img: Any) -> list[MapEntry]:
    """``qemu-img map``: walk the guest disk, asking each layer down the chain, and merge runs."""
    return list(iter_map(img))


def iter_map(img: Any) -> Iterator[MapEntry]:
    """The entries of ``image_map`` one by one, as qemu-img prints them."""
    top = Layer(img)
    curr = MapEntry(0, 0)
    while curr.start + curr.length < img.size:
        pos = curr.start + curr.length
        layer, depth, want = top, 0, img.size - pos
        while True:
            pnum, ret, host, where = block_status(layer, pos, want)
            want = pnum                     # a lower layer answers only for this run
            if ret & (BS_ZERO | BS_DATA):
                break
            below = layer.backing
            if below is None:
                ret = 0
                break
            layer, depth = below, depth + 1
        nxt = MapEntry(pos, pnum, depth, bool(ret & BS_ALLOCATED), bool(ret & BS_ZERO),
                       bool(ret & BS_DATA), host if ret & BS_OFFSET_VALID else None,
                       where if ret & BS_OFFSET_VALID else None)
        if curr.mergeable(nxt):
            curr.length += nxt.length
            continue
        if curr.length:
            yield curr
        curr = nxt
    yield curr


# --8<-- [end:map]


def map_json(img: Any) -> str:
    """What ``qemu-img map --output=json`` prints (without the final newline)."""
    return "[" + ",\n".join(e.json() for e in iter_map(img)) + "]"


def write_map_json(img: Any, out: Any) -> None:
    """``map_json`` written entry by entry (qemu-img too prints each entry once it is complete)."""
    out.write("[")
    for n, entry in enumerate(iter_map(img)):
        out.write((",\n" if n else "") + entry.json())
    out.write("]\n")


# --------------------------------------------------------------- qemu-io read -v and the command line
def hexdump(data: bytes, offset: int = 0) -> str:
    """qemu-io's ``read -v`` dump: 16 bytes a line, then letters and digits, dots for the rest.

    >>> print(hexdump(b"AB\\x00!", 0x3de))
    000003de:  41 42 00 21  AB..
    """
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset {offset!r} must be a whole number >= 0")
    lines = []
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        text = row.translate(_DUMP_TEXT).decode("ascii")
        lines.append(f"{offset + i:08x}:  {row.hex(' ')}  {text}")
    return "\n".join(lines)


# qemu-io prints a byte as itself when it is an ASCII letter or digit, else as a dot
_DUMP_TEXT = bytes(b if chr(b).isascii() and chr(b).isalnum() else ord(".") for b in range(256))


_SUFFIX = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Parse ``4096``, ``64k``, ``1M`` (binary suffixes, like qemu-io).

    >>> parse_size("64k"), parse_size("1M")
    (65536, 1048576)
    >>> parse_size("-1")
    Traceback (most recent call last):
    ...
    ValueError: bad size '-1' (accepted: a non-negative integer with optional k, M, G or T suffix)
    """
    m = re.fullmatch(r"(\d+)([kKmMgGtT]?)", text.strip())
    if not m:
        raise ValueError(f"bad size {text!r} (accepted: a non-negative integer "
                         "with optional k, M, G or T suffix)")
    return int(m.group(1)) * _SUFFIX[m.group(2).lower()]


def _needs_no_key(img: Any) -> None:
    """qemu-img map and check open encrypted images only with the key; so does the CLI."""
    if getattr(img, "header", None) is not None and img.header.crypt_method:
        raise ValueError("Parameter 'encrypt.key-secret' is required for cipher: qemu-img opens an "
                         "encrypted image for map or check only with its key, and this script takes "
                         "none (qcow2_tool.check() works without it)")


# qemu-io refuses one read longer than BDRV_REQUEST_MAX_BYTES (INT_MAX rounded down to 512)
READ_MAX = (2**31 - 1) // 512 * 512
READ_CHUNK = 4 << 20
ALLOW_BACKING_HELP = ("follow backing and data files the image names anywhere; without it only "
                      "files inside the image's directory are opened (an untrusted image may "
                      "name /etc/passwd)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["read"]:
            p = argparse.ArgumentParser(prog="qcow2_tool.py read",
                                        description="print guest bytes like qemu-io read -v")
            p.add_argument("image")
            p.add_argument("offset")
            p.add_argument("length")
            p.add_argument("--snapshot", help="read an internal snapshot (id or name)")
            p.add_argument("--allow-backing", action="store_true", help=ALLOW_BACKING_HELP)
            a = p.parse_args(argv[1:])
            off, length = parse_size(a.offset), parse_size(a.length)
            if length > READ_MAX:
                raise ValueError(f"length cannot exceed {READ_MAX}, given {a.length} (qemu-io's "
                                 "limit for one read, BDRV_REQUEST_MAX_BYTES)")
            with open_image(a.image, allow_backing=a.allow_backing) as img:
                if a.snapshot is not None and not isinstance(img, Qcow2Image):
                    raise ValueError(f"--snapshot {a.snapshot!r}: a {img.format} image has no internal "
                                     "snapshots (accepted: a qcow2 image)")
                check_range(off, length, img.size)
                # the dump goes out piece by piece: a long read never sits in memory whole
                # (up to READ_CHUNK bytes it is read completely before a line is printed)
                for at in range(off, off + length, READ_CHUNK):
                    n = min(READ_CHUNK, off + length - at)
                    data = img.read(at, n) if a.snapshot is None else \
                        img.read(at, n, snapshot=a.snapshot)
                    print(hexdump(data, at))
            print(f"read {length}/{length} bytes at offset {off}")
            return 0
        if argv[:1] == ["map"]:
            p = argparse.ArgumentParser(prog="qcow2_tool.py map",
                                        description="allocation map like qemu-img map --output=json")
            p.add_argument("image")
            p.add_argument("--allow-backing", action="store_true", help=ALLOW_BACKING_HELP)
            a = p.parse_args(argv[1:])
            with open_image(a.image, allow_backing=a.allow_backing) as img:
                _needs_no_key(img)
                if getattr(img, "external", False):
                    raise ValueError("map of images with an external data file is not supported "
                                     "(accepted: qcow2 without data_file, raw)")
                write_map_json(img, sys.stdout)
            return 0
        if argv[:1] == ["check"]:
            p = argparse.ArgumentParser(prog="qcow2_tool.py check",
                                        description="recount references like qemu-img check (no repair)")
            p.add_argument("image")
            a = p.parse_args(argv[1:])
            with open_image(a.image, "qcow2", open_backing=False) as img:
                _needs_no_key(img)
                res = check(img)
            for line in res.messages:
                print(line, file=sys.stderr)
            print(res.report())
            return res.exit_status
        p = argparse.ArgumentParser(
            prog="qcow2_tool.py",
            description="print what `qemu-img info --output=json IMAGE` prints "
                        "(or: qcow2_tool.py read IMAGE OFFSET LENGTH, qcow2_tool.py map IMAGE, "
                        "qcow2_tool.py check IMAGE)")
        p.add_argument("image")
        a = p.parse_args(argv)
        print(image_info_json(a.image))
        return 0
    except (ValueError, OSError) as exc:
        print(printable(f"qcow2_tool.py: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
