"""Property and hand-calculated tests of snippets/precopy.py (pre-copy live migration model)."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from hypothesis import given, strategies as st

import precopy

GiB, MiB = 1024**3, 1024**2
SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "precopy.py"


def test_hand_calculation_quarter_ratio():
    # r = D/B = 1/4: 8 GiB (8 s), 2 GiB (2 s), 512 MiB (0.5 s); 128 MiB = 0.125 s <= 0.3 s
    m = precopy.precopy(8 * GiB, 1 * GiB, 256 * MiB)
    assert m.rounds == [8 * GiB, 2 * GiB, 512 * MiB]
    assert m.converged and m.stop_copy == 128 * MiB
    assert m.downtime == Fraction(1, 8)
    assert m.total_time == 8 + 2 + Fraction(1, 2) + Fraction(1, 8)


def test_a_lower_downtime_limit_needs_more_rounds():
    # with 100 ms the 128 MiB rest (125 ms) is still too much: one more round of 128 MiB, then 32 MiB
    m = precopy.precopy(8 * GiB, 1 * GiB, 256 * MiB, downtime_limit=Fraction(1, 10))
    assert m.rounds[-1] == 128 * MiB and m.stop_copy == 32 * MiB
    assert m.downtime == Fraction(1, 32)


sizes = st.integers(1 * MiB, 64 * GiB)
rates = st.integers(1 * MiB, 4 * GiB)


@given(sizes, rates, st.integers(0, 8 * GiB))
def test_each_round_resends_what_the_previous_round_dirtied(memory, bandwidth, dirty):
    m = precopy.precopy(memory, bandwidth, dirty, max_rounds=20)
    assert m.rounds[0] == memory
    for prev, nxt in zip(m.rounds, m.rounds[1:]):
        assert nxt == min(dirty * prev // bandwidth, memory)
    assert m.total_time == Fraction(sum(m.rounds), bandwidth) + m.downtime
    if m.converged:
        assert m.downtime <= precopy.QEMU_DOWNTIME_LIMIT
        assert m.stop_copy == min(dirty * m.rounds[-1] // bandwidth, memory)


@given(sizes, rates, st.integers(1, 4))
def test_dirtying_at_least_as_fast_as_the_link_never_converges(memory, bandwidth, factor):
    if Fraction(memory, bandwidth) <= precopy.QEMU_DOWNTIME_LIMIT:
        return                                   # small enough to stop-and-copy after one round
    m = precopy.precopy(memory, bandwidth, bandwidth * factor, max_rounds=15)
    assert not m.converged
    assert m.rounds == [memory] * 15


def test_auto_converge_throttles_until_it_converges():
    args = dict(memory=8 * GiB, bandwidth=1 * GiB, dirty_rate=2 * GiB, working_set=2 * GiB)
    assert not precopy.precopy(**args).converged
    m = precopy.precopy(**args, auto_converge=True)
    assert m.converged
    # the throttle moves in QEMU's steps: 20 %, then +10 % each time
    assert m.throttle in {Fraction(k, 100) for k in range(20, 100, 10)}
    assert m.downtime <= precopy.QEMU_DOWNTIME_LIMIT


def test_bad_inputs_name_the_accepted_range():
    for kwargs, msg in [(dict(memory=0, bandwidth=1, dirty_rate=0), "memory must be > 0 bytes, got 0"),
                        (dict(memory=1, bandwidth=1, dirty_rate=-1), "dirty rate must be >= 0 bytes/s, got -1"),
                        (dict(memory=10, bandwidth=1, dirty_rate=0, working_set=11),
                         "working set must be 1 to 10 bytes (the memory size), got 11")]:
        try:
            precopy.precopy(**kwargs)
        except ValueError as err:
            assert str(err) == msg
        else:
            raise AssertionError(f"{kwargs} accepted")


def test_script_prints_rounds_and_rejects_bad_sizes():
    ok = subprocess.run([sys.executable, str(SNIPPET), "--memory", "8GiB", "--bandwidth", "1GiB",
                         "--dirty", "256MiB"], capture_output=True, text=True)
    assert ok.returncode == 0
    assert ok.stdout.splitlines() == [
        "round 1: 8192.0 MiB", "round 2: 2048.0 MiB", "round 3: 512.0 MiB",
        "stop-and-copy: 128.0 MiB, downtime 125.0 ms, total 10.625 s, throttle 0%"]
    bad = subprocess.run([sys.executable, str(SNIPPET), "--memory", "8 parsecs", "--bandwidth", "1GiB",
                          "--dirty", "1MiB"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("precopy.py: size must be a number with an optional unit")
