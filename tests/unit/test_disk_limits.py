"""snippets/disk_limits.py: limits by hand calculation, CHS and alignment properties.

Sources of the expected numbers:
* 2^32 and 2^64 sectors: 32-bit LBA fields of an MBR entry, 64-bit LBAs of a
  GPT entry (UEFI spec 2.10, tables 5-2 and 5-6).
* fdisk's warning in libfdisk/src/dos.c (util-linux 2.38): "volumes larger
  than %lu bytes", printed with UINT_MAX * sector size.
* The GPT entry array: 128 entries x 128 bytes (UEFI spec 5.3.2, at least 16 KiB).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "snippets"))

import disk_limits as dl  # noqa: E402


def test_mbr_and_gpt_limits_by_hand():
    assert dl.mbr_limit_bytes(512) == 4294967296 * 512 == 2199023255552 == 2 * 1024 ** 4
    assert dl.mbr_limit_bytes(4096) == 16 * 1024 ** 4
    assert dl.gpt_limit_bytes(512) == 8 * 1024 ** 7            # 2^64 x 2^9 = 2^73 = 8 ZiB
    assert dl.gpt_limit_bytes(4096) == 64 * 1024 ** 7
    # the number fdisk prints: (2^32 - 1) sectors of 512 bytes, one sector short of 2 TiB
    assert (2 ** 32 - 1) * 512 == 2199023255040 == dl.mbr_limit_bytes(512) - 512
    # 2 TiB is about 2.2 TB (decimal), the seed's "2TB" confuses the two
    assert round(dl.mbr_limit_bytes(512) / 1e12, 2) == 2.2


def test_chs_limit_by_hand():
    assert dl.chs_limit_bytes() == 1024 * 255 * 63 * 512 == 8422686720
    assert dl.human(dl.chs_limit_bytes()) == "7.84 GiB"


def test_gpt_entry_array_sizes():
    assert dl.gpt_entry_array() == {"bytes": 16384, "sectors": 32, "first_usable_lba": 34}
    assert dl.gpt_entry_array(sector_size=4096) == {"bytes": 16384, "sectors": 4, "first_usable_lba": 6}
    assert dl.gpt_entry_array(entries=8)["first_usable_lba"] == 4       # sgdisk -S 8 gives 4 (see twin)
    with pytest.raises(ValueError, match="entry size of at least 128 bytes"):
        dl.gpt_entry_array(entry_size=100)


@given(st.integers(0, 1024 * 255 * 63 - 1))
def test_chs_is_the_inverse_of_lba_below_cylinder_1024(lba):
    c, h, s = dl.lba_to_chs(lba)
    assert (c * 255 + h) * 63 + (s - 1) == lba
    assert 0 <= c <= 1023 and 0 <= h <= 254 and 1 <= s <= 63


@given(st.integers(1024 * 255 * 63, 2 ** 32 - 1))
def test_chs_saturates_beyond_cylinder_1023(lba):
    assert dl.lba_to_chs(lba) == (1023, 254, 63)
    assert dl.chs_bytes(lba) == bytes([254, 0xFF, 0xFF])


def test_chs_bytes_of_lba_2048():
    # 2048 = 0 x 16065 + 32 x 63 + 32  ->  C 0, H 32, S 33; stored as head, sector, cylinder
    assert dl.chs_bytes(2048) == b"\x20\x21\x00"


@given(st.integers(0, 2 ** 40), st.sampled_from(list(dl.DRIVE_KINDS.values())))
def test_alignment_properties(start, kind):
    logical, physical = kind
    r = dl.check_alignment(start, logical, physical)
    assert r["offset"] == start * logical
    assert r["physical_aligned"] == (start * logical % physical == 0)
    if r["mib_aligned"]:
        assert r["physical_aligned"]                 # 1 MiB is a multiple of every physical size
    assert r["next_aligned_lba"] >= start and r["next_aligned_lba"] * logical % dl.MIB == 0
    assert r["next_aligned_lba"] - start < dl.MIB // logical
    assert r["physical_sectors_per_4k_write"] == (1 if r["physical_aligned"] else 2) or physical == 512


def test_the_old_dos_start_63_on_each_drive_kind():
    assert dl.check_alignment(63, 512, 512)["physical_aligned"] is True       # 512n: fine
    e = dl.check_alignment(63, 512, 4096)                                      # 512e: 32256 % 4096 = 3584
    assert e["physical_aligned"] is False and e["physical_sectors_per_4k_write"] == 2
    assert dl.check_alignment(2048, 512, 4096)["mib_aligned"] is True
    assert dl.check_alignment(256, 4096, 4096)["mib_aligned"] is True         # 4Kn: 1 MiB = LBA 256


def test_bad_input_messages():
    with pytest.raises(ValueError, match="use 512, 1024, 2048 or 4096 bytes"):
        dl.gpt_limit_bytes(520)
    with pytest.raises(ValueError, match="must be a multiple of the logical sector"):
        dl.check_alignment(0, 4096, 512)
    with pytest.raises(ValueError, match=r"use 0 .. 4294967295"):
        dl.lba_to_chs(2 ** 32)


def test_script_output_and_exit_status():
    script = ROOT / "snippets" / "disk_limits.py"
    ok = subprocess.run([sys.executable, str(script), "limits", "--sector-size", "4096"],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0
    assert "MBR (2^32 sectors x 4096 B): 16 TiB" in ok.stdout and "64 ZiB" in ok.stdout
    bad = subprocess.run([sys.executable, str(script), "align", "-5"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "negative" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("call, message", [
    (lambda: dl.lba_to_chs(2048.0), r"LBA 2048\.0 does not fit an MBR entry"),
    (lambda: dl.chs_bytes(0.5), r"LBA 0\.5 does not fit"),
    (lambda: dl.chs_bytes(2048, 255.0), r"geometry 255\.0 heads"),
    (lambda: dl.chs_bytes(2048, 255, True), r"geometry 255 heads x True sectors"),
    (lambda: dl.check_alignment(2048, 512, 0), r"physical sector 0 must be a positive multiple"),
    (lambda: dl.check_alignment(2048, 512, 4096.0), r"physical sector 4096\.0 must be a whole number"),
    (lambda: dl.check_alignment(2048.5), r"start LBA 2048\.5 must be a whole number"),
    (lambda: dl.check_alignment(2048, grain=2**20 + 0.5), r"alignment grain 1048576\.5 must be"),
    (lambda: dl.check_alignment(2048, 512.0), r"logical sector size 512\.0 is not supported"),
    (lambda: dl.mbr_limit_bytes(True), r"logical sector size True is not supported"),
])
def test_floats_and_a_zero_physical_sector_are_value_errors(call, message):
    """chs_bytes(0.5) was a TypeError (float & int), check_alignment with physical 0 a
    ZeroDivisionError; floats elsewhere gave float offsets."""
    with pytest.raises(ValueError, match=message):
        call()
    # hand check: LBA 2048 with 255 heads x 63 sectors is C 0, H 2048 // 63 = 32, S 2048 % 63 + 1 = 33
    assert dl.chs_bytes(2048) == bytes([32, 33, 0])
