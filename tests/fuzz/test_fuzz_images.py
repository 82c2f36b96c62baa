"""Fuzz: qcow2 images made by qemu-img and partition tables made by sfdisk, mutated, read by
qcow2_tool.py (info, read, map, check), partition_table.py (table, --check, --repair) and rawdisk.py.

The bases are real tools' output (QEMU 7.2's qemu-img and qemu-io, util-linux's sfdisk), so
the mutations start from every structure those tools write: snapshots, compressed and
extended-L2 clusters, bitmaps, a backing file, an external data file; GPT with names and
attributes, MBR with an extended partition and logicals.  Mutations aim at the headers and
tables (see fuzzkit.mutate); half of the GPT mutations get both CRCs recomputed so that they
reach past the checksum checks.
"""
from __future__ import annotations

import random
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import fuzzkit
import partition_table as pt
import qcow2

MIB = 1 << 20


@pytest.fixture(scope="module")
def pool():
    p = fuzzkit.Pool()
    yield p
    p.close()


def sh(*args: str, cwd: Path, data: str | None = None) -> None:
    subprocess.run(list(args), cwd=cwd, check=True, capture_output=True, text=True, input=data, timeout=60)


# ------------------------------------------------------------------ qcow2
QCOW2_BASES = {
    # name: (files the case needs, the commands that make them)
    "v3-snapshots": [["qemu-img", "create", "-q", "-f", "qcow2", "img", "4M"],
                     ["qemu-io", "-c", "write -P 1 0 200k", "-c", "write -z 1M 64k", "img"],
                     ["qemu-img", "snapshot", "-c", "s1", "img"],
                     ["qemu-io", "-c", "write -P 2 100k 8k", "img"]],
    "v2-4k": [["qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4k", "img", "2M"],
              ["qemu-io", "-c", "write -P 3 0 40k", "-c", "write -P 4 1M 12k", "img"],
              ["qemu-img", "snapshot", "-c", "old", "img"]],
    "extended-l2": [["qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "img", "4M"],
                    ["qemu-io", "-c", "write -P 5 0 3k", "-c", "write -z 8k 2k", "-c", "write -P 6 70k 1k", "img"]],
    "compressed": [["qemu-img", "create", "-q", "-f", "raw", "flat", "1M"],
                   ["qemu-io", "-f", "raw", "-c", "write -P 7 0 300k", "flat"],
                   ["qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=16k", "flat", "img"]],
    "backing": [["qemu-img", "create", "-q", "-f", "raw", "base.raw", "2M"],
                ["qemu-io", "-f", "raw", "-c", "write -P 8 0 1M", "base.raw"],
                ["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "img", "3M"],
                ["qemu-io", "-c", "write -P 9 512k 64k", "img"]],
    "bitmaps-refcount1": [["qemu-img", "create", "-q", "-f", "qcow2", "-o", "refcount_bits=1,lazy_refcounts=on",
                           "img", "4M"],
                          ["qemu-io", "-c", "write -P 10 0 128k", "img"],
                          ["qemu-img", "bitmap", "--add", "img", "b0"]],
    "refcount64-512": [["qemu-img", "create", "-q", "-f", "qcow2", "-o", "refcount_bits=64,cluster_size=512",
                        "img", "256k"],
                       ["qemu-io", "-c", "write -P 11 0 5k", "-c", "write -P 12 100k 1k", "img"]],
    "data-file": [["qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=img.data", "img", "1M"],
                  ["qemu-io", "-c", "write -P 13 0 64k", "img"]],
    "raw": [["qemu-img", "create", "-q", "-f", "raw", "img", "1M"],
            ["qemu-io", "-f", "raw", "-c", "write -P 14 4k 4k", "img"]],
}


def qcow2_hot(path: Path) -> list[tuple[int, int]]:
    """Header, extensions and the first bytes of each table the header points to."""
    hot = [(0, 1024)]
    try:
        with qcow2.open_image(str(path), "qcow2", open_backing=False) as img:
            h = img.header
            for off in (h.l1_table_offset, h.refcount_table_offset, h.snapshots_offset):
                if off:
                    hot.append((off, off + 512))
            for entry in img.l1[:2] + img.refcount_table[:2]:
                if entry & qcow2.OFFSET_MASK:
                    off = entry & qcow2.OFFSET_MASK
                    hot.append((off, off + 1024))
    except ValueError:
        pass
    return hot


@pytest.fixture(scope="module")
def qcow2_bases(tmp_path_factory):
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        pytest.skip("missing qemu-img/qemu-io (Debian package qemu-utils)")
    root = tmp_path_factory.mktemp("qcow2-bases")
    bases = {}
    for name, commands in QCOW2_BASES.items():
        d = root / name
        d.mkdir()
        for cmd in commands:
            sh(*cmd, cwd=d)
        files = {p.name: p.read_bytes() for p in d.iterdir() if p.name != "flat"}
        bases[name] = (files, qcow2_hot(d / "img"))
    return bases


def qcow2_structural(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Changes that keep a qcow2 header consistent enough to be opened, aimed at the costs a
    reader pays: a huge disk over an L1 table past the end of the file, every L1 (or refcount
    table) entry on one table, many snapshots on one L1 table, a backing file name that
    points out of the directory or at a device."""
    b = bytearray(data)
    if b[:4] != qcow2.QCOW_MAGIC or len(b) < 104:
        return data, "not qcow2"
    cluster_bits = struct.unpack_from(">I", b, 20)[0]
    if not 9 <= cluster_bits <= 21:
        return data, "odd cluster bits"
    cs = 1 << cluster_bits
    l1_size, l1_off = struct.unpack_from(">IQ", b, 36)
    rt_off, rt_clusters = struct.unpack_from(">QI", b, 48)
    what = rng.choice(["huge-disk", "one-l2", "one-refblock", "snapshots", "backing-name"])
    if what == "huge-disk":
        size = rng.choice([1 << 40, 1 << 45, (1 << 50) + 512])
        per_l1 = cs * (cs // 8)
        need = -(-size // per_l1)
        if need <= 32 << 20 >> 3:
            struct.pack_into(">QIQ", b, 24, size, 0, 0)          # size, crypt method, l1 size/offset below
            struct.pack_into(">IQ", b, 36, need, (len(b) // cs + 4) * cs)
    elif what == "one-l2" and l1_size and l1_off + 8 <= len(b):
        first = b[l1_off:l1_off + 8]
        n = min(l1_size, (len(b) - l1_off) // 8)
        b[l1_off:l1_off + 8 * n] = first * n
    elif what == "one-refblock" and rt_off + 8 <= len(b):
        first = b[rt_off:rt_off + 8]
        n = min(rt_clusters * cs // 8, (len(b) - rt_off) // 8, 4096)
        b[rt_off:rt_off + 8 * n] = first * n
    elif what == "snapshots":
        nb, off = struct.unpack_from(">IQ", b, 60)
        if nb and off + 40 <= len(b):
            entry_len = 40 + struct.unpack_from(">I", b, off + 36)[0]
            entry_len += sum(struct.unpack_from(">HH", b, off + 12))
            entry_len = (entry_len + 7) & ~7
            count = rng.choice([2, 100, 1000])
            table = bytes(b[off:off + entry_len]) * count
            at = len(b) + (-len(b) % cs)
            b[len(b):] = bytes(at - len(b)) + table
            struct.pack_into(">IQ", b, 60, count, at)
    else:
        name = rng.choice([b"/etc/passwd", b"../img", b"/dev/zero", b"/proc/self/mem", b"img",
                           b"sub/../../x", b"\x1b[2J", b"/dev/loop0"])
        at = 512
        b[at:at + len(name)] = name
        struct.pack_into(">QI", b, 8, at, len(name))
        if struct.unpack_from(">I", b, 4)[0] == 3:                # drop a backing format: probe
            struct.pack_into(">I", b, 100, max(104, struct.unpack_from(">I", b, 100)[0]))
    return bytes(b), what


def qcow2_case(bases):
    names = sorted(bases)

    def make(rng: random.Random, d: Path) -> fuzzkit.Case:
        name = rng.choice(names)
        files, hot = bases[name]
        if rng.random() < 0.3:
            data, note = qcow2_structural(files["img"], rng)
            if rng.random() < 0.3:
                data, more = fuzzkit.mutate(data, rng, hot)
                note += "; " + more
        else:
            data, note = fuzzkit.mutate(files["img"], rng, hot)
        for fname, content in files.items():
            (d / fname).write_bytes(data if fname == "img" else content)
        command = rng.choice(["info", "read", "read", "map", "check"])
        if command == "info":
            argv = ["img"]
        elif command == "read":
            off = rng.choice([0, 512, 4096, 65536, 100 << 10, rng.randrange(4 << 20)])
            argv = ["read", "img", str(off), str(rng.choice([1, 16, 512, 4096, 65536, 300 << 10]))]
            if rng.random() < 0.2:
                argv += ["--snapshot", rng.choice(["s1", "old", "1", "x"])]
        elif command == "map":
            argv = ["map", "img"]
        else:
            argv = ["check", "img"]
        # check reports its findings on stdout and stderr, with qemu-img's statuses 0, 2, 3
        statuses = (0, 2, 3) if command == "check" else (0, 2)
        return fuzzkit.Case("qcow2_tool", argv, statuses=statuses, note=f"{name}: {note}",
                             one_line=(lambda out, err: not out) if command == "check" else None)
    return make


def test_fuzz_qcow2_images_made_by_qemu(pool, qcow2_bases, tmp_path):
    report = fuzzkit.run_campaign("qcow2", pool, tmp_path, qcow2_case(qcow2_bases), count=400, share=0.3)
    assert not report.failures, report.message()


# ------------------------------------------------------------------ partition tables
SFDISK_BASES = {
    "gpt": "label: gpt\nsize=1MiB, type=L, name=\"root fs\"\nsize=2MiB, type=S, attrs=\"RequiredPartition\"\n"
           "size=512KiB, type=U\n",
    "gpt-4-entries": "label: gpt\ntable-length: 4\nsize=1MiB\nsize=1MiB\n",
    "dos-logicals": "label: dos\nsize=1MiB, type=83, bootable\ntype=5\nsize=1MiB, type=82\nsize=1MiB, type=83\n",
    "dos": "label: dos\nlabel-id: 0x12345678\nstart=2048, size=4096, type=7\nstart=8192, type=c\n",
}


def pt_hot(data: bytes) -> list[tuple[int, int]]:
    total = len(data)
    hot = [(0, 512), (512, 1024), (1024, 1024 + 16384), (total - 512, total), (total - 33 * 512, total - 512)]
    for lba in range(2048, total // 512, 2048):          # EBRs sit on MiB boundaries here
        if data[lba * 512 + 510:lba * 512 + 512] == b"\x55\xaa":
            hot.append((lba * 512 + 446, lba * 512 + 512))
    return hot


def fix_gpt_crcs(b: bytearray) -> None:
    """Make both GPT headers and their arrays pass the CRC checks again (arrays up to 1 MiB)."""
    for lba in (1, len(b) // 512 - 1):
        at = lba * 512
        if b[at:at + 8] != b"EFI PART":
            continue
        h = pt.parse_gpt_header(bytes(b[at:at + 512]))
        length = h["entries"] * h["entry_size"]
        start = h["entries_lba"] * 512
        if 0 < length <= 1 << 20 and start + length <= len(b):
            struct.pack_into("<I", b, at + 88, zlib.crc32(bytes(b[start:start + length])))
        if 92 <= h["header_size"] <= 512:
            struct.pack_into("<I", b, at + 16, 0)
            struct.pack_into("<I", b, at + 16, zlib.crc32(bytes(b[at:at + h["header_size"]])))


@pytest.fixture(scope="module")
def pt_bases(tmp_path_factory):
    if shutil.which("sfdisk") is None:
        pytest.skip("missing sfdisk (Debian package fdisk)")
    root = tmp_path_factory.mktemp("pt-bases")
    bases = {}
    for name, script in SFDISK_BASES.items():
        img = root / f"{name}.img"
        with open(img, "wb") as f:
            f.truncate(8 * MIB)
        sh("sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(img), cwd=root, data=script)
        data = img.read_bytes()
        bases[name] = (data, pt_hot(data))
    return bases


def pt_case(bases):
    names = sorted(bases)

    def make(rng: random.Random, d: Path) -> fuzzkit.Case:
        name = rng.choice(names)
        data, hot = bases[name]
        mutated, note = fuzzkit.mutate(data, rng, hot)
        grow = None
        if name.startswith("gpt") and rng.random() < 0.1:
            # a header asking for up to 2^24 entries (2 GiB) on a disk large enough to hold them
            b = bytearray(data)
            grow = 5 << 30
            struct.pack_into("<I", b, 512 + 80, rng.choice([1 << 16, 1 << 22, 1 << 24]))
            struct.pack_into("<Q", b, 512 + 32, grow // 512 - 1)
            fix_gpt_crcs(b)
            mutated, note = bytes(b), "2^16..2^24 entries on a 5 GiB disk"
        elif name.startswith("gpt") and rng.random() < 0.5:
            b = bytearray(mutated)
            fix_gpt_crcs(b)
            mutated, note = bytes(b), note + "; CRCs fixed"
        fuzzkit.write_sparse(d / "disk.img", mutated)
        if grow:
            with open(d / "disk.img", "r+b") as f:
                f.truncate(grow)
        command = rng.choice(["table", "table", "check", "repair", "4k", "rawdisk"])
        if command == "rawdisk":
            return fuzzkit.Case("rawdisk", ["disk.img"], note=f"{name}: {note}")
        argv = {"table": ["disk.img"], "check": ["disk.img", "--check"], "repair": ["disk.img", "--repair"],
                "4k": ["--sector-size", "4096", "disk.img"]}[command]
        return fuzzkit.Case("partition_table", argv, statuses=(0, 1, 2), note=f"{name}: {note}")
    return make


def test_fuzz_partition_tables_made_by_sfdisk(pool, pt_bases, tmp_path):
    report = fuzzkit.run_campaign("partition", pool, tmp_path, pt_case(pt_bases), count=250, share=0.2)
    assert not report.failures, report.message()
