"""Twin, part 2: snippets/qcow2_tool.py and the reader snippets/qcow2.py against
qemu-img/qemu-io 7.2 on the images people forget.

test_qcow2_tool_qemu_img.py draws ordinary images at random.  This file makes the unusual
ones with QEMU itself and then, where QEMU does not offer a switch, by editing
header fields at the offsets of qcow2.txt:

* LUKS-encrypted images (real ones, then many header variants): ``info`` is
  byte-identical without the passphrase, with and without ``-U``; ``read``
  refuses instead of printing ciphertext;
* external data files (``data_file_raw`` on and off), persistent bitmaps, the
  dirty bit left by a killed writer, preallocation, > 2 TiB sparse disks,
  v2 and v3 images with many snapshots whose names are long or not ASCII;
* headers longer than 104 bytes, unknown header extensions and feature bits;
* backing chains: relative paths, no backing format, 3 deep with snapshots in
  the middle, a missing backing file, a loop;
* damaged files: every field QEMU validates when it opens an image, and
  clusters it refuses to read.  Where QEMU refuses, we refuse too, exit 2, no
  traceback, and our message contains QEMU's own message.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Callable

import pytest

import qcow2
import qcow2_tool
from test_qcow2_tool_qemu_img import (SNIPPET, assert_check_twin, assert_info_twin, assert_map_twin,
                             assert_reads_twin, qemu_io_dump,
                             run_ours, sh)

pytestmark = pytest.mark.twin

SECRET = ["--object", "secret,id=k0,data=correct horse"]


# ------------------------------------------------------------------ helpers
def patch(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite one big-endian header field in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


def header_extensions(buf: bytes) -> list[tuple[int, bytes]]:
    """(type, data) of every header extension, up to the end marker."""
    pos = struct.unpack_from(">I", buf, 100)[0]
    out = []
    while True:
        etype, elen = struct.unpack_from(">II", buf, pos)
        if etype == 0:
            return out
        out.append((etype, buf[pos + 8:pos + 8 + elen]))
        pos += 8 + (elen + 7) // 8 * 8


def relay_header(path: Path, header_length: int | None = None, extra: bytes = b"",
                 extensions: list[tuple[int, bytes]] | None = None) -> None:
    """Rewrite cluster 0 of a v3 image: header of ``header_length`` bytes (extra fields
    ``extra``), then ``extensions``, then the backing file name, offsets fixed up."""
    buf = bytearray(path.read_bytes())
    cs = 1 << struct.unpack_from(">I", buf, 20)[0]
    old_len = struct.unpack_from(">I", buf, 100)[0]
    exts = header_extensions(buf) if extensions is None else extensions
    boff, blen = struct.unpack_from(">QI", buf, 8)
    name = bytes(buf[boff:boff + blen]) if boff else b""
    new_len = header_length or old_len
    area = bytearray(cs)
    area[:min(old_len, new_len)] = buf[:min(old_len, new_len)]
    area[old_len:new_len] = extra.ljust(max(0, new_len - old_len), b"\0")[:max(0, new_len - old_len)]
    struct.pack_into(">I", area, 100, new_len)
    pos = new_len
    for etype, data in exts:
        area[pos:pos + 8] = struct.pack(">II", etype, len(data))
        area[pos + 8:pos + 8 + len(data)] = data
        pos += 8 + (len(data) + 7) // 8 * 8
    pos += 8                                                  # end marker: 8 zero bytes
    if name:
        area[pos:pos + len(name)] = name
        struct.pack_into(">Q", area, 8, pos)
    buf[:cs] = area
    path.write_bytes(bytes(buf))


def qemu_error(stderr: str) -> str:
    """QEMU's own message: 'qemu-img: Could not open 'X': MESSAGE' -> MESSAGE."""
    line = stderr.strip().splitlines()[0]
    return re.sub(r"^qemu-(img|io): (Could not open '[^']*': |can't open device [^:]*: )?", "", line)


def assert_refused_like_qemu(name: str, cwd: Path, args: list[str] | None = None) -> str:
    """qemu-img info refuses; so does qcow2_tool.py (exit 2, QEMU's words, no traceback)."""
    theirs = sh("qemu-img", "info", "--output=json", name, cwd=cwd, check=False)
    assert theirs.returncode == 1, theirs.stdout
    out, err, rc = run_ours(args or [name], cwd)
    assert rc == 2 and out == "" and "Traceback" not in err
    assert qemu_error(theirs.stderr) in err, (theirs.stderr, err)
    return err


def info_twin_or_both_refuse(name: str, cwd: Path) -> bool:
    """Byte-identical info when qemu-img succeeds, the same refusal when it does not."""
    theirs = sh("qemu-img", "info", "--output=json", name, cwd=cwd, check=False)
    out, err, rc = run_ours([name], cwd)
    if theirs.returncode == 0:
        assert (out, rc) == (theirs.stdout, 0), err
        return True
    assert rc == 2 and "Traceback" not in err
    assert qemu_error(theirs.stderr) in err, (theirs.stderr, err)
    return False


def luks_create(name: str, cwd: Path, opts: str = "") -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", *SECRET, "-o",
       "encrypt.format=luks,encrypt.key-secret=k0,encrypt.iter-time=10" + (opts and "," + opts),
       name, "1M", cwd=cwd)


# ------------------------------------------------------------------ encryption
@pytest.fixture(scope="module")
def luks_image(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One default LUKS qcow2 (aes-256-xts-plain64, sha256), made once: creating one costs
    QEMU a PBKDF2 benchmark of about a second."""
    where = tmp_path_factory.mktemp("luks")
    luks_create("made.qcow2", where)
    return (where / "made.qcow2").read_bytes()


def test_luks_info_matches_without_the_key_and_reads_are_refused(tmp_path: Path,
                                                                  luks_image: bytes) -> None:
    """qemu-img info needs no passphrase: the LUKS header's names and offsets are in clear."""
    (tmp_path / "v3.qcow2").write_bytes(luks_image)
    luks_create("v2.qcow2", tmp_path, "compat=0.10,encrypt.cipher-alg=twofish-128,"
                "encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,"
                "encrypt.hash-alg=sha1")
    for name in ("v3.qcow2", "v2.qcow2"):
        sh("qemu-io", *SECRET, "--image-opts", "-c", "write -P 0x41 0 64k",
           f"driver=qcow2,file.filename={name},encrypt.key-secret=k0", cwd=tmp_path)
        info = assert_info_twin(name, tmp_path)
        enc = info["format-specific"]["data"]["encrypt"]
        assert info["encrypted"] is True and enc["format"] == "luks"
        assert [s["active"] for s in enc["slots"]] == [True] + [False] * 7
        # -U (share the image with a running writer) changes nothing in the output
        assert sh("qemu-img", "info", "-U", "--output=json", name, cwd=tmp_path).stdout == \
            run_ours([name], tmp_path)[0]
        # qemu-io cannot read without the key; we never return the ciphertext as data
        theirs = sh("qemu-io", "-r", "-c", "read -v 0 16", name, cwd=tmp_path, check=False)
        assert theirs.returncode != 0 and "encrypt.key-secret" in theirs.stderr
        out, err, rc = run_ours(["read", name, "0", "16"], tmp_path)
        assert rc == 2 and out == "" and "LUKS" in err and "does not decrypt" in err
        with qcow2.open_image(str(tmp_path / name)) as img:
            host = img.locate(0).host_offset
            assert host is not None
        stored = (tmp_path / name).read_bytes()[host:host + 4096]
        assert stored != b"A" * 4096 and stored != bytes(4096)     # ciphertext on disk
        # qemu-img check needs the key to open the image; the recount itself needs none, and
        # it counts the LUKS header clusters as used (else they would show up as leaks)
        keyed = sh("qemu-img", "check", *SECRET, "--image-opts",
                   f"driver=qcow2,file.filename={name},encrypt.key-secret=k0", cwd=tmp_path)
        with qcow2.open_image(str(tmp_path / name), open_backing=False) as img:
            assert qcow2_tool.check(img).report() + "\n" == keyed.stdout
        for tool in ("check", "map"):
            theirs = sh("qemu-img", tool, name, cwd=tmp_path, check=False)
            out, err, rc = run_ours([tool, name], tmp_path)
            assert theirs.returncode == 1 and rc == 2 and qemu_error(theirs.stderr) in err
    v2 = assert_info_twin("v2.qcow2", tmp_path)["format-specific"]["data"]
    assert v2["compat"] == "0.10" and v2["encrypt"]["ivgen-hash-alg"] == "sha256"


LUKS_NAMES = ["aes", "serpent", "twofish", "cast5", "des", "AES", "sm4"]
LUKS_MODES = ["xts-plain64", "cbc-plain", "cbc-essiv:sha256", "ecb-plain", "ctr-plain64",
              "cbc-essiv:sha1", "xts-essiv:md5", "cbc-essiv", "cbc-essiv:sha999", "gcm-plain",
              "xts-benbi", "xtsplain", "cbc-plain:sha1"]
LUKS_HASHES = ["sha1", "sha256", "sha512", "ripemd160", "md5", "sha224", "sha384", "whirlpool"]


def test_luks_header_variants_match_qemu_or_are_refused_the_same_way(tmp_path: Path,
                                                                     luks_image: bytes) -> None:
    """One real LUKS image, then its LUKS header rewritten 60 times (names, key sizes,
    slot states, offsets, damage).  qemu-img info reads only the header (no key), so
    each variant is a fair input: same JSON, or the same refusal."""
    (tmp_path / "real.qcow2").write_bytes(luks_image)
    with qcow2.open_image(str(tmp_path / "real.qcow2")) as img:
        hdr_at = img.crypto_header[0]
    original = (tmp_path / "real.qcow2").read_bytes()
    rng = random.Random(2026)
    matched = refused = 0
    sizes = {"aes": [16, 24, 32], "serpent": [16, 24, 32], "twofish": [16, 24, 32], "cast5": [16]}
    for i in range(60):
        hdr = bytearray(original[hdr_at:hdr_at + qcow2_tool.LUKS_HEADER_SIZE])
        damaged = i % 3 == 2                 # one in three: names and numbers from anywhere
        cipher = rng.choice(LUKS_NAMES if damaged else list(sizes))
        mode = rng.choice(LUKS_MODES if damaged else LUKS_MODES[:5])
        key_bytes = rng.choice([16, 24, 32, 48, 64] if damaged else sizes[cipher])
        if mode.startswith("xts") and not damaged:
            key_bytes *= 2                   # XTS stores two keys
        for start, text in ((8, cipher), (40, mode), (72, rng.choice(LUKS_HASHES[:7 + damaged]))):
            hdr[start:start + 32] = text.encode().ljust(32, b"\0")
        struct.pack_into(">I", hdr, 108, key_bytes)
        struct.pack_into(">I", hdr, 164, rng.choice([1, 1000, 372715, 0xFFFFFFFF] + [0] * damaged))
        hdr[168:208] = f"{rng.getrandbits(128):032x}".encode().ljust(40, b"\0")
        per_slot = -(-(-(-key_bytes * 4000 // 512)) // 8) * 8
        payload = 8 + 8 * per_slot + rng.choice([0, 8, 4096] + [-1] * damaged)
        struct.pack_into(">I", hdr, 104, payload)
        for s in range(8):
            state = rng.choice([qcow2_tool.LUKS_SLOT_ENABLED, qcow2_tool.LUKS_SLOT_DISABLED]
                               + [0x1234, qcow2_tool.LUKS_SLOT_DISABLED] * damaged)
            iters = rng.choice([1000, 2 ** 31] + [0] * damaged)
            start = 8 + s * per_slot - (rng.choice([0, 0, 0, 1]) * damaged)
            stripes = 4000 if not damaged or rng.random() < 0.9 else 3999
            struct.pack_into(">II", hdr, 208 + 48 * s, state, iters)
            struct.pack_into(">II", hdr, 208 + 48 * s + 40, start, stripes)
        name = f"v{i}.qcow2"
        data = bytearray(original)
        data[hdr_at:hdr_at + len(hdr)] = hdr
        (tmp_path / name).write_bytes(bytes(data))
        if info_twin_or_both_refuse(name, tmp_path):
            matched += 1
        else:
            refused += 1
    assert matched >= 15 and refused >= 15          # both sides of the contract were exercised


def test_luks_header_extension_in_the_wrong_place_is_refused(tmp_path: Path, luks_image: bytes) -> None:
    """A LUKS extension on an AES image, or at an unaligned offset: QEMU refuses, so do we."""
    buf = luks_image
    exts = header_extensions(buf)
    crypto = [d for t, d in exts if t == qcow2.EXT_CRYPTO][0]
    off, length = struct.unpack(">QQ", crypto)
    cases: dict[str, list[tuple[int, bytes]]] = {
        "unaligned": [(t, struct.pack(">QQ", off + 512, length) if t == qcow2.EXT_CRYPTO else d)
                      for t, d in exts],
        "short": [(t, d[:8] if t == qcow2.EXT_CRYPTO else d) for t, d in exts],
        "too-small": [(t, struct.pack(">QQ", off, 100) if t == qcow2.EXT_CRYPTO else d)
                      for t, d in exts],
    }
    for label, new_exts in cases.items():
        (tmp_path / f"{label}.qcow2").write_bytes(buf)
        relay_header(tmp_path / f"{label}.qcow2", extensions=new_exts)
        assert_refused_like_qemu(f"{label}.qcow2", tmp_path)
    (tmp_path / "aes.qcow2").write_bytes(buf)
    patch(tmp_path / "aes.qcow2", 32, ">I", 1)                  # says AES, carries a LUKS extension
    assert "only expected with LUKS" in assert_refused_like_qemu("aes.qcow2", tmp_path)


# ------------------------------------------------------------------ features
@pytest.mark.parametrize("raw", ["on", "off"])
def test_external_data_file_reads_come_from_the_data_file(tmp_path: Path, raw: str) -> None:
    rng = random.Random(raw)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o",
       f"data_file=guest.raw,data_file_raw={raw},cluster_size=4096", "meta.qcow2", "2M", cwd=tmp_path)
    cmds = []
    for _ in range(8):
        off = rng.randrange(0, 2 << 20, 512)
        cmds += ["-c", f"write -P 0x{rng.randrange(1, 256):02x} {off} {min(9000, (2 << 20) - off)}"]
    cmds += ["-c", "write -z 65536 8192", "-c", "discard 131072 4096"]
    sh("qemu-io", *cmds, "meta.qcow2", cwd=tmp_path)
    info = assert_info_twin("meta.qcow2", tmp_path)["format-specific"]["data"]
    assert info["data-file"] == "guest.raw" and info["data-file-raw"] is (raw == "on")
    assert_reads_twin("meta.qcow2", tmp_path, rng, n_reads=16)
    with qcow2.open_image(str(tmp_path / "meta.qcow2")) as img:
        hits = [img.locate(o) for o in range(0, 2 << 20, 4096)]
    assert {m.file for m in hits if m.kind == "data"} == {str(tmp_path / "meta.qcow2")[:-len("meta.qcow2")] + "guest.raw"}
    # the metadata file holds no guest byte: every data cluster's host offset is its guest offset
    assert all(m.host_offset == o for o, m in zip(range(0, 2 << 20, 4096), hits) if m.kind == "data")
    # without the data file qemu-img info still answers; reads cannot
    os.rename(tmp_path / "guest.raw", tmp_path / "moved.raw")
    assert_info_twin("meta.qcow2", tmp_path)
    theirs = sh("qemu-io", "-r", "-c", "read 0 1", "meta.qcow2", cwd=tmp_path, check=False)
    out, err, rc = run_ours(["read", "meta.qcow2", "0", "1"], tmp_path)
    assert theirs.returncode == 1 and rc == 2 and qemu_error(theirs.stderr) in err


def test_bitmaps_flags_granularity_and_the_autoclear_bit(tmp_path: Path) -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "b.qcow2", "100M",
       cwd=tmp_path)
    for gran, name in (("512", "fine"), ("64k", "normal"), ("16M", "coarse"), ("1G", "ü名字 long " * 20)):
        sh("qemu-img", "bitmap", "--add", "-g", gran, "b.qcow2", name, cwd=tmp_path)
    sh("qemu-img", "bitmap", "--disable", "b.qcow2", "normal", cwd=tmp_path)
    sh("qemu-img", "bitmap", "--remove", "b.qcow2", "coarse", cwd=tmp_path)
    bitmaps = assert_info_twin("b.qcow2", tmp_path)["format-specific"]["data"]["bitmaps"]
    assert [(b["granularity"], b["flags"]) for b in bitmaps] == [(512, ["auto"]), (65536, []),
                                                                (1 << 30, ["auto"])]
    # a writer killed with SIGKILL leaves its bitmaps "in-use" (their content is not trustworthy)
    proc = subprocess.Popen(["qemu-io", "-c", "write -P 1 0 64k", "-c", "sleep 10000", "b.qcow2"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with qcow2.open_image(str(tmp_path / "b.qcow2"), open_backing=False) as img:
                if all(b.flags & 1 for b in qcow2_tool.read_bitmaps(img)[1] if b.flags & 2):
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    flags = [b["flags"] for b in assert_info_twin("b.qcow2", tmp_path)["format-specific"]["data"]["bitmaps"]]
    # QEMU marks every bitmap it loaded in-use while the image is open read-write
    assert flags == [["in-use", "auto"], ["in-use"], ["in-use", "auto"]]
    # the bitmap directory pointer damaged: past 2^63 (EIO), unaligned, sized zero, wrong count
    src = (tmp_path / "b.qcow2").read_bytes()
    exts = header_extensions(src)
    nb, _, dir_size, dir_off = struct.unpack(">IIQQ", dict(exts)[qcow2.EXT_BITMAPS])
    for label, fields in (("eio", (nb, 0, dir_size, 0x8100_0000_0000_E000)),
                          ("unaligned", (nb, 0, dir_size, dir_off + 8)),
                          ("zero-size", (nb, 0, 0, dir_off)), ("fewer", (nb + 1, 0, dir_size, dir_off)),
                          ("more", (nb - 1, 0, dir_size, dir_off)), ("reserved", (nb, 1, dir_size, dir_off))):
        (tmp_path / f"{label}.qcow2").write_bytes(src)
        relay_header(tmp_path / f"{label}.qcow2", extensions=[
            (t, struct.pack(">IIQQ", *fields) if t == qcow2.EXT_BITMAPS else d) for t, d in exts])
        assert_refused_like_qemu(f"{label}.qcow2", tmp_path)
    # a program without bitmap support clears autoclear bit 0: QEMU then ignores every bitmap
    patch(tmp_path / "b.qcow2", 88, ">Q", 0)
    assert "bitmaps" not in assert_info_twin("b.qcow2", tmp_path)["format-specific"]["data"]


def test_dirty_bit_after_kill_9_of_a_lazy_refcounts_writer(tmp_path: Path) -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", "d.qcow2", "4M",
       cwd=tmp_path)
    proc = subprocess.Popen(["qemu-io", "-c", "write -P 0x5d 64k 192k", "-c", "sleep 10000", "d.qcow2"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if struct.unpack(">Q", (tmp_path / "d.qcow2").read_bytes()[72:80])[0] & 1:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    info = assert_info_twin("d.qcow2", tmp_path)
    assert info["dirty-flag"] is True and info["format-specific"]["data"]["lazy-refcounts"] is True
    assert_reads_twin("d.qcow2", tmp_path, random.Random(9))


@pytest.mark.parametrize("mode", ["metadata", "falloc", "full"])
def test_preallocated_images_info_and_data(tmp_path: Path, mode: str) -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"preallocation={mode},cluster_size=16k",
       "p.qcow2", "3M", cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 0x77 100k 50k", "-c", "write -z 1M 16k", "p.qcow2", cwd=tmp_path)
    assert_info_twin("p.qcow2", tmp_path)
    assert_reads_twin("p.qcow2", tmp_path, random.Random(mode))


def test_huge_sparse_disks_with_writes_at_high_offsets(tmp_path: Path) -> None:
    """5 TiB and 64 TiB disks: the L1 table grows, the data lands past 2^32 and 2^42."""
    for size, cs in (("5T", "64k"), ("64T", "2M"), ("100G", "512")):
        # 512-byte clusters: one L2 table maps 32 KiB, so the 32 MiB L1 limit caps the disk at
        # 128 GiB ("The image size is too large for file format 'qcow2'" beyond that)
        name = f"big{size}.qcow2"
        sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"cluster_size={cs}", name, size,
           cwd=tmp_path)
        with qcow2.open_image(str(tmp_path / name)) as img:
            top = img.size
        spots = [top - 4096, top // 2 + 12345 * 512, min(top - 8192, (1 << 41) + 512), 1 << 32]
        cmds = []
        for k, off in enumerate(spots):
            cmds += ["-c", f"write -P 0x{k + 0x40:02x} {off} 4096"]
        sh("qemu-io", *cmds, name, cwd=tmp_path)
        info = assert_info_twin(name, tmp_path)
        assert info["virtual-size"] == top and (top > 2 << 40 or cs == "512")
        reads = [(off - 8, 32) for off in spots] + [(top - 16, 16), (top * 3 // 5, 64)]
        with qcow2.open_image(str(tmp_path / name)) as img:
            ours = []
            for off, length in reads:
                ours += qcow2_tool.hexdump(img.read(off, length), off).splitlines()
        assert ours == qemu_io_dump(name, tmp_path, reads)
        # map walks the L1 table, skipping absent L2 tables (a cluster at a time took minutes);
        # the 512-byte-cluster disk is left out: qemu-img itself needs seconds for its 3 Mi entries
        if cs != "512":
            assert sum(e["data"] for e in assert_map_twin(name, tmp_path)) == len(spots)


def test_map_and_check_of_a_1_tib_disk_and_of_one_l2_table_behind_4096_l1_entries(
        tmp_path: Path) -> None:
    """An empty 1 TiB disk maps as one entry; a 2 TiB disk whose 4096 L1 entries all point at
    one L2 table (which maps 4 MiB of data) checks with qemu-img's counts and messages and maps
    with its 4096 repeated runs, each table read once."""
    sh("qemu-img", "create", "-q", "-f", "qcow2", "empty.qcow2", "1T", cwd=tmp_path)
    assert len(assert_map_twin("empty.qcow2", tmp_path)) == 1
    sh("qemu-img", "create", "-q", "-f", "qcow2", "h.qcow2", "2T", cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 7 0 4M", "h.qcow2", cwd=tmp_path)
    with qcow2.open_image(str(tmp_path / "h.qcow2")) as img:
        l1_at, first = img.header.l1_table_offset, img.l1[0]
        assert len(img.l1) == 4096
    with open(tmp_path / "h.qcow2", "r+b") as f:
        f.seek(l1_at)
        f.write(struct.pack(">Q", first) * 4096)
    start = time.monotonic()
    proc = assert_check_twin("h.qcow2", tmp_path)
    assert proc.returncode == 2 and "reference=4096" in proc.stderr
    assert len(assert_map_twin("h.qcow2", tmp_path)) == 2 * 4096
    assert time.monotonic() - start < 60          # qemu-img included; walking it all took minutes


def test_extended_l2_needs_16k_clusters_on_both_sides(tmp_path: Path) -> None:
    """qemu-img create refuses extended_l2 with 512 B clusters; a header that claims it anyway
    is refused on open (subclusters would be 16 bytes)."""
    bad = sh("qemu-img", "create", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=512",
             "e.qcow2", "1M", cwd=tmp_path, check=False)
    assert bad.returncode == 1 and "at least 16384 bytes" in bad.stderr
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "e.qcow2", "1M", cwd=tmp_path)
    patch(tmp_path / "e.qcow2", 72, ">Q", qcow2.INCOMPAT_EXTL2)
    assert "Unsupported subcluster size: 16" in assert_refused_like_qemu("e.qcow2", tmp_path)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=16k",
       "ok.qcow2", "1M", cwd=tmp_path)
    assert assert_info_twin("ok.qcow2", tmp_path)["format-specific"]["data"]["extended-l2"] is True


# ------------------------------------------------------------------ snapshots
SNAPSHOT_NAMES = ["a" * 1000, "ünïcødé 名字 😀", "tab\there", 'quote"back\\slash', "ctl\x01\x7f",
                  "\u00e9" * 300, "x" * 65535, " ", "-", "1"]


@pytest.mark.parametrize("compat", ["0.10", "1.1"])
def test_many_snapshots_with_long_and_non_ascii_names(tmp_path: Path, compat: str) -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"compat={compat},cluster_size=4096",
       "s.qcow2", "1M", cwd=tmp_path)
    rng = random.Random(compat)
    for i, name in enumerate(SNAPSHOT_NAMES + [f"s{i}" for i in range(40)]):
        if i % 7 == 0:
            sh("qemu-io", "-c", f"write -P {i % 250 + 1} {rng.randrange(0, 1 << 20, 4096)} 4096",
               "s.qcow2", cwd=tmp_path)
        sh("qemu-img", "snapshot", "-c", name, "s.qcow2", cwd=tmp_path)
    info = assert_info_twin("s.qcow2", tmp_path)
    # qemu-img keeps at most 255 bytes of a name (QEMUSnapshotInfo.name is char[256]), even
    # inside a UTF-8 sequence; the broken tail comes out as U+FFFD in the JSON
    cut = [n.encode()[:255].decode("utf-8", "replace") for n in SNAPSHOT_NAMES]
    assert [s["name"] for s in info["snapshots"]][:len(SNAPSHOT_NAMES)] == cut
    with qcow2.open_image(str(tmp_path / "s.qcow2")) as img:
        for pick in ("ünïcødé 名字 😀", "14", "s39"):
            sh("qemu-img", "convert", "-l", f"snapshot.name={pick}" if not pick.isdigit()
               else f"snapshot.id={pick}", "-O", "raw", "s.qcow2", "snap.raw", cwd=tmp_path)
            assert img.read(0, img.size, snapshot=pick) == (tmp_path / "snap.raw").read_bytes()


def test_names_with_invalid_utf8_print_like_qemus_json_writer(tmp_path: Path) -> None:
    """Snapshot names are bytes on disk.  QEMU prints them through mod_utf8_codepoint():
    one U+FFFD per invalid sequence, C0 80 as U+0000, noncharacters and surrogates invalid,
    a NUL byte ends the name.  40 names of random and tricky bytes, the same JSON."""
    sh("qemu-img", "create", "-q", "-f", "qcow2", "u.qcow2", "1M", cwd=tmp_path)
    sh("qemu-img", "snapshot", "-c", "ABCDEFGH", "u.qcow2", cwd=tmp_path)
    good = (tmp_path / "u.qcow2").read_bytes()
    table = struct.unpack_from(">Q", good, 64)[0]
    extra, id_len = struct.unpack_from(">I", good, table + 36)[0], struct.unpack_from(">H", good, table + 12)[0]
    name_at = table + 40 + extra + id_len
    tricky = [b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbf\xbf", b"\xef\xb7\x90",
              b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xe2\x82", b"\x80", b"\xfe",
              b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\x00", b"\x1f", b"\x7f"]
    rng = random.Random(8)
    for i in range(40):
        name = b"".join(rng.choice(tricky) if rng.random() < 0.7 else bytes([rng.randrange(256)])
                        for _ in range(6))[:8].ljust(8, b"Z")
        buf = bytearray(good)
        buf[name_at:name_at + 8] = name
        (tmp_path / f"n{i}.qcow2").write_bytes(bytes(buf))
        assert_info_twin(f"n{i}.qcow2", tmp_path)


def test_snapshot_table_damage_is_refused_like_qemu(tmp_path: Path) -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", "s.qcow2", "1M", cwd=tmp_path)
    for i in range(3):
        sh("qemu-img", "snapshot", "-c", f"s{i}", "s.qcow2", cwd=tmp_path)
    good = (tmp_path / "s.qcow2").read_bytes()
    table = struct.unpack_from(">Q", good, 64)[0]
    (tmp_path / "extra.qcow2").write_bytes(good)
    patch(tmp_path / "extra.qcow2", table + 36, ">I", 5000)     # extra data of entry 0
    assert "entry 0" in assert_refused_like_qemu("extra.qcow2", tmp_path)
    (tmp_path / "many.qcow2").write_bytes(good)
    patch(tmp_path / "many.qcow2", 60, ">I", 70000)
    assert_refused_like_qemu("many.qcow2", tmp_path)
    (tmp_path / "far.qcow2").write_bytes(good)
    patch(tmp_path / "far.qcow2", 64, ">Q", 1 << 40)             # past EOF: entries read as zeros
    info_twin_or_both_refuse("far.qcow2", tmp_path)
    # a snapshot whose L1 table is unaligned or too large: info still works; check reports it
    # and goes on; reading that snapshot is refused (qemu-img convert -l fails the same way)
    for label, offset, fmt, value in (("sn-l1-unaligned", table, ">Q", 0x30200),
                                      ("sn-l1-huge", table + 8, ">I", 1 << 30)):
        (tmp_path / f"{label}.qcow2").write_bytes(good)
        patch(tmp_path / f"{label}.qcow2", offset, fmt, value)
        assert_info_twin(f"{label}.qcow2", tmp_path)
        theirs = sh("qemu-img", "check", f"{label}.qcow2", cwd=tmp_path, check=False)
        assert run_ours(["check", f"{label}.qcow2"], tmp_path) == \
            (theirs.stdout, theirs.stderr, theirs.returncode)
        conv = sh("qemu-img", "convert", "-l", "snapshot.name=s0", "-O", "raw", f"{label}.qcow2",
                  "x.raw", cwd=tmp_path, check=False)
        out, err, rc = run_ours(["read", "--snapshot", "s0", f"{label}.qcow2", "0", "4"], tmp_path)
        assert conv.returncode == 1 and rc == 2
        assert conv.stderr.split("Failed to load snapshot: ")[1].strip() in err


# ------------------------------------------------------------------ header layout
def test_longer_headers_unknown_extensions_and_unknown_feature_bits(tmp_path: Path) -> None:
    sh("qemu-img", "create", "-q", "-f", "raw", "base.raw", "1M", cwd=tmp_path)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "x.qcow2", "1M",
       cwd=tmp_path)
    src = (tmp_path / "x.qcow2").read_bytes()
    exts = header_extensions(src)
    variants: dict[str, Callable[[Path], None]] = {
        "len104": lambda p: relay_header(p, 104),
        "len108": lambda p: relay_header(p, 108),              # not a multiple of 8: QEMU accepts
        "len128": lambda p: relay_header(p, 128, b"\xaa" * 16),  # unknown extra fields kept
        "len100": lambda p: relay_header(p, 104) or patch(p, 100, ">I", 100),
        "unknown-ext": lambda p: relay_header(p, extensions=exts[:1] + [(0x12345678, b"future")] + exts[1:]),
        "no-ext": lambda p: relay_header(p, extensions=[]),    # backing file without its format
        "ext-overrun": lambda p: relay_header(p, extensions=[(0x12345678, bytes(600))] + exts),
        "fmt-too-long": lambda p: relay_header(p, extensions=[(qcow2.EXT_BACKING_FORMAT, b"q" * 16)]),
        "compat-bits": lambda p: patch(p, 80, ">Q", 0xFFFF_0000_0000_0001),
        "autoclear-bits": lambda p: patch(p, 88, ">Q", 1 << 40),
        "incompat-5": lambda p: patch(p, 72, ">Q", 1 << 5),
        "incompat-2-bits": lambda p: patch(p, 72, ">Q", (1 << 5) | (1 << 63)),
    }
    named = exts + [(qcow2.EXT_FEATURE_TABLE, bytes([0, 20]) + b"my-future-feature".ljust(46, b"\0"))]
    variants["incompat-named"] = lambda p: relay_header(p, extensions=named) or \
        patch(p, 72, ">Q", (1 << 20) | (1 << 21))
    same = 0
    for label, make in variants.items():
        path = tmp_path / f"{label}.qcow2"
        path.write_bytes(src)
        make(path)
        same += info_twin_or_both_refuse(path.name, tmp_path)
    assert same == 8
    err = run_ours(["incompat-named.qcow2"], tmp_path)[1]
    assert "my-future-feature, Unknown incompatible feature: 200000" in err


DAMAGE: dict[str, list[tuple[int, str, int]]] = {
    "version-4": [(4, ">I", 4)],
    "version-0": [(4, ">I", 0)],                           # neither qcow nor qcow2: probed as raw
    "cluster-bits-8": [(20, ">I", 8)],
    "cluster-bits-22": [(20, ">I", 22)],
    "header-too-short": [(100, ">I", 96)],
    "header-past-cluster": [(100, ">I", 70000)],
    "backing-offset-past-cluster": [(8, ">Q", 70000), (16, ">I", 3)],
    "backing-name-too-long": [(8, ">Q", 1024), (16, ">I", 1024)],
    "compression-type-2": [(104, ">B", 2), (72, ">Q", 8)],
    "compression-bit-without-type": [(72, ">Q", 8)],
    "compression-type-without-bit": [(104, ">B", 1)],
    "refcount-order-7": [(96, ">I", 7)],
    "crypt-method-3": [(32, ">I", 3)],
    "no-refcount-table": [(56, ">I", 0)],
    "refcount-table-too-large": [(56, ">I", 1 << 24)],
    "refcount-table-unaligned": [(48, ">Q", 0x10010)],
    "snapshot-table-unaligned": [(64, ">Q", 0x10008)],
    "l1-too-large": [(36, ">I", 1 << 30)],
    "l1-unaligned": [(40, ">Q", 0x30200)],
    "l1-too-small": [(36, ">I", 0)],
    "disk-too-big": [(24, ">Q", 1 << 62)],
    "data-file-raw-without-data-file": [(88, ">Q", 2)],    # info fine, reads refused
    "l1-past-eof": [(40, ">Q", 1 << 40)],                  # reads as zeros, like QEMU
    "refcount-table-past-eof": [(48, ">Q", 1 << 44)],
}


def test_damaged_headers_and_truncated_files(tmp_path: Path) -> None:
    """Each field qcow2_do_open() validates, broken once; and the file cut at many places."""
    sh("qemu-img", "create", "-q", "-f", "qcow2", "g.qcow2", "4M", cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 5 0 200k", "g.qcow2", cwd=tmp_path)
    good = (tmp_path / "g.qcow2").read_bytes()
    refused = 0
    for label, edits in DAMAGE.items():
        path = tmp_path / f"{label}.qcow2"
        path.write_bytes(good)
        for offset, fmt, value in edits:
            patch(path, offset, fmt, value)
        refused += not info_twin_or_both_refuse(path.name, tmp_path)
    assert refused == len(DAMAGE) - 4
    for cut in (4, 50, 71, 100, 104, 111, 512, 65536, 131072, 196708, len(good) - 1):
        (tmp_path / f"cut{cut}.qcow2").write_bytes(good[:cut])
        info_twin_or_both_refuse(f"cut{cut}.qcow2", tmp_path)
    # a truncated image still reads like qemu-io: clusters past the end read as zeros
    assert_reads_twin("cut196708.qcow2", tmp_path, random.Random(1))
    out, err, rc = run_ours(["read", "data-file-raw-without-data-file.qcow2", "0", "1"], tmp_path)
    assert rc == 2 and "data-file-raw requires a data file" in err


@pytest.mark.parametrize("compat", ["0.10", "1.1"])
def test_damaged_clusters_are_refused_where_qemu_io_fails(tmp_path: Path, compat: str) -> None:
    """Unaligned L2 table or data cluster, undecodable compressed data, a zero flag in a v2
    image: qemu-io says EIO and reports the image corrupt; we refuse with its words, for
    read and for map.  Tables past the end read as zeros."""
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", f"compat={compat}", "g.qcow2", "4M",
       cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 5 0 200k", "-c", "write -P 6 2M 64k", "g.qcow2", cwd=tmp_path)
    with qcow2.open_image(str(tmp_path / "g.qcow2")) as img:
        l1_at, l2_at = img.header.l1_table_offset, img.l1[0] & qcow2.OFFSET_MASK
        data0 = img.locate(0).host_offset
    cases = {
        "l2-unaligned": (l1_at, qcow2.L2_COPIED | (l2_at + 512), False),
        "data-unaligned": (l2_at, qcow2.L2_COPIED | (data0 + 512), False),
        "compressed-garbage": (l2_at, qcow2.L2_COMPRESSED | 0x10000, False),
        "data-past-eof": (l2_at, qcow2.L2_COPIED | (1 << 40), True),
        "l2-past-eof": (l1_at, qcow2.L2_COPIED | (1 << 40), True),
        "zero-flag": (l2_at, qcow2.L2_ZERO, True),
    }
    if compat == "0.10":      # bit 0 is reserved before v3: a "zero cluster" there is corruption
        cases["zero-flag"] = (l2_at, qcow2.L2_ZERO, False)
        cases["zero-flag-on-data"] = (l2_at, qcow2.L2_COPIED | data0 | qcow2.L2_ZERO, False)
    good = (tmp_path / "g.qcow2").read_bytes()
    for label, (offset, value, readable) in cases.items():
        name = f"{label}.qcow2"
        (tmp_path / name).write_bytes(good)
        patch(tmp_path / name, offset, ">Q", value)
        assert_info_twin(name, tmp_path)
        theirs = sh("qemu-io", "-r", "-c", "read -v 0 16", name, cwd=tmp_path, check=False)
        out, err, rc = run_ours(["read", name, "0", "16"], tmp_path)
        if readable:
            assert rc == 0 and out.splitlines()[0] == theirs.stdout.splitlines()[0]
        else:
            assert "read failed: Input/output error" in theirs.stdout + theirs.stderr
            assert rc == 2 and out == "" and "Traceback" not in err
            m = re.search(r"Image is corrupt: (.*?);", theirs.stdout + theirs.stderr)
            assert m is None or m.group(1) in err
            # map reads only metadata: the same map where it succeeds (a broken compressed
            # cluster), the same refusal where the metadata itself is corrupt
            their_map = sh("qemu-img", "map", "--output=json", name, cwd=tmp_path, check=False)
            out, err, rc = run_ours(["map", name], tmp_path)
            if their_map.returncode == 0:
                assert (out, rc) == (their_map.stdout, 0)
            else:
                assert rc == 2 and "Traceback" not in err
        if offset == l1_at:
            continue                     # the L1 entry covers 2M too
        # the other, undamaged cluster reads the same on both sides
        assert run_ours(["read", name, "2M", "16"], tmp_path)[0].splitlines()[0] == \
            qemu_io_dump(name, tmp_path, [(2 << 20, 16)])[0]


# ------------------------------------------------------------------ backing chains
def test_chain_three_deep_with_snapshots_in_the_middle(tmp_path: Path) -> None:
    """base.raw <- sub/mid.qcow2 (v2, internal snapshots) <- top.qcow2, relative names."""
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    sh("qemu-img", "create", "-q", "-f", "raw", "base.raw", "3M", cwd=tmp_path)
    sh("qemu-io", "-f", "raw", "-c", "write -P 0x61 0 3M", "base.raw", cwd=tmp_path)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4k",
       "-b", "../base.raw", "-F", "raw", "sub/mid.qcow2", "3M", cwd=tmp_path)
    for i in range(3):
        sh("qemu-io", "-c", f"write -P 0x{0x70 + i:02x} {i * 256}k 128k", "sub/mid.qcow2", cwd=tmp_path)
        sh("qemu-img", "snapshot", "-c", f"mid-{i}", "sub/mid.qcow2", cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 0x7f 64k 64k", "sub/mid.qcow2", cwd=tmp_path)
    # the top names its backing file through a detour: sub/deeper/../mid.qcow2
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", "sub/deeper/../mid.qcow2", "-F", "qcow2",
       "top.qcow2", "4M", cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 0x63 300k 8k", "-c", "write -z 0 4k", "top.qcow2", cwd=tmp_path)
    for name in ("top.qcow2", "sub/mid.qcow2", str(tmp_path / "top.qcow2")):
        assert_info_twin(name, tmp_path)
    assert_reads_twin("top.qcow2", tmp_path, random.Random(3), n_reads=20)
    with qcow2.open_image(str(tmp_path / "top.qcow2")) as img:
        assert [s.name for s in img.backing.snapshots] == ["mid-0", "mid-1", "mid-2"]
        assert img.read(64 * 1024, 1) == b"\x7f"       # mid's active layer, not its snapshots
    # run from inside sub/: relative names resolve against each image's own directory
    # (../base.raw lies outside sub/, so the reader is told to follow it)
    assert_info_twin("mid.qcow2", tmp_path / "sub")
    assert_reads_twin("mid.qcow2", tmp_path / "sub", random.Random(4), allow_backing=True)
    # strip the backing format extension: QEMU probes the format, so do we
    relay_header(tmp_path / "top.qcow2", extensions=[])
    assert "backing-filename-format" not in assert_info_twin("top.qcow2", tmp_path)
    assert_reads_twin("top.qcow2", tmp_path, random.Random(5))


def test_missing_backing_file_and_backing_loop(tmp_path: Path) -> None:
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2",
       "orphan.qcow2", "1M", cwd=tmp_path)
    assert_info_twin("orphan.qcow2", tmp_path)      # info does not open the backing file
    theirs = sh("qemu-io", "-r", "-c", "read 0 1", "orphan.qcow2", cwd=tmp_path, check=False)
    out, err, rc = run_ours(["read", "orphan.qcow2", "0", "1"], tmp_path)
    assert theirs.returncode == 1 and rc == 2 and qemu_error(theirs.stderr) in err
    # a <- b <- a: qemu-img info answers (it does not follow the chain); qemu-io would loop
    # forever, so only qemu-img info --backing-chain is asked about the loop
    sh("qemu-img", "create", "-q", "-f", "qcow2", "a.qcow2", "1M", cwd=tmp_path)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2", "1M",
       cwd=tmp_path)
    sh("qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2", cwd=tmp_path)
    assert_info_twin("a.qcow2", tmp_path)
    chain = sh("qemu-img", "info", "--backing-chain", "b.qcow2", cwd=tmp_path, check=False)
    assert chain.returncode == 1 and "creates an infinite loop" in chain.stderr
    out, err, rc = run_ours(["read", "b.qcow2", "0", "1"], tmp_path)
    assert rc == 2 and "creates an infinite loop" in err and "Traceback" not in err
    proc = subprocess.run([sys.executable, str(SNIPPET), "read", "a.qcow2", "0", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "infinite loop" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------ random damage
def test_random_byte_damage_gets_the_same_verdict(tmp_path: Path) -> None:
    """100 copies of one image (snapshot, bitmap, compressed cluster), each with 1-3 bytes or
    8-byte words overwritten at random, most in the header.  qemu-img info and qcow2_tool.py must
    agree: the same JSON, or both refuse (QEMU's message inside ours); reads, map and check
    never end in a traceback."""
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "base.qcow2", "1M",
       cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 7 0 20k", "-c", "write -c -P 8 512k 4k", "base.qcow2", cwd=tmp_path)
    sh("qemu-img", "snapshot", "-c", "s1", "base.qcow2", cwd=tmp_path)
    sh("qemu-img", "bitmap", "--add", "base.qcow2", "b", cwd=tmp_path)
    good = (tmp_path / "base.qcow2").read_bytes()
    rng = random.Random(77)
    same = 0
    for i in range(100):
        buf = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(0, 112) if rng.random() < 0.6 else rng.randrange(0, len(buf))
            if rng.random() < 0.5:
                buf[where] = rng.randrange(256)
            else:
                word = rng.choice([rng.getrandbits(64), rng.randrange(1 << 20), 1 << rng.randrange(64)])
                buf[where & ~7:(where & ~7) + 8] = word.to_bytes(8, "big")
        name = f"r{i}.qcow2"
        (tmp_path / name).write_bytes(bytes(buf))
        same += info_twin_or_both_refuse(name, tmp_path)
        for args in (["read", name, "0", "20k"], ["read", name, "512k", "4k"], ["map", name],
                     ["check", name]):
            out, err, rc = run_ours(args, tmp_path)
            assert rc in (0, 2, 3) and "Traceback" not in err
        (tmp_path / name).unlink()
    assert 20 <= same <= 80             # both outcomes occur often


@pytest.mark.parametrize("fmt", ["vmdk", "vdi", "vpc", "vhdx", "qed", "qcow", "parallels", "luks"])
def test_other_formats_are_named_not_misread_as_raw(tmp_path: Path, fmt: str) -> None:
    """qemu-img probes the format; a VMDK or VDI file printed as "raw" would be a wrong answer.
    We name the format qemu-img names and refuse (exit 2)."""
    extra = [*SECRET, "-o", "key-secret=k0,iter-time=10"] if fmt == "luks" else []
    sh("qemu-img", "create", "-q", "-f", fmt, *extra, f"x.{fmt}", "1M", cwd=tmp_path)
    theirs = json.loads(sh("qemu-img", "info", "--output=json", f"x.{fmt}", cwd=tmp_path).stdout)
    out, err, rc = run_ours([f"x.{fmt}"], tmp_path)
    assert theirs["format"] == fmt
    assert rc == 2 and out == "" and f'"format": "{fmt}"' in err


def test_l2_entries_qemu_calls_corrupt_in_extended_l2_and_data_file_images(tmp_path: Path) -> None:
    """Subcluster bitmaps with a bit both allocated and zero, allocation bits without a host
    cluster, an unaligned host cluster behind a zero subcluster; in a data-file image a
    compressed entry and a host offset that is not the guest offset.  Each read: same bytes
    or the same EIO as qemu-io."""
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=16k",
       "x.qcow2", "1M", cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 0x31 0 16k", "-c", "write -P 0x32 16k 2k", "x.qcow2", cwd=tmp_path)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=d.raw,cluster_size=4k",
       "d.qcow2", "1M", cwd=tmp_path)
    sh("qemu-io", "-c", "write -P 0x33 0 8k", "d.qcow2", cwd=tmp_path)
    entries = {}
    for name in ("x.qcow2", "d.qcow2"):
        with qcow2.open_image(str(tmp_path / name)) as img:
            entries[name] = (img.l1[0] & qcow2.OFFSET_MASK, img.locate(0).host_offset)
    (xl2, xhost), (dl2, dhost) = entries["x.qcow2"], entries["d.qcow2"]
    cases = {
        "ext-both-bits": ("x.qcow2", xl2 + 8, (1 << 32) | 1),                  # subcluster 0
        "ext-both-bits-elsewhere": ("x.qcow2", xl2 + 8, (1 << 40) | (1 << 8) | 1),
        "ext-alloc-no-host": ("x.qcow2", xl2, 0),                             # bitmap says data
        "ext-zero-no-host": ("x.qcow2", xl2, 0),                              # bitmap set below
        "ext-unaligned-zero": ("x.qcow2", xl2, qcow2.L2_COPIED | (xhost + 512)),
        "df-compressed": ("d.qcow2", dl2, qcow2.L2_COMPRESSED | 0x1000),
        "df-shifted": ("d.qcow2", dl2, qcow2.L2_COPIED | (dhost + 4096)),
        "df-zero-flag": ("d.qcow2", dl2, qcow2.L2_COPIED | qcow2.L2_ZERO),
    }
    refused = set()
    for label, (src, offset, value) in cases.items():
        name = f"{label}.qcow2"
        (tmp_path / name).write_bytes((tmp_path / src).read_bytes())
        patch(tmp_path / name, offset, ">Q", value)
        if label == "ext-zero-no-host":
            patch(tmp_path / name, xl2 + 8, ">Q", 0xFFFF_FFFF << 32)          # all zero, no host
        if label == "ext-unaligned-zero":
            patch(tmp_path / name, xl2 + 8, ">Q", 0xFFFF_FFFF << 32)
        for off in (0, 16 * 1024):
            theirs = sh("qemu-io", "-r", "-c", f"read -v {off} 32", name, cwd=tmp_path, check=False)
            ok = theirs.returncode == 0 and "read failed" not in theirs.stdout
            out, err, rc = run_ours(["read", name, str(off), "32"], tmp_path)
            if ok:
                assert (rc, out.splitlines()[:2]) == (0, theirs.stdout.splitlines()[:2]), label
            else:
                assert rc == 2 and "Traceback" not in err, label
                m = re.search(r"Image is corrupt: (.*?);", theirs.stdout + theirs.stderr)
                assert m and m.group(1) in err, (label, theirs.stdout + theirs.stderr, err)
                refused.add(label)
    assert refused == {"ext-both-bits", "ext-both-bits-elsewhere", "ext-alloc-no-host",
                       "ext-unaligned-zero", "df-compressed", "df-shifted"}
