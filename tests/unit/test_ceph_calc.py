"""Unit tests of snippets/ceph_calc.py.

Expected values are hand calculations written here, or, for the rounding rule
of the PG autoscaler, the function of the installed Ceph 16.2 mgr module itself
(loaded from /usr/share/ceph/mgr/pg_autoscaler/module.py at test time).
"""
from __future__ import annotations

import ast
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "snippets"))

import ceph_calc as cc  # noqa: E402

AUTOSCALER = Path("/usr/share/ceph/mgr/pg_autoscaler/module.py")


def _real_nearest_power_of_two():
    """nearest_power_of_two() from the installed pg_autoscaler module, nothing else."""
    tree = ast.parse(AUTOSCALER.read_text())
    func = next(n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == "nearest_power_of_two")
    namespace: dict = {}
    exec(compile(ast.Module(body=[func], type_ignores=[]), str(AUTOSCALER), "exec"), namespace)
    return namespace["nearest_power_of_two"]


@pytest.mark.twin
def test_nearest_power_of_two_equals_the_autoscaler_module():
    real = _real_nearest_power_of_two()
    for n in list(range(1, 70_000)) + [2 ** 20 - 1, 2 ** 20, 3 * 2 ** 19, 3 * 2 ** 19 + 1]:
        assert cc.nearest_power_of_two(n) == real(n), n
    for x in (0.5, 1.49, 95.999, 3333.33, 1187.9):
        assert cc.nearest_power_of_two(x) == real(x), x


@pytest.mark.twin
def test_module_constants_match_the_installed_autoscaler():
    text = AUTOSCALER.read_text()
    assert f"PG_NUM_MIN = {cc.AUTOSCALE_PG_NUM_MIN}" in text
    assert f"threshold: float = {cc.AUTOSCALE_THRESHOLD}" in text


def test_pg_count_examples_by_hand():
    # 100 OSDs x 100 / 3 = 3333.3; 2048 is 1285 away, 4096 is 763 away -> 4096
    assert cc.pg_num_for_pool(100, 3) == 4096
    # 20 OSDs x 100 / 3 = 666.7; 512 is 155 away, 1024 is 357 away -> 512
    assert cc.pg_num_for_pool(20, 3) == 512
    # 3 OSDs x 100 / 3 = 100 -> 128 (64 is 36 away, 128 is 28 away)
    assert cc.pg_num_for_pool(3, 3) == 128
    # 6 OSDs x 100 / 3 = 200 -> 256 (128 is 72 away, 256 is 56 away)
    assert cc.pg_num_for_pool(6, 3) == 256
    # a tie (96 is 32 from 64 and 128... 96 - 64 = 32 = 128 - 96) goes up
    assert cc.nearest_power_of_two(96) == 128


@given(st.integers(1, 5000), st.integers(1, 12))
def test_pg_num_is_a_power_of_two_within_a_factor_of_two(osds, size):
    raw = osds * 100 / size
    n = cc.pg_num_for_pool(osds, size)
    assert n & (n - 1) == 0
    if raw >= 1:
        assert raw / 2 <= n <= raw * 2


def test_autoscaler_hand_example():
    # 12 OSDs -> 1200 PG copies; a pool using 30 % with size 3: 360 / 3 = 120 -> 128
    [a] = cc.autoscale(12, [cc.Pool("rbd", 3, 0.30, 32)])
    assert (a.ideal, a.final, a.would_adjust) == (120.0, 128, True)   # 128 > 3 x 32
    [a] = cc.autoscale(12, [cc.Pool("rbd", 3, 0.30, 64)])
    assert (a.final, a.would_adjust) == (128, False)                  # 128 < 3 x 64
    # an almost empty pool never goes below PG_NUM_MIN = 32
    [a] = cc.autoscale(12, [cc.Pool("tiny", 3, 0.0001, 32)])
    assert (a.final, a.would_adjust) == (32, False)
    # a 2048-PG pool that holds 1 %: ideal 4 -> 32, less than 2048 / 3 -> shrink
    [a] = cc.autoscale(12, [cc.Pool("old", 3, 0.01, 2048)])
    assert (a.final, a.would_adjust) == (32, True)


def test_autoscaler_bulk_pools_share_what_is_left():
    pools = [cc.Pool("meta", 3, 0.01, 32), cc.Pool("a", 3, 0.01, 32, bulk=True),
             cc.Pool("b", 3, 0.01, 32, bulk=True)]
    got = {a.name: a for a in cc.autoscale(10, pools)}
    # pass 1: meta takes int(0.01 x 1000) = 10 -> 990 left; pass 3: a and b get 990 / 2 / 3
    assert got["a"].ideal == pytest.approx(990 / 2 / 3)
    assert got["a"].final == got["b"].final == 128          # 165 -> 128
    assert got["meta"].final == 32


def test_capacity_by_hand():
    c = cc.usable_capacity(120 * cc.TiB, size=3)
    assert c.at_full == pytest.approx(120 * cc.TiB / 3 * 0.95)
    assert c.at_nearfull == pytest.approx(40 * cc.TiB * 0.85)
    e = cc.usable_capacity(120 * cc.TiB, k=8, m=3)
    assert e.efficiency == pytest.approx(8 / 11)
    assert e.at_full == pytest.approx(120 * cc.TiB * 8 / 11 * 0.95)
    # 5 equal hosts, keep one host's share free: 100 TiB x 0.8 / 3 x 0.95
    r = cc.usable_capacity(100 * cc.TiB, size=3, reserve_failure_domain=0.2)
    assert r.at_full / cc.TiB == pytest.approx(100 * 0.8 / 3 * 0.95)


@given(st.integers(1, 99))
def test_quorum_is_a_majority_and_two_quorums_overlap(n):
    quorum, tolerated = cc.mon_quorum(n)
    assert quorum + tolerated == n
    assert 2 * quorum > n                       # any two majorities share a monitor
    assert 2 * (quorum - 1) <= n                # and it is the smallest such number
    assert cc.mon_quorum(2 * (n // 2) + 1)[1] >= tolerated   # odd n tolerates as much


def test_even_monitor_counts_add_no_tolerance():
    assert [cc.mon_quorum(n)[1] for n in (3, 4, 5, 6, 7)] == [1, 1, 2, 2, 3]


@settings(max_examples=200)
@given(st.floats(0, 1), st.integers(1, 12), st.integers(0, 6))
def test_loss_probability_is_a_binomial_tail(p, k, m):
    n = k + m
    loss = cc.loss_probability(p, k, m)
    survive = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(0, m + 1))
    assert loss + survive == pytest.approx(1.0)
    assert 0.0 <= loss <= 1.0 + 1e-12


def test_loss_probability_hand_values():
    # replication 3 = k 1, m 2: all three copies must fail: p^3
    assert cc.loss_probability(0.01, 1, 2) == pytest.approx(1e-6)
    # EC 4+2 with p = 0.01: C(6,3) p^3 q^3 + C(6,4) p^4 q^2 + C(6,5) p^5 q + p^6
    q = 0.99
    hand = 20 * 0.01 ** 3 * q ** 3 + 15 * 0.01 ** 4 * q ** 2 + 6 * 0.01 ** 5 * q + 0.01 ** 6
    assert cc.loss_probability(0.01, 4, 2) == pytest.approx(hand)
    assert cc.nines(1e-6) == pytest.approx(6.0)


@pytest.mark.parametrize("call, message", [
    (lambda: cc.pg_num_for_pool(0, 3), "osds must be between 1 and 100000 (got 0)"),
    (lambda: cc.usable_capacity(1.0, k=4, m=0), "m must be between 1 and 64 (got 0)"),
    (lambda: cc.mon_quorum(100), "n must be between 1 and 99 (got 100)"),
    (lambda: cc.autoscale(3, [], threshold=1.5), "threshold must be between 2.0 and 1000.0"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_script_exit_status_2_without_traceback():
    proc = subprocess.run([sys.executable, str(ROOT / "snippets" / "ceph_calc.py"), "quorum", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "ceph_calc.py: n must be between 1 and 99 (got 0)"
    assert "Traceback" not in proc.stderr
    ok = subprocess.run([sys.executable, str(ROOT / "snippets" / "ceph_calc.py"), "pg",
                         "--osds", "100", "--size", "3"], capture_output=True, text=True)
    assert ok.stdout.startswith("100 OSDs x 100 x 1 / 3 = 3333.3 -> pg_num 4096")


# --- hostile numbers (issue 18): a ValueError naming the value, never ZeroDivisionError or nan ---
@pytest.mark.parametrize("pool, message", [
    (cc.Pool("rbd", 0, 0.3, 32), r"pool 'rbd' size must be between 1\.0 and 64\.0 \(got 0\)"),
    (cc.Pool("rbd", 0.0, 0.3, 32), r"pool 'rbd' size .*\(got 0\.0\)"),
    (cc.Pool("rbd", math.nan, 0.3, 32), r"pool 'rbd' size .*\(got nan\)"),
    (cc.Pool("rbd", True, 0.3, 32), r"pool 'rbd' size .*\(got True\)"),
    (cc.Pool("rbd", 3, math.inf, 32), r"capacity_ratio must be between 0\.0 and 1000\.0 \(got inf\)"),
    (cc.Pool("rbd", 3, -math.inf, 32), r"capacity_ratio .*\(got -inf\)"),
    (cc.Pool("rbd", 3, math.nan, 32), r"capacity_ratio .*\(got nan\)"),
    (cc.Pool("rbd", 3, 0.3, 32, bias=math.inf), r"bias .*\(got inf\)"),
    (cc.Pool("rbd", 3, 0.3, 32.0), r"pg_num must be between 1 and 2147483648 \(got 32\.0\)"),
    (cc.Pool("rbd", 3, 0.3, 32, pg_num_min=1.5), r"pg_num_min .*\(got 1\.5\)"),
    (cc.Pool("rbd", 3, 0.3, 32, pg_num_max=2**40), r"pg_num_max .*\(got 1099511627776\)"),
])
def test_autoscale_refuses_pool_numbers_that_would_divide_by_zero_or_give_nan(pool, message):
    """Size 0 was a ZeroDivisionError (ideal = used_pg / size); an infinite or nan ratio made
    nearest_power_of_two(inf) fail or every later pool's share nan."""
    with pytest.raises(ValueError, match=message):
        cc.autoscale(12, [pool])


@pytest.mark.parametrize("osds, target, threshold, message", [
    (12.0, 100, 3.0, r"osd_count must be between 1 and 100000 \(got 12\.0\)"),
    (True, 100, 3.0, r"osd_count .*\(got True\)"),
    (12, math.inf, 3.0, r"target_per_osd .*\(got inf\)"),
    (12, 100, math.nan, r"threshold must be between 2\.0 and 1000\.0 \(got nan\)"),
])
def test_autoscale_refuses_bad_root_numbers(osds, target, threshold, message):
    with pytest.raises(ValueError, match=message):
        cc.autoscale(osds, [cc.Pool("rbd", 3, 0.3, 32)], target, threshold)


def test_autoscale_at_the_largest_accepted_ratio_by_hand():
    # 12 OSDs x 100 = 1200 PG copies; ratio 1000: ideal = 1000 x 1200 / 3 = 400000, between
    # 2^18 = 262144 (137856 away) and 2^19 = 524288 (124288 away): 524288
    a = cc.autoscale(12, [cc.Pool("rbd", 3, 1000.0, 32)])[0]
    assert (a.ideal, a.final, a.would_adjust) == (400000.0, 524288, False)   # ratio > 1: no change


@pytest.mark.parametrize("pairs, osds, message", [
    ([(10**400, 3)], 100, r"pg_num must be between 1 and 2147483648 \(got 1000"),
    ([(4096, 10**400)], 100, r"size must be between 1 and 64"),
    ([(4096.0, 3)], 100, r"pg_num .*\(got 4096\.0\)"),
    ([(4096, 3, 1)], 100, r"each pool must be a \(pg_num, size\) pair"),
    ([(4096, 3)], 0, r"osds must be between 1 and 100000 \(got 0\)"),
])
def test_pgs_per_osd_refuses_numbers_past_cephs_ranges(pairs, osds, message):
    """10**400 PGs was an OverflowError (integer division result too large for a float)."""
    with pytest.raises(ValueError, match=message):
        cc.pgs_per_osd(pairs, osds)


@pytest.mark.parametrize("args, message", [
    (["pg", "--osds", "100", "--size", "0"], r"size must be between 1 and 32 \(got 0\)"),
    (["pg", "--osds", "100", "--share", "nan"], r"data_share must be between 0\.0 and 1\.0 \(got nan\)"),
    (["pg", "--osds", "100", "--share", "inf"], r"data_share .*\(got inf\)"),
    (["pg", "--osds", "2.5"], r"argument --osds: invalid int value: '2\.5'"),
    (["capacity", "--raw", "inf"], r"raw_bytes must be between 0 and 1e\+21 \(got inf\)"),
    (["capacity", "--raw", "nanT"], r"raw_bytes .*\(got nan\)"),
    (["capacity", "--raw", "100T", "--hosts", "1"], r"hosts must be 0 \(no reserve\) or at least 2"),
    (["durability", "--p", "inf"], r"p must be between 0\.0 and 1\.0 \(got inf\)"),
    (["durability", "--p", "0.01", "--m", "9" * 400], r"m must be between 0 and 64"),
])
def test_cli_hostile_numbers_give_one_line(args, message):
    """The message names the script (argparse's own errors name the subcommand too)."""
    proc = subprocess.run([sys.executable, str(ROOT / "snippets" / "ceph_calc.py"), *args],
                          capture_output=True, text=True, timeout=60)
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("usage:", " "))]
    assert (proc.returncode, proc.stdout, len(lines)) == (2, "", 1), proc.stderr
    assert re.match(r"ceph_calc\.py( pg)?: ", lines[0]) and re.search(message, lines[0]), lines[0]
