"""A qcow2 reader: header, L1/L2 lookup, refcounts, snapshots and the backing chain.

The module follows QEMU's specification ``docs/interop/qcow2.txt``.  It opens a
qcow2 image (v2, compat 0.10, and v3, compat 1.1) or a raw one, translates a
guest offset through the L1 and L2 tables to a host cluster (``locate``),
reads guest bytes (``read``: data clusters, zero clusters, compressed
clusters, or the backing file below), looks up the reference count of a host
cluster (``refcount``), reads internal snapshots, and writes a small, valid
image with the standard library only (``make_qcow2``).

The twin of QEMU's tools is ``qcow2_tool.py``: it imports this module and
prints what ``qemu-img info``, ``qemu-img map``, ``qemu-img check`` and
``qemu-io read -v`` print, with QEMU's remaining open-time checks (bitmap
directory, LUKS header) and its format probe.

What is covered: header v2 and v3, header extensions (backing format, feature
name table, external data file, where the LUKS header lies), L1 -> L2 -> data
lookup with zero clusters, compressed clusters (zlib; zstd needs a decoder the
standard library of this Python lacks, so reading such a cluster raises an
error that says so), extended L2 entries (32 subclusters per cluster),
refcounts of 1 to 64 bits, the snapshot table, and reads that fall through a
chain of qcow2 or raw backing files.  Encrypted images open (their metadata is
in clear), but reads refuse: the data is ciphertext.

Damaged images: the header and table checks of QEMU's ``qcow2_do_open()`` run
in QEMU's order; a refusal raises ``ValueError`` whose message starts with
QEMU's own words ("Reference count table offset invalid", "Image is corrupt:
L2 table offset 0x40200 unaligned ...").  Bytes past the end of the file read
as zeros, as in QEMU.  Names are decoded as QEMU's JSON writer decodes them
(modified UTF-8, one U+FFFD per invalid sequence).  Backing and data files
that an image names are followed only inside the directory of the image
opened (``_confine``).

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

import os
import struct
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from safety import open_guarded, open_guarded_file, opened_name

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
class Mapping:
    """Where one guest byte lives: ``kind`` is data, compressed, zero or unallocated."""

    kind: str
    host_offset: int | None = None   # in the image file, or in the external data file
    file: str | None = None


def read_at(fd: int, offset: int, length: int) -> bytes:
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
    return read_at(fd, offset, length)


def c_hex(n: int) -> str:
    """printf's %#x: 0x-prefixed hex, but a plain 0 for zero."""
    return f"{n:#x}" if n else "0"


def c_string(raw: bytes) -> str:
    """A name as QEMU sees and prints it: a C string (ends at the first NUL byte) decoded
    like util/unicode.c's mod_utf8_codepoint(), which the JSON writer uses.

    Each invalid sequence becomes one U+FFFD; ``C0 80`` is U+0000 (modified UTF-8);
    overlong forms, surrogates and noncharacters such as U+FFFF are invalid.

    >>> c_string(b"\\xe2\\x82\\xac\\xc0\\x80\\xed\\xa0\\x80\\xef\\xbf\\xbfok\\0tail")
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
    path (``allow_backing=True``; ``qcow2_tool.py --allow-backing``).
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
        check_range(offset, length, self.size)
        return read_at(self.fd, offset, length)


def check_range(offset: int, length: int, size: int) -> None:
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
        first = read_at(self.fd, 0, 4096)
        h = self.header = parse_header(first)
        cs = h.cluster_size
        cluster0 = read_at(self.fd, 0, cs)
        self.backing_format: str | None = None
        self.feature_names: list[tuple[int, int, str]] = []
        self.data_file_name: str | None = None
        self.crypto_header: tuple[int, int] | None = None     # where the LUKS header lies
        self.bitmaps_extension: bytes | None = None            # where the bitmap directory lies
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
        self.l1 = self.read_table(h.l1_table_offset, h.l1_size)
        self.refcount_table = self.read_table(h.refcount_table_offset,
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
        self.backing_file: str | None = None
        if h.backing_file_offset:
            if h.backing_file_size > min(1023, cs - h.backing_file_offset):
                raise ValueError(f"Backing file name too long: {h.backing_file_size} bytes (accepted: "
                                 f"up to {min(1023, cs - h.backing_file_offset)}, the rest of cluster 0, "
                                 "at most 1023)")
            raw = read_at(self.fd, h.backing_file_offset, h.backing_file_size)
            self.backing_file = c_string(raw)
        self.snapshots = self._read_snapshots()
        self._l2_cache: dict[int, bytes] = {}
        self._refblock_cache: dict[int, bytes] = {}
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

    def read_table(self, offset: int, entries: int) -> tuple[int, ...]:
        return struct.unpack(f">{entries}Q", read_at(self.fd, offset, entries * 8))

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
                    name = c_string(data[i + 2:i + 48])
                    if name:
                        self.feature_names.append((data[i], data[i + 1], name))
            elif names_only:
                pass
            elif etype == EXT_BACKING_FORMAT:
                if elen >= 16:
                    raise ValueError(f"ERROR: ext_backing_format: len={elen} too large (>=16)")
                self.backing_format = c_string(data)
            elif etype == EXT_DATA_FILE:
                self.data_file_name = c_string(data)
            elif etype == EXT_CRYPTO:
                self._crypto_extension(data)
            elif etype == EXT_BITMAPS:     # persistent dirty bitmaps: read by qcow2_tool.py
                self.bitmaps_extension = data
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

    def _read_snapshots(self) -> list[Snapshot]:
        """Parse the snapshot table: a 40-byte fixed part, extra data, id, name, pad to 8."""
        h = self.header
        out: list[Snapshot] = []
        pos = h.snapshots_offset
        for _ in range(h.nb_snapshots):
            fixed = read_at(self.fd, pos, 40)
            (l1_off, l1_size, id_len, name_len, date_sec, date_nsec, vm_clock,
             vm_state32, extra_len) = struct.unpack(">QIHHIIQII", fixed)
            if extra_len > MAX_SNAPSHOT_EXTRA_DATA:
                raise ValueError(f"Too much extra metadata in snapshot table entry {len(out)}: "
                                 f"{extra_len} bytes (accepted: up to {MAX_SNAPSHOT_EXTRA_DATA})")
            extra = read_at(self.fd, pos + 40, extra_len)
            strings = read_at(self.fd, pos + 40 + extra_len, id_len + name_len)
            # QEMU keeps id and name as C strings: a NUL byte ends them
            sn = Snapshot(l1_off, l1_size, c_string(strings[:id_len]), c_string(strings[id_len:]),
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
    def l2_table(self, l2_offset: int) -> bytes:
        """The L2 table (one cluster) at ``l2_offset``, kept in a cache of CACHE_BYTES."""
        table = self._l2_cache.get(l2_offset)
        if table is None:
            table = _cached_read(self._l2_cache, self.fd, l2_offset, self.header.cluster_size)
            self._l2_cache[l2_offset] = table
        return table

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
            raise ValueError(f"Image is corrupt: L2 table offset {c_hex(l2_offset)} unaligned "
                             f"(L1 index: {c_hex(l1_index)})")
        table = self.l2_table(l2_offset)
        desc = struct.unpack_from(">Q", table, l2_index * entry_size)[0]
        at = f"(L2 offset: {c_hex(l2_offset)}, L2 index: {c_hex(l2_index)})"
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
                raise ValueError(f"Image is corrupt: Cluster allocation offset {c_hex(host)} "
                                 f"unaligned {at}")
            if data_file and host != offset - in_cluster:
                raise ValueError(f"Image is corrupt: External data file host cluster offset "
                                 f"{c_hex(host)} does not match guest cluster offset: "
                                 f"{c_hex(offset - in_cluster)}, L2 index: {c_hex(l2_index)})")
        if kind != "data":
            return Mapping(kind)
        where = path_combine(self.path, self.data_file_name) if data_file else self.path
        return Mapping("data", host + in_cluster, where)
    # --8<-- [end:lookup]

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
        packed = read_at(self.fd, host, length)
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
        check_range(offset, length, self.size)
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
                out += read_at(fd, m.host_offset, chunk)
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

    def _snapshot_l1(self, which: str) -> tuple[int, ...]:
        for sn in self.snapshots:
            if which in (sn.id, sn.name):
                if sn.l1_size > MAX_L1_SIZE // 8:
                    raise ValueError(f"Snapshot L1 table too large: {sn.l1_size} entries "
                                     f"(accepted: up to {MAX_L1_SIZE // 8})")
                if sn.l1_table_offset % self.header.cluster_size:
                    raise ValueError(f"Snapshot L1 table offset invalid: {sn.l1_table_offset:#x} "
                                     "(accepted: a multiple of the cluster size)")
                return self.read_table(sn.l1_table_offset, sn.l1_size)
        raise ValueError(f"no snapshot with id or name {which!r} "
                         f"(accepted: {', '.join(s.name for s in self.snapshots) or 'none'})")


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


def open_image(path: str, fmt: str | None = None, *, open_backing: bool = True,
               allow_backing: bool = False, fd: int | None = None, _depth: int = 0,
               _chain: tuple[str, ...] = (), _root: str | None = None) -> Any:
    """Open a qcow2 or raw image.

    Without ``fmt`` the first bytes decide: the qcow2 magic means qcow2, anything
    else is raw (QEMU also recognises other formats' magic numbers; so does
    ``qcow2_tool.open_image``).  Backing and data files named inside the image
    are followed only inside the image's directory unless ``allow_backing``
    (see ``_confine``).
    """
    fd = open_guarded(path) if fd is None else fd
    try:
        if fmt is None:
            fmt = "qcow2" if os.pread(fd, 4, 0) == QCOW_MAGIC else "raw"
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

