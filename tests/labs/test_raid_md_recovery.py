"""Lab for docs/raid/md-recovery.md: what `mdadm --examine` shows after two disks dropped out.

The lab kernel has no md driver, so no array can be assembled here.  What can run
is the part of a recovery that only reads: `mdadm --examine` parses the version-1.2
superblock of each member, and `--examine-badblocks` reads the bad-block log.  The
superblocks below are written by `_superblock()` in the layout of the kernel's
`struct mdp_superblock_1` (include/uapi/linux/raid/md_p.h; mdadm 4.2 `super1.c`
has the same struct and the checksum `calc_sb_1_csum()`), for a four-disk RAID 5
in the state the page describes:

* sde dropped out weeks ago: its own superblock stopped at event 1204 and still
  says all four members were active (`AAAA`);
* sdd dropped out during the incident: event 5710, it saw sde fail (`AAA.`);
* sdb and sdc are the newest: event 5712, they saw sdd and sde fail (`AA..`);
  sdc also carries two entries in its bad-block log.

mdadm must call every checksum correct (a wrong layout or checksum would show
"expected ..."), and print the event counts, roles and array states we wrote.
"""
from __future__ import annotations

import os
import struct
import uuid
from datetime import datetime, UTC
from pathlib import Path

import pytest

from labkit import make_image, need_tools, run


MD_SB_MAGIC = 0xA92B4EFC
MD_FEATURE_BAD_BLOCKS = 8
ROLE_FAULTY = 0xFFFE
SIZE = 64 << 20                      # bytes per member image
DATA_OFFSET = 2048                   # sectors: data starts 1 MiB into each member
BBLOG_OFFSET = 16                    # sectors after the superblock (which is at sector 8)
ARRAY_UUID = uuid.UUID("6c1f1a52-9f3e-4b8e-8e36-2b1d5a0c9e11").bytes
ARRAY_NS = uuid.UUID(bytes=ARRAY_UUID)                 # device UUIDs derived from it, fixed per run


def _ts(text: str) -> int:
    """md keeps seconds in the low 40 bits of ctime/utime (microseconds above: 0 here)."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


CREATED = _ts("2024-03-01 10:00:00")
# member -> (dev_number, events, last update, roles it believes in, bad blocks (sector, count))
MEMBERS = {
    "sdb": (0, 5712, "2024-06-03 22:41:09", [0, 1, ROLE_FAULTY, ROLE_FAULTY], []),
    "sdc": (1, 5712, "2024-06-03 22:41:09", [0, 1, ROLE_FAULTY, ROLE_FAULTY], [(123456, 8), (204800, 16)]),
    "sdd": (2, 5710, "2024-06-03 22:41:07", [0, 1, 2, ROLE_FAULTY], []),
    "sde": (3, 1204, "2024-05-12 03:14:55", [0, 1, 2, 3], []),
}


def _superblock(dev_number: int, events: int, utime: int, roles: list[int], has_bad_blocks: bool) -> bytes:
    """A version-1.2 md superblock (256 bytes + 2 per role), checksum included."""
    nsect = SIZE // 512
    data_size = nsect - DATA_OFFSET
    used = data_size & ~1023                                   # a multiple of the 512 KiB chunk
    head = struct.pack("<IIII16s32sQiiQII", MD_SB_MAGIC, 1,
                       MD_FEATURE_BAD_BLOCKS if has_bad_blocks else 0, 0,
                       ARRAY_UUID, b"backup01:7", CREATED,
                       5, 2, used,                             # level 5, layout 2 = left-symmetric
                       1024, 4)                                # chunk 1024 sectors, 4 raid disks
    head += struct.pack("<I", 0)                               # bitmap_offset (no bitmap)
    head += struct.pack("<IQIIII", 0, 0, 0, 0, 0, 0)            # no reshape in progress
    dev = struct.pack("<QQQQII16sBBHi", DATA_OFFSET, data_size, 8, 0, dev_number, 0,
                      uuid.uuid5(ARRAY_NS, f"member-{dev_number}").bytes, 0,
                      0, 8, BBLOG_OFFSET)                     # bad-block log: 8 sectors (4 KiB)
    dev += bytes(64 - len(dev))
    state = struct.pack("<QQQII", utime, events, (1 << 64) - 1, 0, len(roles)) + bytes(32)
    sb = bytearray(head + dev + state + b"".join(struct.pack("<H", r) for r in roles))
    assert (len(head), len(dev), len(state)) == (128, 64, 64)  # offsets 128 and 192, as md_p.h
    words = len(sb) // 4
    total = sum(struct.unpack_from(f"<{words}I", sb))
    if len(sb) % 4:
        total += struct.unpack_from("<H", sb, words * 4)[0]
    struct.pack_into("<I", sb, 216, ((total & 0xFFFFFFFF) + (total >> 32)) & 0xFFFFFFFF)
    return bytes(sb)


def _write_member(path: Path, name: str) -> Path:
    dev_number, events, updated, roles, bad = MEMBERS[name]
    make_image(path, SIZE)
    with open(path, "r+b") as f:
        f.seek(8 * 512)                                        # version 1.2: 4 KiB from the start
        f.write(_superblock(dev_number, events, _ts(updated), roles, bool(bad)))
        f.seek((8 + BBLOG_OFFSET) * 512)
        log = b"".join(struct.pack("<Q", (sector << 10) | count) for sector, count in bad)
        f.write(log + b"\xff" * (4096 - len(log)))             # all-ones entries end the list
    return path


@pytest.fixture
def members(tmp_path, monkeypatch) -> dict[str, Path]:
    need_tools("mdadm")
    monkeypatch.chdir(tmp_path)
    return {name: _write_member(tmp_path / f"{name}.img", name) for name in MEMBERS}


def _examine(*paths: Path) -> str:
    return run(["mdadm", "--examine", *[p.name for p in paths]], env={"TZ": "UTC"}).stdout


def test_examine_reads_event_counts_roles_and_array_states(members):
    out = _examine(*members.values())
    per_member = {}
    for name in MEMBERS:
        text = out.split(f"{name}.img:\n", 1)[1].split(".img:\n", 1)[0]
        fields = {}
        for line in text.splitlines():
            if " : " in line:
                key, value = line.split(" : ", 1)
                fields[key.strip()] = value.strip()
        per_member[name] = fields
    assert len(per_member) == 4 and all(per_member.values())
    for name, fields in per_member.items():
        assert fields["Magic"] == "a92b4efc"
        assert fields["Version"] == "1.2"
        assert fields["Raid Level"] == "raid5"
        assert fields["Raid Devices"] == "4"
        assert fields["Array UUID"] == "6c1f1a52:9f3e4b8e:8e362b1d:5a0c9e11"
        assert fields["Checksum"].endswith("- correct"), fields["Checksum"]
        assert fields["Layout"] == "left-symmetric"
        assert fields["Chunk Size"] == "512K"
    assert {n: f["Events"] for n, f in per_member.items()} == {
        "sdb": "5712", "sdc": "5712", "sdd": "5710", "sde": "1204"}
    assert {n: f["Device Role"] for n, f in per_member.items()} == {
        "sdb": "Active device 0", "sdc": "Active device 1",
        "sdd": "Active device 2", "sde": "Active device 3"}
    assert {n: f["Array State"].split()[0] for n, f in per_member.items()} == {
        "sdb": "AA..", "sdc": "AA..", "sdd": "AAA.", "sde": "AAAA"}
    assert per_member["sdb"]["Update Time"] == "Mon Jun  3 22:41:09 2024"
    assert per_member["sde"]["Update Time"] == "Sun May 12 03:14:55 2024"
    # 3 data members x 129024 sectors x 512 B = 198180864 B = 193536 KiB
    assert per_member["sdb"]["Array Size"].startswith("193536 KiB")
    assert per_member["sdb"]["Data Offset"] == "2048 sectors"
    assert per_member["sdb"]["Super Offset"] == "8 sectors"

    # the triage one-liner the page shows
    triage = run("mdadm --examine sd[b-e].img | grep -E '^sd|Events|Update Time|Device Role|Array State'",
                 env={"TZ": "UTC"}, cwd=members["sdb"].parent).stdout
    lines = [line.strip() for line in triage.splitlines()]
    assert lines[:5] == ["sdb.img:", "Update Time : Mon Jun  3 22:41:09 2024", "Events : 5712",
                         "Device Role : Active device 0",
                         "Array State : AA.. ('A' == active, '.' == missing, 'R' == replacing)"]
    assert lines[15:20] == ["sde.img:", "Update Time : Sun May 12 03:14:55 2024", "Events : 1204",
                            "Device Role : Active device 3",
                            "Array State : AAAA ('A' == active, '.' == missing, 'R' == replacing)"]
    print(triage)


def test_bad_block_log_is_listed(members):
    sdc = run(["mdadm", "--examine", "sdc.img"], env={"TZ": "UTC"}).stdout
    assert "Feature Map : 0x8" in sdc
    assert "Bad Block Log : 512 entries available at offset 16 sectors - bad blocks present." in sdc
    bb = run(["mdadm", "--examine-badblocks", "sdc.img"]).stdout
    assert bb.splitlines() == ["Bad-blocks on sdc.img:",
                               "              123456 for 8 sectors",
                               "              204800 for 16 sectors"]
    empty = run(["mdadm", "--examine-badblocks", "sdb.img"]).stdout
    assert empty.strip() == "Bad-blocks list is empty in sdb.img"
    print(sdc, bb, empty)


def test_a_wrong_checksum_is_reported(members, tmp_path):
    """Flip one byte of sdb's event count: mdadm names the checksum it expected."""
    bad = tmp_path / "sdb.img"
    with open(bad, "r+b") as f:
        f.seek(8 * 512 + 200)                                  # low byte of `events`
        f.write(b"\x51")
    out = run(["mdadm", "--examine", "sdb.img"], env={"TZ": "UTC"}).stdout
    line = next(l for l in out.splitlines() if "Checksum :" in l)
    assert " - expected " in line, line
    assert os.path.getsize(bad) == SIZE
