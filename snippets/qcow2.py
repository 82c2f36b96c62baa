"""A qcow2 reader: header, L1/L2 lookup, refcounts, snapshots and the backing chain.

The module follows QEMU's specification ``docs/interop/qcow2.txt`` and is the
twin of two QEMU tools (QEMU 7.2, as in Debian 12):

* ``python snippets/qcow2.py IMAGE`` prints the same JSON as
  ``qemu-img info --output=json IMAGE`` (same keys, same key order, same
  indentation), for raw files and for qcow2 v2 (compat 0.10) and v3 (compat 1.1).
* ``python snippets/qcow2.py read IMAGE OFFSET LENGTH`` prints the guest bytes
  like ``qemu-io -r -c "read -v OFFSET LENGTH" IMAGE`` (the hex dump lines).
* ``python snippets/qcow2.py map IMAGE`` prints the allocation map like
  ``qemu-img map --output=json IMAGE`` (which layer of the chain answers, data or
  zeros, the host offset), following QEMU's block-status rules.
* ``python snippets/qcow2.py check IMAGE`` recounts every reference and prints
  what ``qemu-img check IMAGE`` prints (stdout, stderr, exit status), without repairing.

``qemu-img info`` of QEMU 7.2 prints no ``children`` key, so neither do we.

What is covered: header v2 and v3, header extensions (backing format, feature
name table, bitmaps, external data file), L1 -> L2 -> data lookup with zero
clusters, compressed clusters (zlib; zstd needs a decoder the standard
library of this Python lacks, so reading such a cluster raises an error that
says so, while ``info`` still reports ``compression-type: zstd``), extended L2
entries (32 subclusters per cluster), refcounts of 1 to 64 bits, the snapshot
table, and reads that fall through a chain of qcow2 or raw backing files.
Encrypted images: ``info`` prints what qemu-img prints without the key (for
LUKS the whole LUKS header: algorithms, key slots, offsets); reads, ``map`` and
``check`` refuse, because the data is ciphertext and qemu-img needs the key.

Damaged images: the header and table checks of QEMU's ``qcow2_do_open()``, the
LUKS header checks of ``crypto/block-luks.c`` and the bitmap directory checks
of ``qcow2-bitmap.c`` run in QEMU's order; a refusal raises ``ValueError`` whose
message starts with QEMU's own words ("Reference count table offset invalid",
"Image is corrupt: L2 table offset 0x40200 unaligned ...").  Bytes past the end
of the file read as zeros, as in QEMU.  Names are decoded as QEMU's JSON writer
decodes them (modified UTF-8, one U+FFFD per invalid sequence).

``make_qcow2`` writes a small, valid qcow2 v3 image with the standard library
only, so the examples below need no QEMU:

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> path = make_qcow2(os.path.join(d, "demo.qcow2"), 1 << 20, {0: b"hello"})
>>> with open_image(path) as img:
...     img.read(0, 5), img.read(65536, 3)
(b'hello', b'\\x00\\x00\\x00')
>>> parse_header(b"QFI\\xfb" + (9).to_bytes(4, "big") + bytes(64))
Traceback (most recent call last):
...
ValueError: Unsupported qcow2 version 9 (accepted: 2 or 3)
"""
from __future__ import annotations

import argparse
import bisect
import os
import re
import struct
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterator, Sequence

try:  # the package layout used by the book's pages and tests
    from safety import open_guarded, open_guarded_file, opened_name, printable
except ImportError:  # pragma: no cover - run as `python snippets/qcow2.py`
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from safety import open_guarded, open_guarded_file, opened_name, printable

QCOW_MAGIC = b"QFI\xfb"

# Header extension types (qcow2.txt, "Header extensions").
EXT_END = 0x00000000
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_FEATURE_TABLE = 0x6803F857
EXT_BITMAPS = 0x23852875
EXT_CRYPTO = 0x0537BE77
EXT_DATA_FILE = 0x44415441

# Incompatible feature bits that this reader understands.
INCOMPAT_DIRTY = 1 << 0
INCOMPAT_CORRUPT = 1 << 1
INCOMPAT_DATA_FILE = 1 << 2
INCOMPAT_COMPRESSION = 1 << 3
INCOMPAT_EXTL2 = 1 << 4
KNOWN_INCOMPAT = (INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE
                  | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2)
COMPAT_LAZY_REFCOUNTS = 1 << 0
AUTOCLEAR_BITMAPS = 1 << 0
AUTOCLEAR_DATA_FILE_RAW = 1 << 1

COMPRESSION_TYPES = {0: "zlib", 1: "zstd"}

# QEMU's limits (block/qcow2.h): beyond them it refuses to open an image
MAX_REFTABLE_SIZE = 8 << 20            # bytes of refcount table
MAX_L1_SIZE = 32 << 20                 # bytes of one L1 table
MAX_SNAPSHOTS = 65536
MAX_SNAPSHOTS_SIZE = 1024 * MAX_SNAPSHOTS
MAX_SNAPSHOT_EXTRA_DATA = 1024
MAX_BITMAPS = 65535
MAX_BITMAP_DIRECTORY_SIZE = 1024 * MAX_BITMAPS

# Tables kept in memory at most (QEMU's default L2 cache on Linux is 32 MiB too)
CACHE_BYTES = 32 << 20

# Bits 9-55 of an L1 entry, a standard L2 entry or a refcount table entry.
OFFSET_MASK = 0x00FF_FFFF_FFFF_FE00
L2_COMPRESSED = 1 << 62
L2_COPIED = 1 << 63  # "refcount is exactly one"
L2_ZERO = 1 << 0


# --8<-- [start:header]
@dataclass
class Header:
    """The fixed part of a qcow2 header (qcow2.txt, "Header"); all numbers big endian."""

    version: int
    backing_file_offset: int
    backing_file_size: int
    cluster_bits: int
    size: int                      # virtual disk size in bytes
    crypt_method: int
    l1_size: int                   # entries in the active L1 table
    l1_table_offset: int
    refcount_table_offset: int
    refcount_table_clusters: int
    nb_snapshots: int
    snapshots_offset: int
    # version 3 fields; version 2 behaves as if they were these defaults
    incompatible_features: int = 0
    compatible_features: int = 0
    autoclear_features: int = 0
    refcount_order: int = 4        # refcount_bits = 1 << refcount_order
    header_length: int = 72
    compression_type: int = 0      # byte 104, present when header_length > 104

    @property
    def cluster_size(self) -> int:
        return 1 << self.cluster_bits

    @property
    def refcount_bits(self) -> int:
        return 1 << self.refcount_order

    @property
    def extended_l2(self) -> bool:
        return bool(self.incompatible_features & INCOMPAT_EXTL2)


def parse_header(buf: bytes) -> Header:
    """Decode the header at the start of ``buf`` and check what a reader must check.

    >>> h = parse_header(QCOW_MAGIC + struct.pack(">IQIIQIIQQIIQ", 2, 0, 0, 16, 1 << 30,
    ...                                          0, 2, 0x30000, 0x10000, 1, 0, 0))
    >>> h.version, h.cluster_size, h.size, h.refcount_bits
    (2, 65536, 1073741824, 16)
    >>> parse_header(b"RIFF" + bytes(100))
    Traceback (most recent call last):
    ...
    ValueError: not a qcow2 image: magic is b'RIFF', expected b'QFI\\xfb'
    """
    if len(buf) < 72 or buf[:4] != QCOW_MAGIC:
        raise ValueError(f"not a qcow2 image: magic is {bytes(buf[:4])!r}, expected {QCOW_MAGIC!r}")
    version = struct.unpack_from(">I", buf, 4)[0]
    if version == 1:            # QEMU hands these to its older "qcow" driver
        raise ValueError("unsupported qcow2 version 1 (accepted: 2 or 3); version 1 is the older "
                         "qcow format, which this reader does not parse")
    if version not in (2, 3):
        raise ValueError(f"Unsupported qcow2 version {version} (accepted: 2 or 3)")
    fields = struct.unpack_from(">QIIQIIQQIIQ", buf, 8)
    h = Header(version, *fields)
    # The checks below run in the order of QEMU's qcow2_do_open(); each message
    # starts with QEMU's own words, so the two tools refuse a file for one reason.
    if not 9 <= h.cluster_bits <= 21:
        raise ValueError(f"Unsupported cluster size: 2^{h.cluster_bits}; cluster_bits {h.cluster_bits} "
                         "out of range (accepted: 9 to 21, i.e. 512 B to 2 MiB clusters)")
    if version == 3:
        if len(buf) < 104:
            raise ValueError(f"qcow2 v3 header needs 104 bytes, got {len(buf)}")
        (h.incompatible_features, h.compatible_features, h.autoclear_features,
         h.refcount_order, h.header_length) = struct.unpack_from(">QQQII", buf, 72)
        # qcow2.txt asks for a multiple of 8 too, but QEMU 7.2 does not check that
        if h.header_length < 104:
            raise ValueError(f"qcow2 header too short: header_length {h.header_length} must be >= 104 "
                             "(accepted: 104 up to the cluster size)")
        if h.header_length > 104 and len(buf) > 104:
            h.compression_type = buf[104]
    if h.header_length > h.cluster_size:
        raise ValueError(f"qcow2 header exceeds cluster size: header_length {h.header_length} > "
                         f"{h.cluster_size} (accepted: 104 up to the cluster size)")
    if h.backing_file_offset > h.cluster_size:
        raise ValueError(f"Invalid backing file offset {h.backing_file_offset} (accepted: inside "
                         f"the first cluster, 0 to {h.cluster_size})")
    if h.compression_type not in COMPRESSION_TYPES:
        raise ValueError(f"qcow2: unknown compression type: {h.compression_type} "
                         "(accepted: 0 zlib, 1 zstd)")
    if bool(h.incompatible_features & INCOMPAT_COMPRESSION) != (h.compression_type != 0):
        must = "must be set" if h.compression_type else "must not be set"
        raise ValueError(f"qcow2: Compression type incompatible feature bit {must}: compression type "
                         "bit and compression_type field disagree (accepted: bit 3 set exactly "
                         "when compression_type is not 0)")
    if h.incompatible_features & ~KNOWN_INCOMPAT:
        return h        # QEMU reports unknown feature bits next (Qcow2Image names them), not these
    if h.extended_l2 and h.cluster_bits < 14:
        raise ValueError(f"Unsupported subcluster size: {h.cluster_size // 32}; extended L2 entries "
                         f"need cluster_bits >= 14 (32 subclusters of 512 B or more), got {h.cluster_bits}")
    if h.refcount_order > 6:
        raise ValueError(f"Reference count entry width too large; may not exceed 64 bits: "
                         f"refcount_order {h.refcount_order} out of range (accepted: 0 to 6, "
                         "i.e. 1 to 64 bit refcounts)")
    return h
# --8<-- [end:header]


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


@dataclass
class Snapshot:
    """One entry of the snapshot table (qcow2.txt, "Snapshots")."""

    l1_table_offset: int
    l1_size: int
    id: str
    name: str
    date_sec: int
    date_nsec: int
    vm_clock_nsec: int
    vm_state_size: int
    disk_size: int | None = None
    icount: int | None = None    # None: no icount field, or -1 (icount disabled)


@dataclass
class Bitmap:
    """A persistent dirty bitmap's directory entry (qcow2.txt, "Bitmap directory")."""

    name: str
    granularity: int
    flags: int
    table_offset: int = 0
    table_size: int = 0            # entries of 8 bytes


@dataclass
class Mapping:
    """Where one guest byte lives: ``kind`` is data, compressed, zero or unallocated."""

    kind: str
    host_offset: int | None = None   # in the image file, or in the external data file
    file: str | None = None


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


def _read_at(fd: int, offset: int, length: int) -> bytes:
    """pread that returns exactly ``length`` bytes, zero-filled past the end of file."""
    if offset < 0 or offset + length > (1 << 63) - 1:     # no file reaches there: QEMU's EIO
        raise ValueError(f"Input/output error: read of {length} bytes at offset {offset:#x} "
                         "(accepted: offsets below 2^63)")
    chunks = []
    got = 0
    while got < length:
        part = os.pread(fd, length - got, offset + got)
        if not part:
            break
        chunks.append(part)
        got += len(part)
    data = b"".join(chunks)
    return data + bytes(length - len(data))


def _cached_read(cache: dict[int, bytes], fd: int, offset: int, length: int) -> bytes:
    """Read one table for a cache, which is emptied first when it holds CACHE_BYTES."""
    if len(cache) * length >= CACHE_BYTES:
        cache.clear()
    return _read_at(fd, offset, length)


def _c_hex(n: int) -> str:
    """printf's %#x: 0x-prefixed hex, but a plain 0 for zero."""
    return f"{n:#x}" if n else "0"


def _c_string(raw: bytes) -> str:
    """A name as QEMU sees and prints it: a C string (ends at the first NUL byte) decoded
    like util/unicode.c's mod_utf8_codepoint(), which the JSON writer uses.

    Each invalid sequence becomes one U+FFFD; ``C0 80`` is U+0000 (modified UTF-8);
    overlong forms, surrogates and noncharacters such as U+FFFF are invalid.

    >>> _c_string(b"\\xe2\\x82\\xac\\xc0\\x80\\xed\\xa0\\x80\\xef\\xbf\\xbfok\\0tail")
    '€\\x00\\ufffd\\ufffdok'
    """
    data = raw.split(b"\0")[0]
    out, i = [], 0
    while i < len(data):
        lead = data[i]
        i += 1
        if lead < 0x80:
            out.append(chr(lead))
            continue
        if lead >= 0xFE or not lead & 0x40:          # impossible byte, or a stray continuation
            out.append("\ufffd")
            continue
        length = next(n for n in range(2, 7) if not lead & (0x80 >> n))
        cp = lead & ((0x80 >> length) - 1)
        for _ in range(length - 1):
            if i >= len(data) or data[i] & 0xC0 != 0x80:
                cp = -1                               # continuation byte missing
                break
            cp = cp << 6 | data[i] & 0x3F
            i += 1
        minimum = {2: 0x80, 3: 0x800, 4: 0x10000, 5: 0x200000, 6: 0x4000000}[length]
        if (cp < 0 or cp > 0x10FFFF or 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE
                or 0xD800 <= cp <= 0xDFFF or (cp < minimum and not (cp == 0 and length == 2))):
            out.append("\ufffd")
        else:
            out.append(chr(cp))
    return "".join(out)


def _open_file(path: str) -> int:
    """Open a file the image refers to (data file), with QEMU's words when it is missing."""
    try:
        return open_guarded(path)
    except OSError as exc:
        raise ValueError(f"Could not open '{path}': {exc.strerror}") from None


def _confine(fd: int, name: str, what: str, root: str | None) -> None:
    """Refuse a file an image names (backing file, data file) that lies outside ``root``.

    An image is data, and whoever made it chose these names: a backing file
    ``/etc/passwd`` (probed as raw) would make ``read`` print that file.  QEMU
    leaves the trust decision to its user (qemu(1): give ``format=`` "to avoid
    interpreting an untrusted format header"; libvirt follows a backing chain
    only when the format is recorded and the chain trusted).  This reader
    follows such names only inside the directory of the image it was asked to
    open (``root``), checked on the opened file, unless the caller allows any
    path (``allow_backing=True``, the script's ``--allow-backing``).
    """
    if root is None:
        return
    real = opened_name(fd, name)
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        os.close(fd)
        raise ValueError(f"{what} '{name}' named inside the image lies outside the image's "
                         f"directory {root}; an image may name any file, so this reader follows "
                         "such names only inside it (accepted: a file under that directory, or "
                         "--allow-backing for an image you trust)")


def path_combine(base: str, name: str) -> str:
    """QEMU's rule for a relative backing file: it is relative to the image's directory.

    The directory part is ``base`` up to its last ``/``, kept as written (QEMU
    does not normalise it), so ``sub/d.qcow2`` with backing ``../a.qcow2`` gives
    ``sub/../a.qcow2``.

    >>> path_combine("sub/d.qcow2", "../a.qcow2"), path_combine("d.qcow2", "/x/a.img")
    ('sub/../a.qcow2', '/x/a.img')
    """
    if name.startswith("/"):
        return name
    cut = base.rfind("/") + 1
    return base[:cut] + name


class RawImage:
    """A raw image: guest offset N is file offset N; the file may be sparse."""

    format = "raw"

    def __init__(self, path: str, *, fd: int | None = None) -> None:
        self.path = path
        self.fd = open_guarded(path) if fd is None else fd
        # QEMU counts whole 512-byte sectors: a 1000-byte file is a 1024-byte disk
        self.size = -(-os.fstat(self.fd).st_size // 512) * 512

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> RawImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, offset: int, length: int) -> bytes:
        _check_range(offset, length, self.size)
        return _read_at(self.fd, offset, length)

    def info(self) -> dict[str, Any]:
        st = os.fstat(self.fd)
        return {"filename": self.path, "format": "raw", "dirty-flag": False,
                "actual-size": st.st_blocks * 512, "virtual-size": self.size}


def _check_range(offset: int, length: int, size: int) -> None:
    if offset < 0 or length < 0 or offset + length > size:
        raise ValueError(f"request {offset}+{length} is outside the disk (accepted: 0 <= offset, "
                         f"offset + length <= virtual size {size})")


class Qcow2Image:
    """An open qcow2 image, read only."""

    format = "qcow2"

    def __init__(self, path: str, *, open_backing: bool = True, allow_backing: bool = False,
                 fd: int | None = None, _depth: int = 0, _chain: tuple[str, ...] = (),
                 _root: str | None = None) -> None:
        self.path = path
        self.fd = open_guarded(path) if fd is None else fd
        # files the image names are followed inside the top image's directory only
        self._root = None if allow_backing else (
            _root or os.path.dirname(opened_name(self.fd, path)) or "/")
        try:
            self._load(open_backing, _depth, _chain)
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- opening
    def _load(self, open_backing: bool, depth: int, chain: tuple[str, ...]) -> None:
        first = _read_at(self.fd, 0, 4096)
        h = self.header = parse_header(first)
        cs = h.cluster_size
        cluster0 = _read_at(self.fd, 0, cs)
        self.backing_format: str | None = None
        self.feature_names: list[tuple[int, int, str]] = []
        self.bitmaps: list[Bitmap] = []
        self.bitmap_directory: tuple[int, int] = (0, 0)
        self.data_file_name: str | None = None
        self.crypto_header: tuple[int, int] | None = None
        self.luks: dict[str, Any] | None = None
        unknown = h.incompatible_features & ~KNOWN_INCOMPAT
        if unknown:
            # like QEMU: read the feature name table (ignoring damage elsewhere) to name the bits
            try:
                self._read_extensions(cluster0, names_only=True)
            except ValueError:
                pass
            raise ValueError("Unsupported qcow2 feature(s): " + self._feature_list(unknown))
        self._check_tables()
        if h.crypt_method not in (0, 1, 2):
            method = h.crypt_method - (1 << 32) if h.crypt_method >> 31 else h.crypt_method  # %d
            raise ValueError(f"Unsupported encryption method {method} "
                             "(accepted: 0 none, 1 legacy AES, 2 LUKS)")
        # the active L1 table and the refcount table (bytes past the end of file read as zeros)
        self.l1 = self._read_table(h.l1_table_offset, h.l1_size)
        self.refcount_table = self._read_table(h.refcount_table_offset,
                                               h.refcount_table_clusters * cs // 8)
        self._read_extensions(cluster0)
        # an external data file holds the guest clusters (host offset == guest offset);
        # like qemu-img info, open it only when guest data is to be read
        self.external = bool(h.incompatible_features & INCOMPAT_DATA_FILE)
        self.data_fd: int | None = None
        if open_backing and self.external:
            if not self.data_file_name:
                raise ValueError("'data-file' is required for this image: the external data file bit "
                                 "is set but the image names no data file")
            name = path_combine(self.path, self.data_file_name)
            self.data_fd = _open_file(name)
            _confine(self.data_fd, name, "data file", self._root)
        elif open_backing and h.autoclear_features & AUTOCLEAR_DATA_FILE_RAW:
            raise ValueError("data-file-raw requires a data file (autoclear bit 1 is set, "
                             "incompatible bit 2 is not)")
        if h.crypt_method == 2:
            if self.crypto_header is None:
                raise ValueError("Missing CRYPTO header for crypt method 2: a LUKS-encrypted image "
                                 "needs header extension 0x0537be77 (qemu-img 7.2 crashes here)")
            self.luks = luks_info(self._read_luks_header())
        self.backing_file: str | None = None
        if h.backing_file_offset:
            if h.backing_file_size > min(1023, cs - h.backing_file_offset):
                raise ValueError(f"Backing file name too long: {h.backing_file_size} bytes (accepted: "
                                 f"up to {min(1023, cs - h.backing_file_offset)}, the rest of cluster 0, "
                                 "at most 1023)")
            raw = _read_at(self.fd, h.backing_file_offset, h.backing_file_size)
            self.backing_file = _c_string(raw)
        self.snapshots = self._read_snapshots()
        self._l2_cache: dict[int, bytes] = {}
        self._refblock_cache: dict[int, bytes] = {}
        self._runs_cache: dict[int, tuple[list[int], list[tuple[int, int, str, int | None]]]] = {}
        self._nonzero_cache: dict[int, list[int]] = {}
        self._l1_used: list[int] | None = None        # indexes of L1 entries with an L2 table
        self.backing: Any | None = None
        if open_backing and self.backing_file:
            name = path_combine(self.path, self.backing_file)
            if os.path.exists(name) and os.path.realpath(name) in chain + (os.path.realpath(self.path),):
                raise ValueError(f"Backing file '{self.backing_file}' creates an infinite loop (accepted: "
                                 "a chain of distinct images; a backing chain longer than 32 images "
                                 "is refused as well)")
            if depth >= 32:
                raise ValueError("backing chain longer than 32 images (accepted: up to 32)")
            try:
                fd = open_guarded(name)
                _confine(fd, name, "backing file", self._root)
                self.backing = open_image(name, self.backing_format, fd=fd, _depth=depth + 1,
                                          _chain=chain + (os.path.realpath(self.path),),
                                          _root=self._root, allow_backing=self._root is None)
            except OSError as exc:
                raise ValueError(f"Could not open backing file: Could not open '{name}': "
                                 f"{exc.strerror}") from None

    def _feature_list(self, mask: int) -> str:
        """QEMU's report_unsupported_feature(): names from the table, then the unnamed rest."""
        names = []
        for ftype, bit, name in self.feature_names:
            if ftype == 0 and mask >> bit & 1:
                names.append(name)
                mask &= ~(1 << bit)
        if mask:
            names.append(f"Unknown incompatible feature: {mask:x}")
        return ", ".join(names)

    def _check_tables(self) -> None:
        """QEMU's qcow2_validate_table() and size checks: offsets cluster aligned, sizes bounded."""
        h = self.header
        cs = h.cluster_size

        def validate(name: str, offset: int, entries: int, entry_len: int, max_bytes: int) -> None:
            if entries > max_bytes // entry_len:
                raise ValueError(f"{name} too large: {entries} entries of {entry_len} bytes "
                                 f"(accepted: up to {max_bytes} bytes)")
            if (1 << 63) - 1 - entries * entry_len < offset or offset % cs:
                raise ValueError(f"{name} offset invalid: {offset:#x} (accepted: a multiple of the "
                                 f"cluster size {cs})")

        if h.refcount_table_clusters == 0:
            raise ValueError("Image does not contain a reference count table "
                             "(refcount_table_clusters is 0; accepted: 1 or more)")
        validate("Reference count table", h.refcount_table_offset, h.refcount_table_clusters, cs,
                 MAX_REFTABLE_SIZE)
        validate("Snapshot table", h.snapshots_offset, h.nb_snapshots, 40, 40 * MAX_SNAPSHOTS)
        validate("Active L1 table", h.l1_table_offset, h.l1_size, 8, MAX_L1_SIZE)
        per_l1 = cs * (cs // (16 if h.extended_l2 else 8))     # guest bytes one L2 table maps
        needed = -(-h.size // per_l1)
        if needed > (1 << 31) - 1:
            raise ValueError(f"Image is too big: {h.size} bytes need {needed} L1 entries "
                             "(accepted: up to 2^31 - 1)")
        if h.l1_size < needed:
            raise ValueError(f"L1 table is too small: {h.l1_size} entries for {h.size} bytes "
                             f"(accepted: at least {needed})")

    def _read_table(self, offset: int, entries: int) -> tuple[int, ...]:
        return struct.unpack(f">{entries}Q", _read_at(self.fd, offset, entries * 8))

    # --8<-- [start:extensions]
    def _read_extensions(self, cluster0: bytes, names_only: bool = False) -> None:
        """Walk the header extensions: 4-byte type, 4-byte length, data padded to 8 bytes.

        They start right after the header (``header_length``) and end at the
        backing file name, or at the end of cluster 0.  Unknown types are skipped.
        """
        h = self.header
        pos = h.header_length
        end = h.backing_file_offset or h.cluster_size
        while pos < end:
            etype, elen = struct.unpack_from(">II", cluster0 + bytes(8), pos)
            pos += 8
            if pos > end or elen > end - pos:
                raise ValueError(f"Header extension too large: extension {etype:#010x} of {elen} bytes "
                                 f"runs past byte {end} (accepted: extensions end before the "
                                 "backing file name or the end of cluster 0)")
            if etype == EXT_END:
                break
            data = cluster0[pos:pos + elen]
            if etype == EXT_FEATURE_TABLE:
                for i in range(0, elen - 47, 48):   # 1 byte type, 1 byte bit, 46 bytes name
                    name = _c_string(data[i + 2:i + 48])
                    if name:
                        self.feature_names.append((data[i], data[i + 1], name))
            elif names_only:
                pass
            elif etype == EXT_BACKING_FORMAT:
                if elen >= 16:
                    raise ValueError(f"ERROR: ext_backing_format: len={elen} too large (>=16)")
                self.backing_format = _c_string(data)
            elif etype == EXT_DATA_FILE:
                self.data_file_name = _c_string(data)
            elif etype == EXT_CRYPTO:
                self._crypto_extension(data)
            elif etype == EXT_BITMAPS:
                self._bitmaps_extension(data)
            pos += (elen + 7) & ~7
    # --8<-- [end:extensions]

    def _crypto_extension(self, data: bytes) -> None:
        """Extension 0x0537be77: where the LUKS header lives (offset and length in the file)."""
        h = self.header
        if h.crypt_method != 2:
            raise ValueError("CRYPTO header extension only expected with LUKS encryption method "
                             f"(crypt_method is {h.crypt_method}, accepted: 2)")
        if len(data) != 16:
            raise ValueError(f"CRYPTO header extension size {len(data)}, but expected size 16")
        offset, length = struct.unpack(">QQ", data)
        if offset % h.cluster_size:
            raise ValueError(f"Encryption header offset '{offset}' is not a multiple of cluster "
                             f"size '{h.cluster_size}'")
        self.crypto_header = (offset, length)

    def _read_luks_header(self) -> bytes:
        assert self.crypto_header is not None
        offset, length = self.crypto_header
        if LUKS_HEADER_SIZE > length:
            raise ValueError(f"Request for data outside of extension header: the LUKS header needs "
                             f"{LUKS_HEADER_SIZE} bytes, the extension gives {length}")
        try:
            return _read_at(self.fd, offset, LUKS_HEADER_SIZE)
        except ValueError as exc:
            raise ValueError(f"Could not read encryption header: {exc}") from None

    def _bitmaps_extension(self, data: bytes) -> None:
        """Extension 0x23852875: the directory of persistent dirty bitmaps."""
        h = self.header
        if len(data) != 24:
            raise ValueError(f"bitmaps_ext: Invalid extension length {len(data)} (accepted: 24)")
        if not h.autoclear_features & AUTOCLEAR_BITMAPS:
            # a program without bitmap support wrote the image: QEMU ignores the bitmaps
            return
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
        self.bitmap_directory = (dir_off, dir_size)
        self.bitmaps = self._read_bitmap_directory(dir_off, dir_size, nb)

    def _read_bitmap_directory(self, offset: int, size: int, count: int) -> list[Bitmap]:
        """Bitmap directory entries, checked as QEMU checks them when it opens the image."""
        if size == 0:
            raise ValueError("Requested bitmap directory size is zero")
        try:
            raw = _read_at(self.fd, offset, size)
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
            name = _c_string(raw[pos + 24:pos + 24 + name_size])      # QEMU: g_strndup()
            bm = Bitmap(name, 1 << gbits, flags, tbl, tbl_size)
            self._check_bitmap(bm, btype, gbits, name_size)
            out.append(bm)
            pos = nxt
        if len(out) != count:
            raise ValueError("Less bitmaps found than specified in header extension")
        return out

    def _check_bitmap(self, bm: Bitmap, btype: int, gbits: int, name_size: int) -> None:
        """QEMU's check_dir_entry(), then the table check it makes while loading the bitmap."""
        cs = self.header.cluster_size
        phys = bm.table_size * cs
        broken = (bm.table_size == 0 or bm.table_offset == 0 or bm.table_offset % cs
                  or bm.table_size > 0x8000000 or not 9 <= gbits <= 31 or bm.flags & ~3
                  or name_size > 1023 or btype != 1 or phys > 0x20000000
                  or (not bm.flags & 1 and self.size > (phys * 8) << gbits))
        if broken:
            raise ValueError(f"Bitmap '{bm.name}' doesn't satisfy the constraints (table at "
                             f"{bm.table_offset:#x}, {bm.table_size} entries, granularity 2^{gbits}, "
                             f"type {btype}, flags {bm.flags:#x})")
        if bm.flags & 1:
            return                  # "in use": its data is not trusted, so QEMU does not load it
        try:
            table = self._read_table(bm.table_offset, bm.table_size)
        except ValueError as exc:
            raise ValueError(f"Could not read bitmap_table table from image for bitmap "
                             f"'{bm.name}': {exc}") from None
        for entry in table:
            if entry & 0xFF000000000001FE or (entry & OFFSET_MASK and (entry & 1 or entry % cs)):
                raise ValueError(f"Could not read bitmap_table table from image for bitmap "
                                 f"'{bm.name}': Invalid argument (entry {entry:#x})")
        # one bit per granule, serialized in 64-bit words, stored in whole clusters
        words = -(-self.size // bm.granularity) // 64 if self.size else 0
        words += 1 if self.size and -(-self.size // bm.granularity) % 64 else 0
        if -(-words * 8 // cs) != bm.table_size:
            raise ValueError(f"Could not read bitmap '{bm.name}' from image: Invalid argument "
                             f"(its table has {bm.table_size} entries, the disk needs "
                             f"{-(-words * 8 // cs)})")

    # --8<-- [start:snapshots]
    def _read_snapshots(self) -> list[Snapshot]:
        """Parse the snapshot table: a 40-byte fixed part, extra data, id, name, pad to 8."""
        h = self.header
        out: list[Snapshot] = []
        pos = h.snapshots_offset
        for _ in range(h.nb_snapshots):
            fixed = _read_at(self.fd, pos, 40)
            (l1_off, l1_size, id_len, name_len, date_sec, date_nsec, vm_clock,
             vm_state32, extra_len) = struct.unpack(">QIHHIIQII", fixed)
            if extra_len > MAX_SNAPSHOT_EXTRA_DATA:
                raise ValueError(f"Too much extra metadata in snapshot table entry {len(out)}: "
                                 f"{extra_len} bytes (accepted: up to {MAX_SNAPSHOT_EXTRA_DATA})")
            extra = _read_at(self.fd, pos + 40, extra_len)
            strings = _read_at(self.fd, pos + 40 + extra_len, id_len + name_len)
            # QEMU keeps id and name as C strings: a NUL byte ends them
            sn = Snapshot(l1_off, l1_size, _c_string(strings[:id_len]), _c_string(strings[id_len:]),
                          date_sec, date_nsec, vm_clock, vm_state32)
            if extra_len >= 8:    # bytes 40-47: 64-bit VM state size replaces the 32-bit one
                sn.vm_state_size = struct.unpack_from(">Q", extra, 0)[0]
            if extra_len >= 16:   # bytes 48-55: the disk size when the snapshot was taken
                sn.disk_size = struct.unpack_from(">Q", extra, 8)[0]
            if extra_len >= 24:   # bytes 56-63: record/replay icount, -1 when disabled
                icount = struct.unpack_from(">Q", extra, 16)[0]
                sn.icount = None if icount == (1 << 64) - 1 else icount
            out.append(sn)
            end = pos + 40 + extra_len + id_len + name_len
            if end - h.snapshots_offset > MAX_SNAPSHOTS_SIZE:
                raise ValueError(f"Snapshot table is too big: more than {MAX_SNAPSHOTS_SIZE} bytes "
                                 f"by entry {len(out) - 1}")
            pos = (end + 7) & ~7
        # QEMU counts the table up to the end of the last entry, without padding
        self.snapshots_size = end - h.snapshots_offset if out else 0
        return out
    # --8<-- [end:snapshots]

    def close(self) -> None:
        for attr in ("backing",):
            other = getattr(self, attr, None)
            if other is not None:
                other.close()
        if getattr(self, "data_fd", None) is not None:
            os.close(self.data_fd)
            self.data_fd = None
        os.close(self.fd)

    def __enter__(self) -> Qcow2Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        """The disk size QEMU uses: the header's size rounded down to whole 512-byte sectors."""
        return self.header.size // 512 * 512

    # --------------------------------------------------------------- refcounts
    # --8<-- [start:refcount]
    def refcount(self, host_offset: int) -> int:
        """Reference count of the host cluster holding ``host_offset``.

        Two levels, like L1/L2: the refcount table points to refcount blocks of
        one cluster, each holding ``cluster_size * 8 / refcount_bits`` entries.
        Entries narrower than a byte are packed from the least significant bit.
        """
        h = self.header
        bits = h.refcount_bits
        per_block = h.cluster_size * 8 // bits
        cluster = host_offset >> h.cluster_bits
        table_index, block_index = divmod(cluster, per_block)
        if table_index >= len(self.refcount_table):
            return 0
        block = self.refcount_table[table_index] & ~0x1FF
        if block == 0:
            return 0                      # block not allocated: all its refcounts are 0
        data = self._refblock_cache.get(block)
        if data is None:
            data = self._refblock_cache[block] = _cached_read(self._refblock_cache, self.fd,
                                                              block, h.cluster_size)
        if bits >= 8:
            nbytes = bits // 8
            return int.from_bytes(data[block_index * nbytes:(block_index + 1) * nbytes], "big")
        byte = data[block_index * bits // 8]
        shift = block_index * bits % 8
        return (byte >> shift) & ((1 << bits) - 1)
    # --8<-- [end:refcount]

    # ----------------------------------------------------------- L1/L2 lookup
    def _l2_table(self, l2_offset: int) -> bytes:
        table = self._l2_cache.get(l2_offset)
        if table is None:
            table = _cached_read(self._l2_cache, self.fd, l2_offset, self.header.cluster_size)
            self._l2_cache[l2_offset] = table
        return table

    def _nonzero_refcounts(self, block: int) -> list[int]:
        """Indexes of the entries of one refcount block that are not 0 (a block is read once)."""
        found = self._nonzero_cache.get(block)
        if found is None:
            if len(self._nonzero_cache) * self.header.cluster_size >= CACHE_BYTES:
                self._nonzero_cache.clear()
            data = _read_at(self.fd, block, self.header.cluster_size)
            bits = self.header.refcount_bits
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
            self._nonzero_cache[block] = found
        return found

    # --8<-- [start:lookup]
    def locate(self, offset: int, l1: Sequence[int] | None = None) -> Mapping:
        """Translate a guest offset: header -> L1 entry -> L2 entry -> host cluster.

        ``l1`` selects another L1 table (an internal snapshot's); default: the active one.
        The L2 entry (with extended L2 also its subcluster bitmap) is classified as QEMU
        does; entries QEMU calls corrupt (and answers with EIO) raise ValueError.
        """
        h = self.header
        cs = h.cluster_size
        l1 = self.l1 if l1 is None else l1
        entry_size = 16 if h.extended_l2 else 8
        in_cluster = offset & (cs - 1)
        l1_index, l2_index = divmod(offset >> h.cluster_bits, cs // entry_size)
        l2_offset = l1[l1_index] & OFFSET_MASK if l1_index < len(l1) else 0
        if not l2_offset:
            return Mapping("unallocated")        # no L2 table: the whole range is unallocated
        if l2_offset % cs:
            raise ValueError(f"Image is corrupt: L2 table offset {_c_hex(l2_offset)} unaligned "
                             f"(L1 index: {_c_hex(l1_index)})")
        table = self._l2_table(l2_offset)
        desc = struct.unpack_from(">Q", table, l2_index * entry_size)[0]
        at = f"(L2 offset: {_c_hex(l2_offset)}, L2 index: {_c_hex(l2_index)})"
        data_file = self.external
        if desc & L2_COMPRESSED:
            if data_file:
                raise ValueError(f"Image is corrupt: Compressed cluster entry found in image with "
                                 f"external data file {at}")
            return Mapping("compressed", desc & ((1 << 62) - 1), self.path)
        host = desc & OFFSET_MASK
        # a host cluster is assigned (with a data file, offset 0 is valid when bit 63 is set)
        allocated = host != 0 or bool(data_file and desc & L2_COPIED)
        if h.extended_l2:
            bitmap = struct.unpack_from(">Q", table, l2_index * entry_size + 8)[0]
            alloc_bits, zero_bits = bitmap & 0xFFFF_FFFF, bitmap >> 32
            sub = in_cluster // (cs // 32)                 # 32 subclusters per cluster
            if (alloc_bits & zero_bits) if allocated else alloc_bits:
                raise ValueError(f"Image is corrupt: Invalid cluster entry found  {at}")
            kind = ("zero" if zero_bits >> sub & 1 else
                    "data" if alloc_bits >> sub & 1 else "unallocated")
        elif desc & L2_ZERO:                      # reads as zeros, never from the backing file
            if h.version < 3:                     # bit 0 is reserved in v2
                raise ValueError(f"Image is corrupt: Zero cluster entry found in pre-v3 image {at}")
            kind, allocated = "zero", host != 0
        else:
            kind = "data" if allocated else "unallocated"
        if allocated:        # QEMU checks the host cluster even where it reads as zeros
            if host % cs:
                raise ValueError(f"Image is corrupt: Cluster allocation offset {_c_hex(host)} "
                                 f"unaligned {at}")
            if data_file and host != offset - in_cluster:
                raise ValueError(f"Image is corrupt: External data file host cluster offset "
                                 f"{_c_hex(host)} does not match guest cluster offset: "
                                 f"{_c_hex(offset - in_cluster)}, L2 index: {_c_hex(l2_index)})")
        if kind != "data":
            return Mapping(kind)
        where = path_combine(self.path, self.data_file_name) if data_file else self.path
        return Mapping("data", host + in_cluster, where)
    # --8<-- [end:lookup]

    def _classify(self, offset: int) -> tuple[str, int | None]:
        """QEMU's subcluster types: data, compressed, zero_plain, zero_alloc,
        unallocated_plain, unallocated_alloc; with the host offset where there is one."""
        self.locate(offset)     # raises where QEMU finds the image corrupt (EIO in qemu-img map)
        h = self.header
        entry_size = 16 if h.extended_l2 else 8
        l2_entries = h.cluster_size // entry_size
        in_cluster = offset & (h.cluster_size - 1)
        l1_index, l2_index = divmod(offset >> h.cluster_bits, l2_entries)
        if l1_index >= len(self.l1) or not self.l1[l1_index] & OFFSET_MASK:
            return "unallocated_plain", None
        table = self._l2_table(self.l1[l1_index] & OFFSET_MASK)
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

    def _run(self, offset: int) -> tuple[str, int | None, int]:
        """``_classify`` for the run of units that starts at ``offset``: (kind, host offset, bytes).

        The run goes on while the units (clusters, or subclusters with extended
        L2) have the same kind and their host offsets follow on, up to the end of
        one L2 table, as QEMU's count_contiguous_subclusters() counts; a missing
        L2 table is one run over all the guest bytes it would map.  Each L2 table
        is split into runs once, however many L1 entries point to it.
        """
        kind, host = self._classify(offset)        # raises where QEMU finds the entry corrupt
        h = self.header
        sub = 32 if h.extended_l2 else 1
        unit = h.cluster_size // sub
        per_table = h.cluster_size // (16 if h.extended_l2 else 8) * sub    # units one L2 table maps
        l1_index, index = divmod(offset // unit, per_table)
        l2_offset = self.l1[l1_index] & OFFSET_MASK if l1_index < len(self.l1) else 0
        if not l2_offset:                  # up to the next L1 entry that has an L2 table
            if self._l1_used is None:
                self._l1_used = [i for i, e in enumerate(self.l1) if e & OFFSET_MASK]
            at = bisect.bisect_right(self._l1_used, l1_index)
            upto = self._l1_used[at] if at < len(self._l1_used) else max(len(self.l1), l1_index + 1)
            return kind, host, upto * per_table * unit - offset
        if kind == "compressed" or self.external:
            return kind, host, unit - offset % unit
        starts, runs = self._l2_runs(l2_offset)
        first, count, _kind, _host = runs[bisect.bisect_right(starts, index) - 1]
        return kind, host, (l1_index * per_table + first + count) * unit - offset

    def _l2_runs(self, l2_offset: int) -> tuple[list[int], list[tuple[int, int, str, int | None]]]:
        """One L2 table as runs (first unit, units, kind, host offset of the first unit).

        An entry QEMU calls corrupt is a run of its own (kind "corrupt"), so a run
        never reaches past it; ``_classify`` raises when a map arrives there.
        """
        cached = self._runs_cache.get(l2_offset)
        if cached is not None:
            return cached
        h = self.header
        cs, ext = h.cluster_size, h.extended_l2
        sub = 32 if ext else 1
        unit, esize = cs // sub, 16 if ext else 8
        table = self._l2_table(l2_offset)
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
        if len(self._runs_cache) * cs >= CACHE_BYTES:
            self._runs_cache.clear()
        result = ([r[0] for r in runs], [tuple(r) for r in runs])
        self._runs_cache[l2_offset] = result      # type: ignore[assignment]
        return result  # type: ignore[return-value]

    def _metadata_prealloc(self) -> bool:
        if getattr(self, "_prealloc", None) is None:
            self._prealloc = _metadata_preallocated(self)
        return self._prealloc

    # --8<-- [start:compressed]
    def _compressed_cluster(self, desc: int) -> bytes:
        """Inflate one compressed cluster.

        The descriptor packs a byte offset (low ``x`` bits, ``x = 62 - (cluster_bits - 8)``)
        and the number of additional 512-byte sectors the compressed data spans.
        """
        h = self.header
        x = 62 - (h.cluster_bits - 8)
        host = desc & ((1 << x) - 1)
        extra_sectors = (desc >> x) & ((1 << (h.cluster_bits - 8)) - 1)
        length = (extra_sectors + 1) * 512 - (host & 511)
        packed = _read_at(self.fd, host, length)
        if h.compression_type == 0:
            # raw deflate stream (no zlib header), stopped once a cluster has come out
            try:
                out = zlib.decompressobj(-15).decompress(packed, h.cluster_size)
            except zlib.error as exc:       # QEMU: "read failed: Input/output error"
                raise ValueError(f"compressed cluster at {host:#x} does not inflate ({exc}); "
                                 "the image is damaged (qemu-io reports an I/O error)") from None
        else:
            out = _zstd_decompress(packed, h.cluster_size)
        if len(out) != h.cluster_size:
            raise ValueError(f"compressed cluster at {host:#x} inflates to {len(out)} bytes, "
                             f"expected {h.cluster_size}")
        return out
    # --8<-- [end:compressed]

    # --8<-- [start:read]
    def read(self, offset: int, length: int, snapshot: str | None = None) -> bytes:
        """Guest bytes [offset, offset+length): data clusters, zeros, or the backing file.

        ``snapshot`` (an id or a name) reads an internal snapshot instead of the
        active state; the backing file is the same for both.
        """
        _check_range(offset, length, self.size)
        if self.header.crypt_method:
            kind = "legacy qcow2 AES" if self.header.crypt_method == 1 else "LUKS"
            raise ValueError(f"the image is encrypted ({kind}); this reader does not decrypt and "
                             "will not return ciphertext as guest data (accepted: unencrypted images; "
                             "qemu-io needs --object secret,... and encrypt.key-secret)")
        l1 = self.l1 if snapshot is None else self._snapshot_l1(snapshot)
        cs = self.header.cluster_size
        # extended L2: a subcluster is the unit of allocation, so walk in those steps
        step = cs // 32 if self.header.extended_l2 else cs
        out = bytearray()
        pos, end = offset, offset + length
        while pos < end:
            chunk = min(end, (pos // step + 1) * step) - pos
            m = self.locate(pos, l1)
            if m.kind == "data":
                fd = self.fd
                if self.external:
                    if self.data_fd is None:
                        raise ValueError("the external data file is not open (open the image "
                                         "with open_backing=True to read guest data)")
                    fd = self.data_fd
                out += _read_at(fd, m.host_offset, chunk)
            elif m.kind == "compressed":
                start = pos & (cs - 1)
                chunk = min(end - pos, cs - start)
                out += self._compressed_cluster(m.host_offset)[start:start + chunk]
            elif m.kind == "zero":
                out += bytes(chunk)
            else:                       # unallocated: fall through to the backing file
                out += self._backing_read(pos, chunk)
            pos += chunk
        return bytes(out)

    def _backing_read(self, offset: int, length: int) -> bytes:
        """Read from the backing file; past its end (a smaller backing file) read zeros."""
        if self.backing is None:
            return bytes(length)
        inside = max(0, min(length, self.backing.size - offset))
        data = self.backing.read(offset, inside) if inside else b""
        return data + bytes(length - inside)
    # --8<-- [end:read]

    # ----------------------------------------------------- qemu-img check
    # --8<-- [start:check]
    def check(self) -> CheckResult:
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
        h = self.header
        cs, bits = h.cluster_size, h.cluster_bits
        file_clusters = -(-os.fstat(self.fd).st_size // cs)
        counted: dict[int, int] = {}
        res = CheckResult(total_clusters=-(-self.size // cs))

        def add(offset: int, length: int, times: int = 1) -> None:
            if length <= 0:
                return
            for c in range(offset >> bits, ((offset + length - 1) >> bits) + 1):
                counted[c] = counted.get(c, 0) + times

        l2_refs: dict[int, int] = {}           # L2 table -> references from all L1 tables
        active: dict[int, int] = {}            # ... from the active L1 table (for the statistics)

        def walk_l1(l1_offset: int, l1_size: int, times: int, refs: dict[int, int]) -> None:
            add(l1_offset, l1_size * 8, times)
            for l1_entry in self._read_table(l1_offset, l1_size):
                l2_offset = l1_entry & OFFSET_MASK
                if l2_offset:
                    refs[l2_offset] = refs.get(l2_offset, 0) + times

        add(0, cs)                                               # the header cluster
        walk_l1(h.l1_table_offset, h.l1_size, 1, active)
        snapshot_l1s: dict[tuple[int, int], int] = {}
        for sn in self.snapshots:
            if sn.l1_table_offset % cs:                      # QEMU skips such an entry
                res.messages.append(f"ERROR snapshot {sn.id} ({sn.name}) l1_offset="
                                    f"{_c_hex(sn.l1_table_offset)}: L1 table is not cluster "
                                    "aligned; snapshot table entry corrupted")
                res.corruptions += 1
                continue
            if sn.l1_size > MAX_L1_SIZE // 8:
                res.messages.append(f"ERROR snapshot {sn.id} ({sn.name}) l1_size="
                                    f"{_c_hex(sn.l1_size)}: L1 table is too large; snapshot "
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
            refs, stats = self._l2_references(l2_offset)
            for host, length in refs:
                add(host, length, times)
            for name, value in zip(("allocated_clusters", "compressed_clusters",
                                    "fragmented_clusters"), stats):
                setattr(res, name, getattr(res, name) + value * active.get(l2_offset, 0))
        add(h.snapshots_offset, self.snapshots_size)
        add(h.refcount_table_offset, h.refcount_table_clusters * cs)
        if self.crypto_header:                                   # the LUKS header and key slots
            add(*self.crypto_header)
        if self.bitmaps:
            add(*self.bitmap_directory)
            for bm in self.bitmaps:
                add(bm.table_offset, bm.table_size * 8)
                for entry in self._read_table(bm.table_offset, bm.table_size):
                    if entry & OFFSET_MASK:
                        add(entry & OFFSET_MASK, cs)
        for block in self.refcount_table:
            if block & ~0x1FF:
                add(block & ~0x1FF, cs)
        # QEMU compares cluster 0, 1, 2 ... of the file; only clusters with a stored or a
        # counted reference can differ or be the last one in use
        per_block = cs * 8 // h.refcount_bits
        stored = set()
        for index, block in enumerate(self.refcount_table):
            if block & ~0x1FF and index * per_block < file_clusters:
                stored.update(index * per_block + i for i in self._nonzero_refcounts(block & ~0x1FF))
        highest = 0
        for c in sorted(c for c in stored.union(counted) if c < file_clusters):
            stored_rc, wanted = self.refcount(c << bits), counted.get(c, 0)
            if stored_rc or wanted:
                highest = c
            if stored_rc != wanted:
                kind = "ERROR" if stored_rc < wanted else "Leaked"
                res.messages.append(f"{kind} cluster {c} refcount={stored_rc} reference={wanted}")
                if stored_rc < wanted:
                    res.corruptions += 1
                else:
                    res.leaks += 1
        self._check_copied_flags(res)
        res.image_end_offset = (highest + 1) * cs
        return res
    # --8<-- [end:check]

    def _l2_references(self, l2_offset: int) -> tuple[list[tuple[int, int]], tuple[int, int, int]]:
        """What one L2 table references: (host offset, length) per entry, and its statistics
        (allocated, compressed, fragmented clusters) as qemu-img check counts them."""
        h = self.header
        cs, bits = h.cluster_size, h.cluster_bits
        entry_size = 16 if h.extended_l2 else 8
        table = _read_at(self.fd, l2_offset, cs)
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
            if host == 0 and not (self.external and desc & L2_COPIED):
                continue                        # unallocated, or a zero cluster without space
            allocated += 1
            if next_contiguous and host != next_contiguous:
                fragmented += 1
            next_contiguous = host + cs
            if not self.external:
                refs.append((host, cs))
        return refs, (allocated, compressed, fragmented)

    def _check_copied_flags(self, res: CheckResult) -> None:
        """Bit 63 of active L1 and L2 entries must be set exactly when the refcount is 1."""
        h = self.header
        entry_size = 16 if h.extended_l2 else 8
        per_table: dict[int, list[str]] = {}         # an L2 table's messages, found once
        for index, l1_entry in enumerate(self.l1):
            l2_offset = l1_entry & OFFSET_MASK
            if not l2_offset:
                continue
            rc = self.refcount(l2_offset)
            if (rc == 1) != bool(l1_entry & L2_COPIED):
                res.messages.append(f"ERROR OFLAG_COPIED L2 cluster: l1_index={index} "
                                    f"l1_entry={l1_entry:x} refcount={rc}")
                res.corruptions += 1
            found = per_table.get(l2_offset)
            if found is None:
                found = per_table[l2_offset] = []
                table = _read_at(self.fd, l2_offset, h.cluster_size)
                for i in range(0, h.cluster_size if table.count(0) != len(table) else 0, entry_size):
                    desc = struct.unpack_from(">Q", table, i)[0]
                    host = desc & OFFSET_MASK
                    if desc & L2_COMPRESSED or (host == 0 and not (self.external
                                                                   and desc & L2_COPIED)):
                        continue
                    rc = 1 if self.external else self.refcount(host)
                    if (rc == 1) != bool(desc & L2_COPIED):
                        found.append(f"ERROR OFLAG_COPIED data cluster: l2_entry={desc:x} "
                                     f"refcount={rc}")
            res.messages += found
            res.corruptions += len(found)

    def _snapshot_l1(self, which: str) -> tuple[int, ...]:
        for sn in self.snapshots:
            if which in (sn.id, sn.name):
                if sn.l1_size > MAX_L1_SIZE // 8:
                    raise ValueError(f"Snapshot L1 table too large: {sn.l1_size} entries "
                                     f"(accepted: up to {MAX_L1_SIZE // 8})")
                if sn.l1_table_offset % self.header.cluster_size:
                    raise ValueError(f"Snapshot L1 table offset invalid: {sn.l1_table_offset:#x} "
                                     "(accepted: a multiple of the cluster size)")
                return self._read_table(sn.l1_table_offset, sn.l1_size)
        raise ValueError(f"no snapshot with id or name {which!r} "
                         f"(accepted: {', '.join(s.name for s in self.snapshots) or 'none'})")

    # -------------------------------------------------------- qemu-img info
    # --8<-- [start:info]
    def info(self) -> dict[str, Any]:
        """The fields of ``qemu-img info``, inserted in QAPI's ImageInfo order."""
        h = self.header
        st = os.fstat(self.fd)
        out: dict[str, Any] = {"filename": self.path, "format": "qcow2",
                               "dirty-flag": bool(h.incompatible_features & INCOMPAT_DIRTY),
                               "actual-size": st.st_blocks * 512, "virtual-size": self.size,
                               "cluster-size": h.cluster_size}
        if h.crypt_method:
            out["encrypted"] = True
        if self.backing_file:
            out["backing-filename"] = self.backing_file
            out["full-backing-filename"] = path_combine(self.path, self.backing_file)
            if self.backing_format:
                out["backing-filename-format"] = self.backing_format
        if self.snapshots and not self.external:   # QEMU lists none with an external data file
            out["snapshots"] = [self._snapshot_info(sn) for sn in self.snapshots]
        data: dict[str, Any]
        if h.version == 2:
            data = {"compat": "0.10", "refcount-bits": h.refcount_bits}
            if h.crypt_method == 1:
                data["encrypt"] = {"format": "aes"}
            elif self.luks is not None:
                data["encrypt"] = self.luks
        else:
            data = {"compat": "1.1"}
            if self.data_file_name is not None:
                data["data-file"] = self.data_file_name
            if h.incompatible_features & INCOMPAT_DATA_FILE:
                data["data-file-raw"] = bool(h.autoclear_features & AUTOCLEAR_DATA_FILE_RAW)
            data["extended-l2"] = h.extended_l2
            data["lazy-refcounts"] = bool(h.compatible_features & COMPAT_LAZY_REFCOUNTS)
            data["corrupt"] = bool(h.incompatible_features & INCOMPAT_CORRUPT)
            data["refcount-bits"] = h.refcount_bits
            if h.crypt_method == 1:
                data["encrypt"] = {"format": "aes"}
            elif self.luks is not None:
                data["encrypt"] = self.luks
            if self.bitmaps:
                data["bitmaps"] = [{"name": b.name, "granularity": b.granularity,
                                    "flags": [f for bit, f in ((0, "in-use"), (1, "auto"))
                                              if b.flags >> bit & 1]}
                                   for b in self.bitmaps]
        data["compression-type"] = COMPRESSION_TYPES[h.compression_type]
        out["format-specific"] = {"type": "qcow2", "data": data}
        return out

    @staticmethod
    def _snapshot_info(sn: Snapshot) -> dict[str, Any]:
        d = {"id": sn.id, "name": sn.name, "vm-state-size": sn.vm_state_size,
             "date-sec": sn.date_sec, "date-nsec": sn.date_nsec,
             "vm-clock-sec": sn.vm_clock_nsec // 10**9, "vm-clock-nsec": sn.vm_clock_nsec % 10**9}
        if sn.icount is not None:
            d["icount"] = sn.icount
        return d
    # --8<-- [end:info]


def _zstd_decompress(packed: bytes, size: int) -> bytes:
    """zstd is in the standard library from Python 3.14 (``compression.zstd``) only."""
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError(
            "this cluster is zstd-compressed and this Python's standard library has no zstd "
            f"decoder (Python {sys.version_info[0]}.{sys.version_info[1]}; compression.zstd "
            "arrived in 3.14); convert it with `qemu-img convert -O qcow2` or "
            "`-o compression_type=zlib` first") from None
    return zstd.ZstdDecompressor().decompress(packed, size)


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


def _metadata_preallocated(img: Qcow2Image) -> bool:
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
            found = img._nonzero_refcounts(entry & ~0x1FF)
            count += bisect.bisect_left(found, clusters - index * per_block)
    return count >= threshold


# --8<-- [start:map]
def block_status(img: Any, offset: int, nbytes: int) -> tuple[int, int, int | None, str | None]:
    """(bytes, flags, host offset, host file) for the run at ``offset`` of one image layer."""
    nbytes = min(nbytes, img.size - offset)
    if isinstance(img, RawImage):         # raw: the answer is the host file's own status
        pnum, ret = _file_status(img.fd, offset, nbytes)
        return pnum, ret, offset, img.path
    kind, host, run = img._run(offset)    # units of one kind, their host offsets following on
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
    elif img.backing is None or offset >= img.backing.size:
        ret |= BS_ZERO                    # nothing below, or below the end of a shorter backing
    if (ret & BS_DATA and ret & BS_OFFSET_VALID and not ret & BS_ZERO
            and img._metadata_prealloc()):
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
    curr = MapEntry(0, 0)
    while curr.start + curr.length < img.size:
        pos = curr.start + curr.length
        layer, depth, want = img, 0, img.size - pos
        while True:
            pnum, ret, host, where = block_status(layer, pos, want)
            want = pnum                     # a lower layer answers only for this run
            if ret & (BS_ZERO | BS_DATA):
                break
            below = getattr(layer, "backing", None)
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


def open_image(path: str, fmt: str | None = None, *, open_backing: bool = True,
               allow_backing: bool = False, fd: int | None = None, _depth: int = 0,
               _chain: tuple[str, ...] = (), _root: str | None = None) -> Any:
    """Open a qcow2 or raw image; without ``fmt`` probe the magic like QEMU does.

    Backing and data files named inside the image are followed only inside the
    image's directory unless ``allow_backing`` (see ``_confine``).
    """
    fd = open_guarded(path) if fd is None else fd
    try:
        if fmt is None:
            fmt = probe_format(os.pread(fd, 512, 0))
        if fmt not in ("qcow2", "raw"):
            raise ValueError(f"{path} is a {fmt} image (qemu-img info reports \"format\": \"{fmt}\"); "
                             "this reader handles qcow2 and raw only (accepted: qcow2, raw)")
    except BaseException:
        os.close(fd)
        raise
    if fmt == "qcow2":
        return Qcow2Image(path, open_backing=open_backing, allow_backing=allow_backing, fd=fd,
                          _depth=_depth, _chain=_chain, _root=_root)
    return RawImage(path, fd=fd)


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
        return qemu_json(img.info())


# --8<-- [start:hexdump]
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
# --8<-- [end:hexdump]


def make_qcow2(path: str, size: int, clusters: dict[int, bytes] | None = None, *,
               cluster_bits: int = 16, backing: str | None = None,
               backing_format: str | None = None) -> str:
    """Write a minimal qcow2 v3 image: header, refcount table and block, L1, L2s, data.

    ``clusters`` maps a guest cluster index to its data (padded with zeros).
    Every host cluster gets refcount 1, so ``qemu-img check`` finds no errors.

    >>> make_qcow2("/tmp/never.qcow2", 1 << 20, {99: b"x"})
    Traceback (most recent call last):
    ...
    ValueError: guest cluster 99 is outside the disk (accepted: 0 to 15)
    """
    clusters = clusters or {}
    if not 9 <= cluster_bits <= 21:
        raise ValueError(f"cluster_bits {cluster_bits} out of range (accepted: 9 to 21)")
    cs = 1 << cluster_bits
    n_guest = -(-size // cs)
    for idx, data in clusters.items():
        if not 0 <= idx < n_guest:
            raise ValueError(f"guest cluster {idx} is outside the disk (accepted: 0 to {n_guest - 1})")
        if len(data) > cs:
            raise ValueError(f"cluster {idx} holds {len(data)} bytes (accepted: up to {cs})")
    l2_entries = cs // 8
    l1_size = -(-n_guest // l2_entries)
    l1_clusters = max(1, -(-l1_size * 8 // cs))
    # layout: 0 header, 1 refcount table, 2 refcount block, then L1, L2 tables, data
    l1_off = 3 * cs
    next_free = l1_off + l1_clusters * cs
    l2_offsets: dict[int, int] = {}
    data_offsets: dict[int, int] = {}
    for idx in sorted(clusters):
        l1_index = idx // l2_entries
        if l1_index not in l2_offsets:
            l2_offsets[l1_index] = next_free
            next_free += cs
        data_offsets[idx] = next_free
        next_free += cs
    n_host = next_free // cs
    if n_host > cs * 8 // 16:
        raise ValueError(f"image needs {n_host} clusters, more than one refcount block covers "
                         f"(accepted: up to {cs // 2}); use larger clusters")
    buf = bytearray(next_free)
    name = (backing or "").encode()
    fmt = (backing_format or "").encode()
    ext = b""
    if fmt:
        ext += struct.pack(">II", EXT_BACKING_FORMAT, len(fmt)) + fmt + bytes(-len(fmt) % 8)
    ext += bytes(8)                                   # end of the extension area
    backing_off = 112 + len(ext) if name else 0
    struct.pack_into(">4sIQIIQIIQQIIQQQQII", buf, 0, QCOW_MAGIC, 3, backing_off, len(name),
                     cluster_bits, size, 0, l1_size, l1_off, cs, 1, 0, 0, 0, 0, 0, 4, 112)
    buf[112:112 + len(ext)] = ext
    buf[backing_off:backing_off + len(name)] = name
    struct.pack_into(">Q", buf, cs, 2 * cs)           # refcount table -> refcount block
    for c in range(n_host):                           # every cluster used once
        struct.pack_into(">H", buf, 2 * cs + 2 * c, 1)
    for l1_index, l2_off in l2_offsets.items():
        struct.pack_into(">Q", buf, l1_off + 8 * l1_index, l2_off | L2_COPIED)
    for idx, data_off in data_offsets.items():
        l2_off = l2_offsets[idx // l2_entries]
        struct.pack_into(">Q", buf, l2_off + 8 * (idx % l2_entries), data_off | L2_COPIED)
        buf[data_off:data_off + len(clusters[idx])] = clusters[idx]
    with open_guarded_file(path, "wb") as f:
        f.write(buf)
    return path


# --8<-- [start:l2cache]
def l2_cache_bytes(disk_size: int, cluster_size: int = 65536, extended_l2: bool = False) -> int:
    """L2 cache that maps a whole disk: one 8-byte entry (16 with extended L2) per cluster.

    QEMU's default L2 cache limit on Linux is 32 MiB (docs/qcow2-cache.txt),
    which covers 256 GiB with 64 KiB clusters:

    >>> l2_cache_bytes(256 << 30) == 32 << 20
    True
    >>> l2_cache_bytes(1 << 40) >> 20, l2_cache_bytes(1 << 40, 2 << 20) >> 20
    (128, 4)
    >>> l2_cache_bytes(1 << 40, 65536, extended_l2=True) >> 20
    256
    >>> l2_cache_bytes(1 << 30, 3000)
    Traceback (most recent call last):
    ...
    ValueError: cluster size 3000 must be a power of two from 512 B to 2 MiB
    """
    if not isinstance(cluster_size, int) or not isinstance(disk_size, int):
        raise ValueError(f"disk size {disk_size!r} and cluster size {cluster_size!r} must be whole bytes")
    if cluster_size & (cluster_size - 1) or not 512 <= cluster_size <= 2 << 20:
        raise ValueError(f"cluster size {cluster_size} must be a power of two from 512 B to 2 MiB")
    if disk_size < 0:
        raise ValueError(f"disk size {disk_size} must be >= 0")
    clusters = -(-disk_size // cluster_size)
    return clusters * (16 if extended_l2 else 8)
# --8<-- [end:l2cache]


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
                         "none (Qcow2Image.check() works without it)")


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
            p = argparse.ArgumentParser(prog="qcow2.py read",
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
                _check_range(off, length, img.size)
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
            p = argparse.ArgumentParser(prog="qcow2.py map",
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
            p = argparse.ArgumentParser(prog="qcow2.py check",
                                        description="recount references like qemu-img check (no repair)")
            p.add_argument("image")
            a = p.parse_args(argv[1:])
            with open_image(a.image, "qcow2", open_backing=False) as img:
                _needs_no_key(img)
                res = img.check()
            for line in res.messages:
                print(line, file=sys.stderr)
            print(res.report())
            return res.exit_status
        p = argparse.ArgumentParser(
            prog="qcow2.py",
            description="print what `qemu-img info --output=json IMAGE` prints "
                        "(or: qcow2.py read IMAGE OFFSET LENGTH, qcow2.py check IMAGE)")
        p.add_argument("image")
        a = p.parse_args(argv)
        print(image_info_json(a.image))
        return 0
    except (ValueError, OSError) as exc:
        print(printable(f"qcow2.py: {exc}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
