"""snippets/lvm.py against hostile numbers (issue 18): thin-pool autoextension with a percentage
that makes no progress, sizes past 8 EiB, floats where lvm.conf and lvcreate take whole numbers.
Expected values are lvm.conf's own example and hand calculations written here."""
from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lvm

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "lvm.py"
MiB = lvm.MiB


@pytest.mark.parametrize("percent", [1e-12, 0.5, 20.0, True, -1, 10_001, math.nan])
def test_autoextend_refuses_a_percent_lvm_conf_cannot_hold(percent):
    """thin_pool_autoextend_percent is a whole number in lvm.conf.  With 1e-12 the pool grew by
    1e-9 MB a step and the loop would have run about 10^15 times before reaching 2000."""
    with pytest.raises(ValueError, match=r"percent must be a whole number 0\.\.10000 \(lvm\.conf "
                                         r"thin_pool_autoextend_percent\), got "):
        lvm.autoextend_steps(1000, 2000, 70, percent, 1e6)


@pytest.mark.parametrize("threshold", [70.5, False, -1, 10**400])
def test_autoextend_refuses_a_threshold_lvm_conf_cannot_hold(threshold):
    with pytest.raises(ValueError, match=r"threshold must be a whole number 0\.\.10000"):
        lvm.autoextend_steps(1000, 2000, threshold, 20, 1e6)


@pytest.mark.parametrize("args, message", [
    ((1000, math.inf, 70, 20, 1e6), r"used must be 0\.\.2\*\*63 \(a bound of this model\), got inf"),
    ((1000, 2000, 70, 20, math.nan), r"vg_free must be 0\.\.2\*\*63 .*got nan"),
    ((10**400, 2000, 70, 20, 1e6), r"pool must be 0\.\.2\*\*63"),
    ((0, 2000, 70, 20, 1e6), r"pool must be > 0, got 0"),
])
def test_autoextend_refuses_sizes_it_cannot_count(args, message):
    with pytest.raises(ValueError, match=message):
        lvm.autoextend_steps(*args)


def test_autoextend_hand_values():
    # lvm.conf's example: 1000 MB at 70/20 grows to 1200 once more than 700 is used, 1440 past 840
    assert lvm.autoextend_steps(1000, 841, 70, 20, 10_000) == [1200.0, 1440.0]
    # percent 10000 (the largest): +100 x 1000 = 101000 in one step; 2000 < 0.7 x 101000 then
    assert lvm.autoextend_steps(1000, 2000, 70, 10_000, 1e6) == [101000.0]
    # percent 0 disables growth: no steps, not an endless loop
    assert lvm.autoextend_steps(1000, 2000, 70, 0, 1e6) == []


def test_autoextend_steps_are_bounded_at_the_smallest_percent():
    """percent 1 grows the pool by 1.01 a step, so from 1 byte to 2**63 takes at most
    log(2**63) / log(1.01) = 43.668 / 0.00995 = 4388.6 steps: the loop cannot run away.  Here it
    stops when the next 1 % no longer fits in the VG's 2**63 bytes of free space."""
    steps = lvm.autoextend_steps(1, 2**62, 50, 1, 2**63)
    assert 0 < len(steps) <= math.ceil(math.log(2**63) / math.log(1.01)) == 4389
    assert steps[0] == pytest.approx(1.01)
    assert all(b == pytest.approx(a * 1.01) for a, b in zip(steps, steps[1:]))
    free_left = 2**63 - (steps[-1] - 1)            # what the steps took from the VG
    assert 0 <= free_left < steps[-1] / 100        # the next step would not fit


@pytest.mark.parametrize("call, message", [
    (lambda vg: vg.extents_for_size(10**400), r"size must be > 0 whole bytes, at most 2\*\*63 .*got 1000"),
    (lambda vg: vg.extents_for_size(math.inf), r"size must be > 0 whole bytes, .*got inf"),
    (lambda vg: vg.extents_for_size(math.nan), r"got nan"),
    (lambda vg: vg.extents_for_size(10.5 * MiB), r"got 11010048\.0"),
    (lambda vg: vg.extents_for_size(0), r"size must be > 0 whole bytes"),
    (lambda vg: vg.extents_for_percent(50.5, "VG"), r"percent must be 1\.\.100, got 50\.5"),
    (lambda vg: vg.extents_for_percent(True, "VG"), r"percent must be 1\.\.100, got True"),
    (lambda vg: vg.extents_for_percent(50, "PVS"), r"percent of 'PVS': accepted VG or FREE"),
])
def test_lv_sizes_must_be_whole_and_in_range(call, message):
    """10**400 bytes was an OverflowError (int / int too large for a float), inf an OverflowError
    from math.ceil, nan a ValueError about converting NaN; 50.5 %VG gave 15.0 extents."""
    vg = lvm.VG(4 * MiB, [64 * MiB, 64 * MiB])
    with pytest.raises(ValueError, match=message):
        call(vg)
    assert vg.allocated == 0


def test_lv_size_at_the_bound_by_hand():
    # 2**63 bytes in 4 MiB extents: 2**63 / 2**22 = 2**41 extents requested, 30 free
    vg = lvm.VG(4 * MiB, [64 * MiB, 64 * MiB])
    with pytest.raises(ValueError, match=r"^2199023255552 extents requested but only 30 free"):
        vg.extents_for_size(2**63)


@pytest.mark.parametrize("spec, message", [
    ("-L 0", r"size must be > 0 whole bytes"),
    ("-L inf", r"bad size 'inf'"),
    ("-L 1e400", r"bad size '1e400'"),
    ("-L nan", r"bad size 'nan'"),
    ("-l 50.5%VG", r"bad spec '-l 50\.5%VG'"),
    ("-l 0%VG", r"percent must be 1\.\.100, got 0"),
    ("-l 1.5", r"bad spec '-l 1\.5'"),
])
def test_cli_bad_numbers_give_one_line(spec, message):
    proc = subprocess.run([sys.executable, str(SNIPPET), "--pv", "1G", spec], capture_output=True, text=True,
                          timeout=60)
    lines = proc.stderr.splitlines()
    assert (proc.returncode, len(lines)) == (2, 1), proc.stderr
    assert lines[0].startswith("lvm.py: ") and re.search(message, lines[0]), lines[0]
