"""snippets/objcost.py: hand-checked values, and hostile numbers ending in a ValueError that names
them (issue 18: moved_fraction_mod_n with keys=0 divided by zero, loss_probability(198594, 1, 1)
summed 198594 binomial terms of numbers with up to 59,000 digits and did not finish)."""
from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

import objcost

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "objcost.py"


def test_loss_probability_hand_values():
    # 3 replicas fail independently with p = 0.01; data is lost when all three fail: p^3
    assert objcost.loss_probability(3, 2, 0.01) == pytest.approx(1e-6)
    # EC 4+2 (6 shards, 2 tolerated): C(6,3) p^3 q^3 + C(6,4) p^4 q^2 + C(6,5) p^5 q + p^6
    p, q = 0.01, 0.99
    hand = 20 * p**3 * q**3 + 15 * p**4 * q**2 + 6 * p**5 * q + p**6
    assert objcost.loss_probability(6, 2, 0.01) == pytest.approx(hand)


def test_loss_probability_at_the_shard_bound_by_hand():
    """256 shards (MAX_SHARDS): with p = 1 every shard fails, so losing more than one is certain:
    only the term i = 256 is not zero (0^0 = 1), C(256, 256) x 1 = 1.  With 255 tolerated only
    all 256 failing loses data: 0.5^256 = 2^-256."""
    assert objcost.loss_probability(256, 1, 1) == 1.0
    assert objcost.loss_probability(256, 255, 0.5) == 2.0**-256
    assert objcost.loss_probability(256, 0, 0) == 0.0


@pytest.mark.parametrize("shards, tolerated, p, message", [
    (198594, 1, 1, r"shards must be a whole number 1\.\.256 \(a bound of this model\), got 198594"),
    (10**400, 1, 0.5, r"shards must be a whole number 1\.\.256"),
    (6.0, 2, 0.01, r"shards must be a whole number 1\.\.256 .*got 6\.0"),
    (True, 0, 0.01, r"shards must be a whole number .*got True"),
    (6, 6, 0.01, r"tolerated must be in 0\.\.shards-1 \(accepted 0\.\.5\), got 6"),
    (6, 2.5, 0.01, r"tolerated must be a whole number"),
    (6, 2, math.nan, r"p must be a probability \(accepted 0\.\.1\), got nan"),
    (6, 2, math.inf, r"p must be a probability .*got inf"),
    (6, 2, True, r"p must be a probability .*got True"),
])
def test_loss_probability_refuses_before_summing(monkeypatch, shards, tolerated, p, message):
    """The check comes before the binomial sum: not one C(n, i) is computed."""
    def no_comb(*args):
        raise AssertionError(f"math.comb{args} called before the arguments were checked")
    monkeypatch.setattr(math, "comb", no_comb)
    with pytest.raises(ValueError, match=message):
        objcost.loss_probability(shards, tolerated, p)


def test_moved_fraction_hand_values():
    # keys 0..5 under mod 2 and mod 3: 0 and 1 stay, 2, 3, 4, 5 move: 4/6 = N/(N+1) for N = 2
    assert objcost.moved_fraction_mod_n(2, keys=6) == pytest.approx(2 / 3)
    # a single key (hash 0) never moves
    assert objcost.moved_fraction_mod_n(7, keys=1) == 0.0


@pytest.mark.parametrize("n, keys, message", [
    (10, 0, r"keys must be a whole number 1\.\.10000000 \(a bound of this model\), got 0"),
    (10, -5, r"keys must be a whole number 1\.\.10000000"),
    (10, 10**8, r"keys must be a whole number 1\.\.10000000 .*got 100000000"),
    (10, 1000.0, r"keys .*got 1000\.0"),
    (0, 100, r"n must be a whole number 1\.\.4294967296"),
    (2.5, 100, r"n must be a whole number .*got 2\.5"),
    (True, 100, r"n must be a whole number .*got True"),
])
def test_moved_fraction_refuses_keys_it_cannot_count(n, keys, message):
    """keys=0 was a ZeroDivisionError (0 moved / 0 keys); keys are counted one by one, so they
    are bounded too."""
    with pytest.raises(ValueError, match=message):
        objcost.moved_fraction_mod_n(n, keys)


def test_space_hand_values():
    # a 1 KiB object in 4 KiB allocation units, 3 replicas: 12 KiB for 1 KiB, 12x
    assert objcost.stored_bytes(1024, 4096, 3) == 12288
    # EC 4+2: four data chunks of 256 B and two coding chunks, each taking a 4 KiB unit: 24 KiB
    assert objcost.ec_space_amplification(1024, 4, 2) == 24.0
    assert objcost.ec_space_amplification(1024, 4, 0) == 16.0


@pytest.mark.parametrize("call, message", [
    (lambda: objcost.stored_bytes(1024.5), r"size must be a whole number > 0, got 1024\.5"),
    (lambda: objcost.stored_bytes(1024, 4096.0), r"min_alloc must be a whole number > 0, got 4096\.0"),
    (lambda: objcost.stored_bytes(1024, 4096, 2.5), r"replicas must be a whole number > 0, got 2\.5"),
    (lambda: objcost.stored_bytes(1024, 4096, True), r"replicas must be a whole number > 0, got True"),
    (lambda: objcost.stored_bytes(0), r"size must be > 0"),
    (lambda: objcost.ec_space_amplification(1024, 4.5, 2), r"k must be a whole number > 0, got 4\.5"),
    (lambda: objcost.ec_space_amplification(1024, 4, 2.0), r"m must be >= 0 \(accepted: 0 to 2\*\*64\), got 2\.0"),
    (lambda: objcost.ec_space_amplification(1024, 4, 10**400), r"m must be >= 0 \(accepted: 0 to 2\*\*64\)"),
    (lambda: objcost.request_seconds(10, 20, 1.5), r"concurrency must be a whole number > 0, got 1\.5"),
    (lambda: objcost.request_seconds(10.0, 20), r"objects must be >= 0"),
    (lambda: objcost.request_seconds(10, math.inf), r"rtt_ms must be at most 2\*\*64"),
    (lambda: objcost.latency_ms(math.nan, 32), r"iops must be > 0 .*got nan"),
    (lambda: objcost.iops_limit(1.6, -1), r"queue_depth must be > 0"),
    (lambda: objcost.stale_read_probability(3, 4, 1), r"need 1 <= w, r <= n \(accepted 1\.\.3\), got w=4 r=1"),
])
def test_floats_where_whole_numbers_are_meant_and_other_bad_numbers(call, message):
    """A float size or replica count used to be multiplied through and give a float byte count."""
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("args, message", [
    (["space", "1024", "--replicas", "0"], r"replicas must be > 0"),
    (["space", "1024", "--min-alloc", "9" * 400], r"min_alloc must be at most 2\*\*64"),
    (["space", "1.5"], r"argument size: invalid int value: '1\.5'"),
    (["time", "10", "--rtt-ms", "nan"], r"rtt_ms must be > 0 .*got nan"),
    (["time", "10", "--rtt-ms", "1e999"], r"rtt_ms must be at most 2\*\*64 .*got inf"),
    (["time", "10", "--concurrency", "0"], r"concurrency must be > 0"),
    (["latency", "--iops", "inf", "--qd", "1"], r"iops must be at most 2\*\*64"),
    (["latency", "--iops", "100", "--qd=-inf"], r"queue_depth must be > 0 .*got -inf"),
])
def test_cli_bad_numbers_give_one_line(args, message):
    proc = subprocess.run([sys.executable, str(SNIPPET), *args], capture_output=True, text=True, timeout=60)
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("usage:", " "))]
    assert (proc.returncode, proc.stdout, len(lines)) == (2, "", 1), proc.stderr
    assert re.match(r"objcost\.py( \w+)?: ", lines[0]) and re.search(message, lines[0]), lines[0]
