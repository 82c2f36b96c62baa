"""snippets/partition_table.py against util-linux sfdisk and GPT fdisk sgdisk.

The reader twin: sfdisk and sgdisk build many seeded-random images (MBR with
boot flags, an extended partition and logical partitions; GPT with names,
attributes, random type GUIDs and resized entry arrays; tiny images); our
JSON must equal `sfdisk -J` byte for byte.

The writer twin: for the same layout, ids and GUIDs, the sectors our
write_mbr()/write_gpt() produce must equal the ones sfdisk wrote.

Damage: each of the four GPT parts (primary header, primary array, backup
header, backup array) is broken in turn; sfdisk and we must both say which
copy is bad and still print the same table, and after `--repair` both
`sgdisk -v` and sfdisk accept the image without a warning.

4Kn: sfdisk 2.38 has no --sector-size for image files, so those cases use a
loop device with a 4096-byte logical sector (`losetup -b 4096`, needs root).
"""
from __future__ import annotations

import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "snippets"))

import partition_table as pt  # noqa: E402
from labkit import need_root, need_tools, run, run_all  # noqa: E402

pytestmark = pytest.mark.twin
SCRIPT = ROOT / "snippets" / "partition_table.py"
MIB = 1024 * 1024
DOS_TYPES = ["83", "82", "7", "b", "c", "8e", "fd", "ef", "a5", "1", "4", "6", "e", "da"]
NAME_CHARS = "abcxyzABC019 _-.:中文磁盘分区é"


@pytest.fixture(autouse=True)
def _tools() -> None:
    need_tools("sfdisk", "sgdisk")


def sfdisk_json(image: Path | str, cwd: Path | None = None) -> tuple[bytes, str]:
    proc = subprocess.run(["sfdisk", "-J", str(image)], capture_output=True, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout, proc.stderr.decode()


def ours(image: Path | str, cwd: Path | None = None) -> bytes:
    """Our JSON, computed in-process with the path exactly as given to sfdisk."""
    path = Path(cwd, image) if cwd else Path(image)
    with open(path, "rb") as f:
        return pt.sfdisk_json(pt.read_table(f), str(image))


def ours_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, cwd=cwd,
                          timeout=60)


def sfdisk_write(image: Path, script: str) -> None:
    run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(image)], input=script)


# ---------------------------------------------------------------- generators
def random_dos_script(rng: random.Random) -> tuple[str, int]:
    """An sfdisk script: primaries with boot flags, maybe an extended partition with logicals."""
    size_mib = rng.randint(24, 96)
    lines = ["label: dos", f"label-id: 0x{rng.getrandbits(32):08x}"]
    n_primary = rng.randint(1, 3)
    budget = size_mib - 2
    for _ in range(n_primary):
        mib = rng.randint(1, max(1, budget // 4))
        budget -= mib
        boot = ", bootable" if rng.random() < 0.3 else ""
        lines.append(f"size={mib}MiB, type={rng.choice(DOS_TYPES)}{boot}")
    if rng.random() < 0.75:
        ext_type = rng.choice(["5", "f", "85"])
        lines.append(f"type={ext_type}")              # the rest of the disk
        remaining = budget - 1
        for _ in range(rng.randint(0, 6)):
            mib = rng.randint(1, 4)
            if remaining < mib + 2:
                break
            remaining -= mib + 1
            boot = ", bootable" if rng.random() < 0.2 else ""
            lines.append(f"size={mib}MiB, type={rng.choice(DOS_TYPES)}{boot}")
    elif n_primary < 3 and rng.random() < 0.5:
        lines.append(f"type={rng.choice(DOS_TYPES)}")  # a last primary over the rest
    return "\n".join(lines) + "\n", size_mib * MIB


def random_gpt_script(rng: random.Random) -> tuple[str, int]:
    size_mib = rng.randint(8, 80)
    table_length = rng.choice([128, 128, 128, 4, 8, 16, 56, 64, 200, 256])
    lines = ["label: gpt", f"label-id: {str(uuid.UUID(int=rng.getrandbits(128))).upper()}"]
    if table_length != 128:
        lines.append(f"table-length: {table_length}")
    if rng.random() < 0.3:
        lines.append("first-lba: 34" if table_length <= 128 else f"first-lba: {2 + table_length // 4}")
    budget = size_mib - 2
    for i in range(rng.randint(0, min(6, table_length))):
        mib = rng.randint(1, 4)
        if budget < mib + 1:
            break
        budget -= mib
        fields = [f"size={mib}MiB"]
        kind = rng.random()
        if kind < 0.4:
            fields.append(f"type={uuid.UUID(int=rng.getrandbits(128), version=4)}")
        else:
            fields.append("type=" + rng.choice(["L", "S", "H", pt.EFI_SYSTEM, pt.LINUX_FS,
                                                "773F91EF-66D4-49B5-BD83-D683BF40AD16",
                                                "E6D6D379-F507-44C2-A23C-238F2A3DF928"]))
        fields.append(f"uuid={uuid.UUID(int=rng.getrandbits(128), version=4)}")
        if rng.random() < 0.6:
            name = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 36))).strip()
            if name:
                fields.append(f'name="{name}"')
        if rng.random() < 0.4:
            bits = rng.sample(["RequiredPartition", "NoBlockIOProtocol", "LegacyBIOSBootable",
                               "GUID:48", "GUID:52", "GUID:60", "GUID:63"], rng.randint(1, 3))
            fields.append(f'attrs="{" ".join(bits)}"')
        lines.append(", ".join(fields))
    return "\n".join(lines) + "\n", size_mib * MIB


def random_sgdisk_args(rng: random.Random) -> tuple[list[str], int]:
    """sgdisk: minimal first LBA, any attribute bit (3-47 are hidden by sfdisk), odd names."""
    size = rng.choice([4 * MIB, 4 * MIB + 512, 5 * MIB, 16 * MIB, 33 * MIB])
    entries = rng.choice([128, 128, 4, 8, 32, 132, 248])
    args = ["-o", "-U", str(uuid.UUID(int=rng.getrandbits(128), version=4)), "-S", str(entries)]
    for n in range(1, rng.randint(1, min(4, entries)) + 1):
        args += ["-n", f"{n}:0:+{rng.randint(64, 1024)}K",
                 "-t", f"{n}:{rng.choice(['8300', '8200', 'ef00', 'fd00', '8e00', '0700', 'a504'])}",
                 "-u", f"{n}:{uuid.UUID(int=rng.getrandbits(128), version=4)}"]
        if rng.random() < 0.7:
            name = rng.choice(['a"b\\c', "tab\there", "中文名字", "emoji😀x", "x" * 36,
                               "磁" * 36, "data", " lead", "trail "])
            args += ["-c", f"{n}:{name}"]
        for bit in rng.sample(range(64), rng.randint(0, 3)):
            args += ["-A", f"{n}:set:{bit}"]
    return args, size


# ---------------------------------------------------------------- reader twin
@pytest.mark.parametrize("seed", range(40))
def test_random_mbr_with_logicals_json_equals_sfdisk(tmp_path: Path, seed: int) -> None:
    script, size = random_dos_script(random.Random(seed))
    image = tmp_path / f"mbr{seed}.img"          # ends in "g": nodes are mbrN.img1, mbrN.img5 ...
    image.write_bytes(b"")
    image.open("r+b").truncate(size)
    sfdisk_write(image, script)
    expected, _ = sfdisk_json(image.name, cwd=tmp_path)
    assert ours(image.name, cwd=tmp_path) == expected, script


@pytest.mark.parametrize("seed", range(40))
def test_random_gpt_json_equals_sfdisk(tmp_path: Path, seed: int) -> None:
    script, size = random_gpt_script(random.Random(1000 + seed))
    image = tmp_path / "disk1"                   # ends in a digit: nodes are disk1p1, disk1p2 ...
    with open(image, "wb") as f:
        f.truncate(size)
    sfdisk_write(image, script)
    expected, _ = sfdisk_json(image)
    assert ours(image) == expected, script


SGDISK_SEEDS = range(20)


@pytest.fixture(scope="module")
def sgdisk_images(tmp_path_factory) -> dict[int, tuple[list[str], Path]]:
    """The images of test_random_sgdisk_gpt_json_equals_sfdisk, all made at once (sgdisk
    sleeps a second after every write)."""
    need_tools("sgdisk")
    images = {}
    for seed in SGDISK_SEEDS:
        args, size = random_sgdisk_args(random.Random(2000 + seed))
        image = tmp_path_factory.mktemp(f"sg{seed}") / "sg.img"
        with open(image, "wb") as f:
            f.truncate(size)
        images[seed] = (args, image)
    run_all([["sgdisk", *args, str(image)] for args, image in images.values()])
    return images


@pytest.mark.parametrize("seed", SGDISK_SEEDS)
def test_random_sgdisk_gpt_json_equals_sfdisk(sgdisk_images, seed: int) -> None:
    args, image = sgdisk_images[seed]
    expected, _ = sfdisk_json(image)
    assert ours(image) == expected, args


def test_empty_tables_print_no_partitions_key(tmp_path: Path) -> None:
    for label in ("dos", "gpt"):
        image = tmp_path / f"empty-{label}.img"
        with open(image, "wb") as f:
            f.truncate(8 * MIB)
        sfdisk_write(image, f"label: {label}\n")
        expected, _ = sfdisk_json(image)
        assert b'"partitions"' not in expected
        assert ours(image) == expected


def test_cli_output_is_byte_identical_including_trailing_newline(tmp_path: Path) -> None:
    script, size = random_dos_script(random.Random(7))
    image = tmp_path / "cli.img"
    with open(image, "wb") as f:
        f.truncate(size)
    sfdisk_write(image, script)
    proc = ours_cli(image.name, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout == sfdisk_json(image.name, cwd=tmp_path)[0]



def test_hybrid_mbr_is_read_as_gpt_like_sfdisk(tmp_path: Path) -> None:
    """sgdisk -h puts a real partition next to the 0xEE entry; libfdisk still reads the GPT."""
    image = tmp_path / "hybrid.img"
    with open(image, "wb") as f:
        f.truncate(16 * MIB)
    run(["sgdisk", "-o", "-n", "1:0:+2M", "-t", "1:0700", "-n", "2:0:+2M", "-h", "1", str(image)])
    with open(image, "rb") as f:
        types = [e[1] for e in pt.mbr_entries(f.read(512))]
    assert 0xEE in types and 0x07 in types                     # really hybrid
    expected, _ = sfdisk_json(image)
    assert b'"label": "gpt"' in expected and ours(image) == expected


def test_protective_entry_not_at_lba_1_is_read_as_mbr_like_sfdisk(tmp_path: Path) -> None:
    """libfdisk's valid_pmbr(): a lone 0xEE entry must start at LBA 1, otherwise the disk is MBR."""
    image = tmp_path / "odd.img"
    with open(image, "w+b") as f:
        f.truncate(8 * MIB)
        pt.write_mbr(f, [pt.Partition(1, 2048, 4096, "ee")], disk_id=0xEE000001)
    expected, _ = sfdisk_json(image)
    assert b'"label": "dos"' in expected and b'"type": "ee"' in expected
    assert ours(image) == expected

# ---------------------------------------------------------------- writer twin
@pytest.mark.parametrize("seed", range(12))
def test_write_mbr_sectors_equal_sfdisk(tmp_path: Path, seed: int) -> None:
    script, size = random_dos_script(random.Random(seed))
    theirs, mine = tmp_path / "sfdisk.img", tmp_path / "ours.img"
    for p in (theirs, mine):
        with open(p, "wb") as f:
            f.truncate(size)
    sfdisk_write(theirs, script)
    with open(theirs, "rb") as f:
        table = pt.read_table(f)
    with open(mine, "r+b") as f:
        pt.write_mbr(f, table.partitions, disk_id=int(table.id, 16))
    a, b = theirs.read_bytes(), mine.read_bytes()
    sectors = [0] + [p.ebr for p in table.partitions if p.ebr is not None]
    sectors += [p.start for p in table.partitions if p.node_number <= 4 and p.type in ("5", "f", "85")]
    for lba in sectors:
        assert a[lba * 512:(lba + 1) * 512] == b[lba * 512:(lba + 1) * 512], (lba, script)


@pytest.mark.parametrize("seed", range(12))
def test_write_gpt_sectors_equal_sfdisk(tmp_path: Path, seed: int) -> None:
    script, size = random_gpt_script(random.Random(1000 + seed))
    theirs, mine = tmp_path / "sfdisk.img", tmp_path / "ours.img"
    for p in (theirs, mine):
        with open(p, "wb") as f:
            f.truncate(size)
    sfdisk_write(theirs, script)
    with open(theirs, "rb") as f:
        t = pt.read_table(f)
    with open(mine, "r+b") as f:
        pt.write_gpt(f, t.partitions, disk_guid=t.id, entries=t.entries,
                     first_lba=t.first_lba, last_lba=t.last_lba)
    a, b = theirs.read_bytes(), mine.read_bytes()
    arr = -(-t.entries * 128 // 512)
    head, tail = (2 + arr) * 512, (1 + arr) * 512
    assert a[:head] == b[:head], script                  # PMBR, primary header, primary array
    assert a[-tail:] == b[-tail:], script                # backup array, backup header


# ---------------------------------------------------------------- damage and repair
DAMAGE = {
    # part damaged: (byte to flip, what sfdisk warns, what `sgdisk -v` reports, our --check line)
    "primary header": (lambda total, arr: 512 + 40, "The primary GPT table is corrupt",
                       "Main header: ERROR", "primary: header CRC mismatch at LBA 1"),
    "primary array": (lambda total, arr: 2 * 512 + 5, "The primary GPT table is corrupt",
                      "Main partition table: ERROR", "primary: entry array CRC mismatch"),
    "backup header": (lambda total, arr: (total - 1) * 512 + 40, "The backup GPT table is corrupt",
                      "Backup header: ERROR", "backup: header CRC mismatch at LBA"),
    "backup array": (lambda total, arr: (total - 1 - arr) * 512 + 5, "The backup GPT table is corrupt",
                     "Backup partition table: ERROR", "backup: entry array CRC mismatch"),
}


@pytest.mark.parametrize("part", sorted(DAMAGE))
@pytest.mark.parametrize("seed", range(3))
def test_damaged_gpt_copy_detected_and_repaired(tmp_path: Path, part: str, seed: int) -> None:
    script, size = random_gpt_script(random.Random(3000 + seed))
    image = tmp_path / "bad.img"
    with open(image, "wb") as f:
        f.truncate(size)
    sfdisk_write(image, script)
    good, _ = sfdisk_json(image)
    with open(image, "rb") as f:
        t = pt.read_table(f)
    arr = -(-t.entries * 128 // 512)
    where, sfdisk_says, sgdisk_says, we_say = DAMAGE[part]
    with open(image, "r+b") as f:
        offset = where(size // 512, arr)
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    # sfdisk falls back to the other copy, warns, and prints the same table
    damaged_json, warning = sfdisk_json(image)
    assert sfdisk_says in warning
    assert damaged_json == good
    assert ours(image) == damaged_json
    check = ours_cli(str(image), "--check")
    assert check.returncode == 1
    assert we_say in check.stdout.decode(), check.stdout.decode()
    cli = ours_cli(str(image))
    assert cli.returncode == 0 and cli.stdout == good
    assert cli.stderr.decode() == warning                # sfdisk's own words, on stderr
    # sgdisk -v names the same damaged part
    verify = run(["sgdisk", "-v", str(image)], check=False)
    assert sgdisk_says in verify.stdout + verify.stderr
    # repair, then both tools accept the image and our check is clean
    fixed = ours_cli(str(image), "--repair")
    assert fixed.returncode == 0, fixed.stderr
    assert f"rewrote the {part.split()[0]} GPT copy" in fixed.stdout.decode()
    verify = run(["sgdisk", "-v", str(image)])
    assert "No problems found" in verify.stdout
    assert "ERROR" not in verify.stdout + verify.stderr and "Caution" not in verify.stdout + verify.stderr
    after, warning = sfdisk_json(image)
    assert warning == "" and after == good
    assert ours_cli(str(image), "--check").returncode == 0


def test_both_copies_damaged_sfdisk_falls_back_to_dos_we_refuse(tmp_path: Path) -> None:
    image = tmp_path / "dead.img"
    with open(image, "wb") as f:
        f.truncate(8 * MIB)
    sfdisk_write(image, "label: gpt\nsize=1MiB\n")
    with open(image, "r+b") as f:
        for off in (512 + 40, 8 * MIB - 512 + 40):
            f.seek(off)
            f.write(b"\xff")
    theirs, _ = sfdisk_json(image)
    assert b'"label": "dos"' in theirs and b'"type": "ee"' in theirs   # the protective MBR, read as MBR
    proc = ours_cli(str(image))
    assert proc.returncode == 2 and proc.stdout == b""
    assert b"both GPT copies are damaged" in proc.stderr


# ---------------------------------------------------------------- 4Kn on a loop device
@pytest.mark.parametrize("label", ["dos", "gpt"])
def test_4096_byte_sectors_on_loop_device_equal_sfdisk(tmp_path: Path, label: str) -> None:
    need_root()
    need_tools("losetup")
    image = tmp_path / "4kn.img"
    with open(image, "wb") as f:
        f.truncate(64 * MIB)
    dev = run(["losetup", "--find", "--show", "--sector-size", "4096", str(image)]).stdout.strip()
    assert dev.startswith("/dev/loop")
    try:
        if label == "dos":
            script = ("label: dos\nlabel-id: 0x4b4e0001\nsize=8MiB, type=83, bootable\ntype=5\n"
                      "size=4MiB, type=82\nsize=4MiB, type=7\n")
        else:
            script = ("label: gpt\nlabel-id: 4B4E0000-0000-4000-8000-000000000001\n"
                      'size=8MiB, type=L, name="root", uuid=4B4E0000-0000-4000-8000-00000000000A\n'
                      'size=4MiB, type=S, attrs="RequiredPartition"\n')
        sfdisk_write(Path(dev), script)
        expected, _ = sfdisk_json(dev)
        assert b'"sectorsize": 4096' in expected
        with open(dev, "rb") as f:
            assert pt.sfdisk_json(pt.read_table(f), dev) == expected
        cli = ours_cli(dev)
        assert cli.returncode == 0 and cli.stdout == expected
    finally:
        run(["losetup", "-d", dev], check=False)
