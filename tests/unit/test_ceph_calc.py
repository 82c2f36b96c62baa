"""Unit tests of snippets/ceph_calc.py.

Expected values are hand calculations written here, or, for the rounding rule
of the PG autoscaler, the function of the installed Ceph 16.2 mgr module itself
(loaded from /usr/share/ceph/mgr/pg_autoscaler/module.py at test time).
"""
from __future__ import annotations

import ast
import math
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
