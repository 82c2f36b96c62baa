"""snippets/partition_table.py against sfdisk/sgdisk on the layouts test_partition_table_sfdisk.py does not make.

Every case builds an image with the real tools (or, for layouts no tool
writes, by hand with struct, as the comments say), then asks `sfdisk -J`
and our module.  Where sfdisk prints a table, our stdout and stderr must be
byte-identical to sfdisk's; where the image is damaged, our script must exit
2 with one line naming the damage (no traceback), and the test records what
sfdisk and sgdisk say about the same image, since the page quotes it.

Covered: 4096-byte logical sectors on loop devices (random layouts),
hybrid MBRs from `sgdisk -h`, GPT with odd first/last usable LBA, an entry
array moved by `sgdisk -j`, resized arrays, non-ASCII and 36-character names,
every attribute bit; MBR with empty slots, every extended type, logical
partitions out of disk order, size-0 entries, disk id 0, the EBR corner cases
libfdisk handles (empty links, data entry of type 0, extra links, missing
EBR signature, a second extended partition, more than 56 logicals); a
protective MBR smaller than the disk, image sizes that are not whole
sectors, a grown GPT image and its repair; and seeded mutation fuzzing of
MBR/EBR entries and of GPT headers (with their CRCs recomputed).
"""
from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "snippets"))

import partition_table as pt  # noqa: E402
from labkit import make_image, need_root, need_tools, run, run_all  # noqa: E402

pytestmark = pytest.mark.twin
SCRIPT = ROOT / "snippets" / "partition_table.py"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _tools() -> None:
    need_tools("sfdisk", "sgdisk")


def sfdisk(target: Path | str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["sfdisk", "-J", str(target)], capture_output=True, cwd=cwd, timeout=60)


def ours(target: Path | str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(target), *args], capture_output=True,
                          cwd=cwd, timeout=60)


def ours_fast(path: Path, device: str) -> tuple[int, bytes, bytes]:
    """What the script would print, computed in-process (the fuzz loops call this hundreds of times)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with open(path, "rb") as f:
            t = pt.read_table(f)
    except ValueError as exc:
        return 2, b"", f"partition_table.py: {device}: {exc}\n".encode()
    for line in t.notes.warnings:
        print(line, file=err)
    for line in t.notes.infos:
        print(line, file=out)
    return 0, out.getvalue().encode() + pt.sfdisk_json(t, device), err.getvalue().encode()


def same_as_sfdisk(target: Path | str, cwd: Path | None = None) -> bytes:
    """Assert that our CLI prints sfdisk's stdout and stderr byte for byte; return the JSON."""
    theirs, mine = sfdisk(target, cwd), ours(target, cwd=cwd)
    assert theirs.returncode == 0, theirs.stderr
    assert (mine.returncode, mine.stdout, mine.stderr) == (0, theirs.stdout, theirs.stderr), \
        (mine.stderr.decode(), theirs.stderr.decode())
    return theirs.stdout


def refused(target: Path | str, message: str, *args: str) -> str:
    """Our CLI exits 2 with one line naming the damage, and no traceback."""
    mine = ours(target, *args)
    err = mine.stderr.decode()
    assert mine.returncode == 2 and mine.stdout == b"", err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert message in err, err
    return err


def write_script(target: Path | str, script: str) -> None:
    run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(target)], input=script)


def mbr(path: Path, size: int, entries: list, disk_id: int = 0x11223344, signature: bool = True,
        ebrs: dict | None = None) -> Path:
    """Hand-made MBR/EBRs for layouts no tool writes: entries are (boot, type, start, sectors)."""
    make_image(path, size)
    with open(path, "r+b") as f:
        for lba, slots in [(0, entries)] + sorted((ebrs or {}).items()):
            sector = bytearray(512)
            if lba == 0:
                sector[440:444] = struct.pack("<I", disk_id)
            for i, e in enumerate(slots):
                if e:
                    sector[446 + 16 * i:462 + 16 * i] = struct.pack("<B3sB3sII", e[0], bytes(3), e[1],
                                                                    bytes(3), e[2], e[3])
            if lba or signature:
                sector[510:512] = b"\x55\xaa"
            f.seek(lba * 512)
            f.write(sector)
    return path


# ---------------------------------------------------------------- 4096-byte sectors
def random_script(rng: random.Random, label: str) -> str:
    lines = [f"label: {label}"]
    if label == "gpt":
        lines.append(f"label-id: {str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()}")
        if rng.random() < 0.5:
            lines.append(f"table-length: {rng.choice([4, 8, 32, 200])}")
        for _ in range(rng.randint(0, 4)):
            name = rng.choice(["", "root", "数据", "x" * 36])
            lines.append(f"size={rng.randint(1, 6)}MiB, type={rng.choice(['L', 'S', 'U', 'H'])}"
                         + (f', name="{name}"' if name else "")
                         + (', attrs="RequiredPartition GUID:60"' if rng.random() < 0.3 else ""))
    else:
        lines.append(f"label-id: 0x{rng.getrandbits(32):08x}")
        for _ in range(rng.randint(0, 2)):
            lines.append(f"size={rng.randint(1, 6)}MiB, type={rng.choice(['83', '82', '7', 'c'])}"
                         + (", bootable" if rng.random() < 0.3 else ""))
        if rng.random() < 0.7:
            lines.append(f"size={rng.randint(20, 30)}MiB, type={rng.choice(['5', 'f', '85'])}")
            for _ in range(rng.randint(0, 3)):
                lines.append(f"size={rng.randint(1, 4)}MiB, type=83")
    return "\n".join(lines) + "\n"


def test_4096_byte_sectors_random_layouts_on_a_loop_device(tmp_path: Path) -> None:
    """sfdisk on a `losetup --sector-size 4096` device; ours on the device, and on the file with --sector-size."""
    need_root()
    need_tools("losetup")
    backing = make_image(tmp_path / "4kn.img", 64 * MIB)
    dev = run(["losetup", "--find", "--show", "--sector-size", "4096", str(backing)]).stdout.strip()
    assert dev.startswith("/dev/loop")
    rng = random.Random(4096)
    try:
        layouts = [random_script(rng, label) for label in ["gpt", "dos"] * 6]
        for script in layouts:
            write_script(dev, script)
            expected = same_as_sfdisk(dev)
            assert b'"sectorsize": 4096' in expected
            # the backing file read with --sector-size gives the same table, named after the file
            on_file = ours(backing, "--sector-size", "4096")
            assert on_file.returncode == 0
            assert on_file.stdout == expected.replace(f"{dev}p".encode(), str(backing).encode()) \
                .replace(dev.encode(), str(backing).encode())
        for args in (["-o", "-n", "1:0:+1M", "-c", "1:efi"], ["-o", "-S", "16", "-n", "1:0:0"],
                     ["-o", "-n", "1:0:+1M", "-t", "1:0700", "-n", "2:0:+2M", "-h", "1:2"]):
            with open(dev, "r+b") as f:                  # sgdisk will not replace an MBR by itself
                f.write(bytes(4096))
            run(["sgdisk", *args, dev])
            same_as_sfdisk(dev)
        # damage on 4Kn (the primary header is at byte 4096): same warning, repair, clean again
        write_script(dev, "label: gpt\nsize=4MiB\nsize=4MiB\n")
        good = sfdisk(dev).stdout
        flip(Path(dev), 4096 + 40)
        assert sfdisk(dev).stderr.startswith(b"The primary GPT table is corrupt")
        same_as_sfdisk(dev)
        assert ours(dev, "--repair").returncode == 0
        assert sfdisk(dev).stdout == good and sfdisk(dev).stderr == b""
        # a tiny 4Kn disk: libfdisk's grain drops to the physical sector
        small = make_image(tmp_path / "small.img", 4 * MIB)
        run(["losetup", "-d", dev])
        dev = run(["losetup", "--find", "--show", "--sector-size", "4096", str(small)]).stdout.strip()
        write_script(dev, "label: gpt\nsize=100\n")
        assert b'"grain": "4096"' in same_as_sfdisk(dev)
        # a sector size that contradicts the device is refused
        refused(dev, "disagrees with the device's own 4096-byte sectors", "--sector-size", "512")
    finally:
        run(["losetup", "-d", dev], check=False)


def test_sector_size_option_rejects_sizes_sfdisk_cannot_have(tmp_path: Path) -> None:
    disk = make_image(tmp_path / "d.img", 8 * MIB)
    for bad in ("1000", "0", "-512", "abc", "8192"):
        proc = ours(disk, "--sector-size", bad)
        assert proc.returncode == 2 and b"Traceback" not in proc.stderr
        assert b"--sector-size" in proc.stderr


def test_refused_argument_variants_never_trace(tmp_path: Path) -> None:
    for args in ([], ["/dev/sda"], [str(tmp_path / "missing.img")], [str(tmp_path)], ["/etc/passwd"]):
        proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == b"" and b"Traceback" not in proc.stderr, args


# ---------------------------------------------------------------- GPT variants
HYBRID_SEEDS = range(4)


@pytest.fixture(scope="module")
def hybrid_disks(tmp_path_factory) -> dict[int, tuple[int, Path]]:
    """Seeded hybrid MBRs, n of the three partitions each, all made at once: sgdisk sleeps a
    second after each write (so each image is also one sgdisk call)."""
    need_tools("sgdisk")
    disks, cmds = {}, []
    for seed in HYBRID_SEEDS:
        rng = random.Random(seed)
        disk = make_image(tmp_path_factory.mktemp(f"hy{seed}") / "hy.img", 32 * MIB)
        n = rng.randint(1, 3)
        args = ["-o"]
        for i in range(1, 4):
            args += ["-n", f"{i}:0:+{rng.randint(1, 4)}M", "-t", f"{i}:{rng.choice(['0700', '8300', 'ef00'])}"]
        parts = ":".join(str(i) for i in sorted(rng.sample([1, 2, 3], n)))
        if seed % 2:
            parts += ":EE"                           # the 0xEE entry goes last instead of first
        cmds.append(["sgdisk", *args, "-h", parts, str(disk)])
        disks[seed] = (n, disk)
    run_all(cmds)
    return disks


@pytest.mark.parametrize("seed", HYBRID_SEEDS)
def test_hybrid_mbrs_from_sgdisk(hybrid_disks, seed: int) -> None:
    n, disk = hybrid_disks[seed]
    with open(disk, "rb") as f:
        types = [e[1] for e in pt.mbr_entries(f.read(512))]
    assert 0xEE in types and len([t for t in types if t not in (0, 0xEE)]) == n
    assert b'"label": "gpt"' in same_as_sfdisk(disk)


def test_gpt_layout_variants(tmp_path: Path) -> None:
    cases = [
        # first/last usable LBA chosen in the script
        ("sfdisk", "label: gpt\nfirst-lba: 100\nlast-lba: 30000\nsize=1MiB\n"),
        ("sfdisk", "label: gpt\nfirst-lba: 34\nlast-lba: 20000\nstart=34, size=100\n"),
        ("sfdisk", "label: gpt\ntable-length: 1\nfirst-lba: 3\nstart=3, size=10\n"),
        # the primary array moved away from LBA 2
        ("sgdisk", ["-o", "-j", "2048", "-n", "1:0:+1M"]),
        ("sgdisk", ["-o", "-j", "40", "-n", "1:0:+1M"]),
        # arrays that are not 128 entries
        *[("sgdisk", ["-o", f"--resize-table={n}", "-n", "1:0:+1M"]) for n in (4, 129, 1024)],
        # names: non-ASCII, surrogate pairs, exactly 36 UTF-16 code units, quotes and backslashes
        ("sgdisk", ["-o", "-n", "1:0:+1M", "-c", "1:ÄÖÜ€😀中文 name with 36 units......",
                    "-n", "2:0:+1M", "-c", "2:" + "1234567890" * 3 + "123456",
                    "-n", "3:0:+1M", "-c", '3:"q" \\ back', "-n", "4:0:+1M", "-c", "4:" + "😀" * 18]),
    ]
    disks = [make_image(tmp_path / f"v{n}.img", 16 * MIB) for n in range(len(cases))]
    for disk, (tool, spec) in zip(disks, cases):
        if tool == "sfdisk":
            write_script(disk, spec)
    run_all([["sgdisk", *spec, str(disk)] for disk, (tool, spec) in zip(disks, cases) if tool == "sgdisk"])
    for disk in disks:
        same_as_sfdisk(disk)


def test_every_attribute_bit_alone_and_together(tmp_path: Path) -> None:
    """Partition n has bit n-1 set, partition 65 all 64 bits: sfdisk names bits 0-2, lists
    48-63 as GUID:NN and hides 3-47 (attrs is null when only those are set)."""
    disk = make_image(tmp_path / "attr.img", 8 * MIB)
    args = ["-o"]
    for n in range(1, 66):
        bits = range(64) if n == 65 else [n - 1]
        args += ["-n", f"{n}:0:+8K"] + [a for b in bits for a in ("-A", f"{n}:set:{b}")]
    run(["sgdisk", *args, str(disk)])
    out = same_as_sfdisk(disk)
    attrs = [line.split(b'"attrs": ')[1].rstrip(b",") for line in out.split(b"\n") if b'"attrs"' in line]
    assert len(attrs) == 65
    assert attrs[:3] == [b'"RequiredPartition"', b'"NoBlockIOProtocol"', b'"LegacyBIOSBootable"']
    assert attrs[3:48] == [b"null"] * 45
    assert attrs[48:64] == [b'"GUID:%d"' % bit for bit in range(48, 64)]
    assert attrs[64] == (b'"RequiredPartition NoBlockIOProtocol LegacyBIOSBootable GUID:48,49,50,51,52,'
                         b'53,54,55,56,57,58,59,60,61,62,63"')


ZERO = "00000000-0000-0000-0000-000000000000"
ODD_ENTRIES = {
    # entries no partitioning tool writes, made with write_gpt(); sfdisk decides how they print
    "type GUID zero but a start (libfdisk lists it)": [pt.Partition(1, 2048, 100, ZERO)],
    "partition GUID zero": [pt.Partition(1, 2048, 100, pt.LINUX_FS, uuid=ZERO)],
    "control characters in the name (JSON escapes)": [pt.Partition(1, 2048, 100, pt.LINUX_FS,
                                                                   name="a\x01b\x1fc\x7fd\te\nf\"g\\")],
    "lone surrogates in the name": [pt.Partition(1, 2048, 100, pt.LINUX_FS, name="x\ud800y" + "z" * 32 + "\ud83d")],
    "one-sector partition in the last entry": [pt.Partition(128, 2048, 1, pt.LINUX_FS)],
    "only hidden attribute bit 3": [pt.Partition(1, 2048, 100, pt.LINUX_FS, attrs=8)],
}


@pytest.mark.parametrize("case", sorted(ODD_ENTRIES))
def test_odd_gpt_entries_equal_sfdisk(tmp_path: Path, case: str) -> None:
    disk = make_image(tmp_path / "odd.img", 8 * MIB)
    with open(disk, "r+b") as f:
        pt.write_gpt(f, ODD_ENTRIES[case], disk_guid="01234567-89AB-CDEF-0123-456789ABCDEF")
    same_as_sfdisk(disk)


# ---------------------------------------------------------------- MBR variants
def test_mbr_layout_variants(tmp_path: Path) -> None:
    scripts = [
        # empty slots 1 and 3 between used ones; disk identifier 0
        "label: dos\nlabel-id: 0\nimg : start=2048, size=2048, type=83\n",
        # logical partitions out of disk order, with each extended type
        *[f"label: dos\nstart=2048, size=8192, type=83\nstart=10240, type={t}\n"
          f"start=60000, size=2048, type=83\nstart=20000, size=4096, type=82\n"
          f"start=12288, size=100, type=7, bootable\n" for t in ("5", "f", "85")],
        # an extended partition with no logicals
        "label: dos\nsize=1MiB, type=83\ntype=5\n",
    ]
    for n, script in enumerate(scripts):
        disk = make_image(tmp_path / f"m{n}.img", 64 * MIB)
        write_script(disk, script.replace("img :", f"{disk.name}2 :") if n == 0 else script)
        same_as_sfdisk(disk)
    # slots 2 and 4 used, 1 and 3 empty, by hand
    disk = mbr(tmp_path / "slots.img", 8 * MIB, [None, (0, 0x83, 2048, 100), None, (0x80, 0x0C, 4096, 100)],
               disk_id=0)
    assert b'"id": "0x00000000"' in same_as_sfdisk(disk)


def test_tables_written_by_scripted_fdisk(tmp_path: Path) -> None:
    """fdisk's dialogue fed on stdin: dos with a boot flag, an extended partition, logicals and a
    type change; gpt with a type by number, a name and attribute bit 60 from the expert menu."""
    need_tools("fdisk")
    dialogues = ["o\nn\np\n1\n\n+1M\na\nn\ne\n2\n\n\nn\nl\n\n+1M\nn\nl\n\n+2M\nt\n5\n82\nw\n",
                 "g\nn\n1\n\n+1M\nn\n2\n\n+3M\nt\n1\n1\nx\nn\n2\nhello world\nA\n2\n60\nr\nw\n"]
    for n, dialogue in enumerate(dialogues):
        disk = make_image(tmp_path / f"fdisk{n}.img", 32 * MIB)
        run(["fdisk", str(disk)], input=dialogue)
        out = same_as_sfdisk(disk)
        assert (b'"bootable": true' in out) if n == 0 else (b'"name": "hello world"' in out)


def test_mbr_entries_no_tool_writes_but_sfdisk_lists(tmp_path: Path) -> None:
    """Size 0, type 0 with a start, boot flag 0x81 (not 'bootable' for sfdisk), 0xEE not at LBA 1."""
    for n, entries in enumerate([
            [(0, 0x83, 2048, 0), (0, 0x83, 4096, 100)],
            [(0, 0x00, 2048, 0), None, (0, 0x83, 4096, 100)],
            [(0x81, 0x83, 2048, 100)],
            [(0, 0xEE, 2, 1000)]]):
        same_as_sfdisk(mbr(tmp_path / f"e{n}.img", 8 * MIB, entries))


EXT = [(0, 0x83, 2048, 100), (0, 0x05, 4096, 8000)]
EBR_CASES = {
    # EBR contents, by LBA; each case is something libfdisk's read_extended() handles specially
    "empty data entry in the first EBR (omitted, told on stdout)":
        (EXT, {4096: [None, (0, 5, 1000, 500)], 5096: [(0, 0x83, 100, 100)]}),
    "data entry of size 0 (omitted)": (EXT, {4096: [(0, 0x83, 100, 0), (0, 5, 1000, 500)],
                                             5096: [(0, 0x83, 100, 100)]}),
    "data entry of type 0 (listed as type 0)": (EXT, {4096: [(0, 0, 100, 100), (0, 5, 1000, 500)],
                                                      5096: [(0, 0x83, 100, 100)]}),
    "link in slot 1, data in slot 2": (EXT, {4096: [(0, 5, 1000, 500), (0, 0x83, 100, 100)],
                                             5096: [(0, 0x83, 100, 100)]}),
    "links of type 0x0f and 0x85": ([(0, 0x85, 4096, 8000)], {4096: [(0, 0x83, 100, 100), (0, 0xF, 1000, 500)],
                                                             5096: [(0, 0x83, 100, 100), (0, 0x85, 2000, 500)],
                                                             6096: [(0, 0x83, 100, 100)]}),
    "extra link and extra data (warned)": (EXT, {4096: [(0, 0x83, 100, 100), (0, 5, 1000, 500),
                                                        (0, 0x83, 300, 10), (0, 5, 3000, 10)],
                                                 5096: [(0, 0x83, 100, 100)]}),
    "second extended partition (ignored, warned)": ([(0, 5, 2048, 1000), (0, 5, 4096, 8000)],
                                                    {2048: [(0, 0x83, 100, 100)], 4096: [(0, 0x83, 100, 100)]}),
    "first extended empty, second read": ([(0, 5, 2048, 1000), (0, 5, 4096, 8000)],
                                          {4096: [(0, 0x83, 100, 100)]}),
    "link leaving the extended partition to an empty sector": (
        [(0, 5, 4096, 1000)], {4096: [(0, 0x83, 100, 100), (0, 5, 5000, 100)]}),
}


@pytest.mark.parametrize("case", sorted(EBR_CASES))
def test_ebr_corner_cases_equal_sfdisk(tmp_path: Path, case: str) -> None:
    entries, ebrs = EBR_CASES[case]
    same_as_sfdisk(mbr(tmp_path / "ebr.img", 8 * MIB, entries, ebrs=ebrs))


def test_ebr_without_signature_and_long_chains(tmp_path: Path) -> None:
    # an EBR without 0x55AA: listed, and sfdisk says on stdout that a write would fix it
    disk = mbr(tmp_path / "nosig.img", 8 * MIB, EXT, ebrs={4096: [(0, 0x83, 100, 100)]})
    with open(disk, "r+b") as f:
        f.seek(4096 * 512 + 510)
        f.write(b"\0\0")
    assert b"Invalid flag 0x0000 of EBR (for partition 5)" in same_as_sfdisk(disk)
    # 70 logicals in a chain without a loop: sfdisk keeps 56 (partition 60) and warns
    chain = {}
    for i in range(70):
        lba = 4096 + 20 * i
        chain[lba] = [(0, 0x83, 10, 5)] + ([(0, 5, lba + 20 - 4096, 20)] if i < 69 else [])
    disk = mbr(tmp_path / "long.img", 8 * MIB, [(0, 5, 4096, 1400)], ebrs=chain)
    out = same_as_sfdisk(disk)
    assert out.count(b'"node"') == 1 + 56


# ---------------------------------------------------------------- sizes, PMBR, grown disks
def test_image_sizes_that_are_not_whole_sectors(tmp_path: Path) -> None:
    """The tail of less than a sector is not a sector: total = size // 512, for both tools."""
    makers = [(1, "label: gpt\nsize=1MiB\n"), (511, "label: gpt\nsize=1MiB\n"), (1, "label: dos\nsize=1MiB\n"),
              (511, "label: dos\nsize=1MiB\n"), (100, ["sgdisk", "-o", "-n", "1:0:+1M"])]
    for n, (extra, maker) in enumerate(makers):
        disk = make_image(tmp_path / f"odd{n}.img", 8 * MIB + extra)
        if isinstance(maker, list):
            run([*maker, str(disk)])
        else:
            write_script(disk, maker)
        same_as_sfdisk(disk)


@pytest.mark.parametrize("label", ["dos", "gpt"])
def test_sparse_images_beyond_2_tib(tmp_path: Path, label: str) -> None:
    """More than 2^32 - 1 sectors: sfdisk warns about a dos table (its size in util-linux's
    human format), and a protective MBR of 0xFFFFFFFF sectors is not a mismatch."""
    for size in (2500 * 1024 ** 3, 3 * 1024 ** 4 - 512):
        disk = make_image(tmp_path / "big.img", size)
        write_script(disk, f"label: {label}\nsize=1GiB\n")
        same_as_sfdisk(disk)
        warned = sfdisk(disk).stderr
        assert (b"DOS partition table format cannot be used" in warned) == (label == "dos")
        disk.unlink()


def test_protective_mbr_smaller_than_the_disk_warns_like_sfdisk_and_repair_fixes_it(tmp_path: Path) -> None:
    disk = make_image(tmp_path / "pmbr.img", 8 * MIB)
    run(["sgdisk", "-o", "-n", "1:0:+1M", str(disk)])
    with open(disk, "r+b") as f:
        f.seek(446 + 12)
        f.write(struct.pack("<I", 1000))
    same_as_sfdisk(disk)
    assert sfdisk(disk).stderr == b"GPT PMBR size mismatch (1000 != 16383) will be corrected by write.\n"
    assert "No problems found" in run(["sgdisk", "-v", str(disk)]).stdout   # sgdisk does not mind
    check = ours(disk, "--check")
    assert check.returncode == 1 and b"warning: GPT PMBR size mismatch" in check.stdout
    fixed = ours(disk, "--repair")
    assert fixed.returncode == 0 and b"protective MBR now covers 16383 sectors (it said 1000)" in fixed.stdout
    assert sfdisk(disk).stderr == b"" and ours(disk, "--check").returncode == 0


@pytest.mark.parametrize("maker", ["sgdisk", "sfdisk"])
def test_grown_gpt_image_warns_and_repair_equals_sfdisk_relocate(tmp_path: Path, maker: str) -> None:
    disk = make_image(tmp_path / "grown.img", 8 * MIB)
    if maker == "sgdisk":
        run(["sgdisk", "-o", "-n", "1:0:+1M", "-n", "2:0:+2M", str(disk)])
    else:
        write_script(disk, "label: gpt\nsize=1MiB\nsize=2MiB\n")
    with open(disk, "r+b") as f:
        f.truncate(12 * MIB)                        # the disk grew by 4 MiB
    same_as_sfdisk(disk)
    assert sfdisk(disk).stderr.decode().splitlines() == [
        "GPT PMBR size mismatch (16383 != 24575) will be corrected by write.",
        "The backup GPT table is not on the end of the device."]
    assert "doesn't reside\nat the end of the disk" in run(["sgdisk", "-v", str(disk)], check=False).stdout
    reference = tmp_path / "reference.img"
    shutil.copy(disk, reference)
    run(["sfdisk", "-q", "--relocate", "gpt-bak-std", str(reference)])
    fixed = ours(disk, "--repair")
    assert fixed.returncode == 0, fixed.stderr
    assert b"moved the backup GPT copy to the end of the disk (header at LBA 24575" in fixed.stdout
    assert sfdisk(disk).stdout == sfdisk(reference).stdout.replace(b"reference.img", b"grown.img")
    assert sfdisk(disk).stderr == b""
    assert "No problems found" in run(["sgdisk", "-v", str(disk)]).stdout


# ---------------------------------------------------------------- damaged images
def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_damaged_images_are_refused_with_the_damage_named(tmp_path: Path) -> None:
    """Each row: how the image is damaged, our one-line message, and what sfdisk and sgdisk make of it."""
    # MBR signature missing: sfdisk finds no table (exit 1)
    disk = mbr(tmp_path / "nosig.img", 8 * MIB, [(0, 0x83, 2048, 100)], signature=False)
    refused(disk, "no partition table: MBR signature at byte 510 is 0x0000")
    assert sfdisk(disk).returncode == 1 and b"does not contain a recognized partition table" in sfdisk(disk).stderr
    # an EBR that links back to an earlier one: sfdisk repeats the loop up to partition 60
    disk = mbr(tmp_path / "loop.img", 8 * MIB, EXT, ebrs={4096: [(0, 0x83, 100, 100), (0, 5, 1000, 500)],
                                                          5096: [(0, 0x83, 100, 100), (0, 5, 0, 500)]})
    refused(disk, "loop in the EBR chain: the EBR at LBA 4096 is linked twice")
    assert b"Omitting partitions after #60" in sfdisk(disk).stderr
    assert sfdisk(disk).stdout.count(b'"node"') == 2 + 56
    # a partition past the end: sfdisk -J lists it, sfdisk -V counts the sectors
    disk = mbr(tmp_path / "past.img", 8 * MIB, [(0, 0x83, 2048, 100000)])
    refused(disk, "partition 1 (LBA 2048..102047) lies outside the image 0..16383")
    assert sfdisk(disk).returncode == 0
    verify = run(["sfdisk", "-V", str(disk)], check=False)
    assert "Total allocated sectors 102048 greater than the maximum 16384" in verify.stdout
    # overlapping primaries: sfdisk -V calls it an error, sgdisk -v too
    disk = mbr(tmp_path / "overlap.img", 8 * MIB, [(0, 0x83, 2048, 4000), (0, 0x83, 4000, 100)])
    refused(disk, "partitions 1 (LBA 2048..6047) and 2 (LBA 4000..4099) overlap")
    verify = run(["sfdisk", "-V", str(disk)], check=False)
    assert "Partition 1: overlaps partition 2." in verify.stdout + verify.stderr
    assert "Problem: partitions 2 and 1 overlap" in run(["sgdisk", "-v", str(disk)], check=False).stdout
    # a logical partition running out of its extended partition
    disk = mbr(tmp_path / "outside.img", 8 * MIB, [(0, 5, 4096, 1000)], ebrs={4096: [(0, 0x83, 100, 2000)]})
    refused(disk, "logical partition 5 (LBA 4196..6195) lies outside the extended partition 4096..5095")
    verify = run(["sfdisk", "-V", str(disk)], check=False)
    assert "Logical partition 5: not entirely in partition 1." in verify.stdout + verify.stderr
    # an EBR link past the end of the image
    disk = mbr(tmp_path / "ebrpast.img", 8 * MIB, [(0, 5, 4096, 1000)],
               ebrs={4096: [(0, 0x83, 100, 100), (0, 5, 50000, 100)]})
    refused(disk, "EBR link to LBA 54096 is past the end of the image")
    assert b"Failed to read extended partition table (offset=54096)" in sfdisk(disk).stderr
    # an extended partition on LBA 0
    disk = mbr(tmp_path / "ext0.img", 8 * MIB, [(0, 5, 0, 1000)])
    refused(disk, "extended partition 1 starts at LBA 0")
    assert b"Bad offset in primary extended partition." in sfdisk(disk).stderr


@pytest.mark.parametrize("what", ["overlap", "past last usable", "end before start"])
def test_damaged_gpt_entries_are_refused(tmp_path: Path, what: str) -> None:
    """Entries rewritten with valid CRCs (so sfdisk trusts them and lists them); we name the problem."""
    disk = make_image(tmp_path / "g.img", 8 * MIB)
    write_script(disk, "label: gpt\nsize=1MiB\nsize=1MiB\n")
    with open(disk, "rb") as f:
        t = pt.read_table(f)
    p1, p2 = t.partitions
    if what == "overlap":
        p2.start, p2.size, message = p1.start + 10, p2.size, "partitions 1 (LBA 2048..4095) and 2 (LBA 2058"
    elif what == "past last usable":
        p2.size, message = 20000, "partition 2 (LBA 4096..24095) lies outside the usable LBA range 2048..16350"
    else:
        p2.size, message = -9, "partition 2: end LBA before start LBA 4096"
    with open(disk, "r+b") as f:
        pt.write_gpt(f, [p1, p2], disk_guid=t.id, first_lba=t.first_lba, last_lba=t.last_lba)
    assert sfdisk(disk).returncode == 0               # sfdisk -J prints such a table without a word
    refused(disk, message)
    assert "No problems found" not in run(["sgdisk", "-v", str(disk)], check=False).stdout


def test_shrunk_and_doubly_damaged_gpt(tmp_path: Path) -> None:
    disk = make_image(tmp_path / "shrunk.img", 8 * MIB)
    run(["sgdisk", "-o", "-n", "1:0:+1M", str(disk)])
    with open(disk, "r+b") as f:
        f.truncate(7 * MIB)
    refused(disk, "usable LBA 34..16350 runs past the end of the image (last LBA 14335)")
    theirs = sfdisk(disk)                             # sfdisk falls back to the protective MBR
    assert b'"label": "dos"' in theirs.stdout and b"GPT PMBR size mismatch" in theirs.stderr
    disk = make_image(tmp_path / "both.img", 8 * MIB)
    write_script(disk, "label: gpt\nsize=1MiB\n")
    flip(disk, 512 + 40)
    flip(disk, 8 * MIB - 512 + 40)
    refused(disk, "both GPT copies are damaged: primary: header CRC mismatch at LBA 1")
    # sgdisk gives up on such a GPT, starts a blank one in memory and finds no problem in it
    verify = run(["sgdisk", "-v", str(disk)], check=False).stdout
    assert "Creating new GPT entries in memory." in verify and "No problems found" in verify


# ---------------------------------------------------------------- seeded mutation fuzzing
def _compare_or_refused(path: Path) -> str:
    """'same' if we print what sfdisk prints (stdout and stderr), 'refused' if we exit 2 cleanly."""
    theirs = sfdisk(path.name, cwd=path.parent)
    code, out, err = ours_fast(path, path.name)
    if code == 0:
        assert (out, err) == (theirs.stdout, theirs.stderr), path
        return "same"
    assert err.count(b"\n") == 1
    return "refused"


def test_fuzzed_mbr_and_ebr_entries(tmp_path: Path) -> None:
    base = make_image(tmp_path / "base.img", 6 * MIB)
    write_script(base, "label: dos\nsize=1MiB, bootable\ntype=5\nsize=1MiB\nsize=1MiB\n")
    raw0 = base.read_bytes()
    sectors = [0, 4096, 8192]                         # the MBR and the two EBRs sfdisk wrote
    rng = random.Random(11)
    seen = {"same": 0, "refused": 0}
    for n in range(100):
        raw = bytearray(raw0)
        for _ in range(rng.randint(1, 3)):
            at = rng.choice(sectors) * 512 + 446 + 16 * rng.randrange(4)
            field = rng.choice(["type", "start", "size", "boot", "clear"])
            if field == "type":
                raw[at + 4] = rng.choice([0, 5, 0xF, 0x85, 0x83, 0xEE, 7])
            elif field in ("start", "size"):
                struct.pack_into("<I", raw, at + (8 if field == "start" else 12),
                                 rng.choice([0, 1, 2048, 4096, 8192, rng.randrange(13000)]))
            elif field == "boot":
                raw[at] = rng.choice([0, 0x80, 0x81])
            else:
                raw[at:at + 16] = bytes(16)
        path = tmp_path / "fz.img"
        path.write_bytes(bytes(raw))
        seen[_compare_or_refused(path)] += 1
    assert seen["same"] > 40 and seen["refused"] > 5, seen


def test_fuzzed_gpt_headers_with_recomputed_crcs(tmp_path: Path) -> None:
    """Header fields changed and both CRCs made valid again, so the copy looks intact.

    Two checks of ours go beyond libfdisk and agree with `sgdisk -v`: an entry
    size other than a multiple of 8 from 128 up, and an entry array that runs
    into the usable area; there we use the other copy (or refuse) where sfdisk
    quietly trusts the header.  Every other mutation must give sfdisk's output.
    """
    base = make_image(tmp_path / "base.img", 6 * MIB)
    run(["sgdisk", "-o", "-S", "8", "-n", "1:0:+1M", "-n", "2:0:+1M", str(base)])
    raw0 = base.read_bytes()
    total = len(raw0) // 512
    fields = {"my_lba": (24, 8), "alternate_lba": (32, 8), "first_lba": (40, 8), "last_lba": (48, 8),
              "entries_lba": (72, 8), "entries": (80, 4), "entry_size": (84, 4), "header_size": (12, 4)}
    rng = random.Random(12)
    seen = {"same": 0, "refused": 0, "stricter": 0}
    for n in range(100):
        raw = bytearray(raw0)
        for lba in rng.sample([1, total - 1], rng.randint(1, 2)):
            at = lba * 512
            name = rng.choice(sorted(fields))
            off, width = fields[name]
            old = int.from_bytes(raw[at + off:at + off + width], "little")
            new = rng.choice([old + rng.choice([-2, -1, 1, 2, 100]), 0, 1, 34, 2048, 2 ** 32 - 1,
                              rng.randrange(2 ** (8 * width))]) % 2 ** (8 * width)
            raw[at + off:at + off + width] = new.to_bytes(width, "little")
            h = pt.parse_gpt_header(bytes(raw[at:at + 512]))
            length = h["entries"] * h["entry_size"]
            if 0 < length < 10 ** 7 and h["entries_lba"] < total:
                start = h["entries_lba"] * 512
                struct.pack_into("<I", raw, at + 88, zlib.crc32(bytes(raw[start:start + length])))
            if 92 <= h["header_size"] <= 512:
                struct.pack_into("<I", raw, at + 16, 0)
                struct.pack_into("<I", raw, at + 16, zlib.crc32(bytes(raw[at:at + h["header_size"]])))
        path = tmp_path / "fz.img"
        path.write_bytes(bytes(raw))
        with open(path, "rb") as f:
            problems = " ".join(pt.check_gpt_copy(f, lba, 512, total)[2] for lba in (1, total - 1))
        if "entry array of" in problems or "is beyond the array" in problems:
            seen["stricter"] += 1                     # the documented difference, see the docstring
            continue
        seen[_compare_or_refused(path)] += 1
    assert seen["same"] > 40 and seen["refused"] > 5, seen
