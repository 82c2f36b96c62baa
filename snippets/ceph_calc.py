"""Ceph sizing arithmetic: PG counts, the PG autoscaler's view, usable capacity,
monitor quorum and erasure-code durability.

What this module demonstrates, in the order the Ceph chapter uses it:

* ``nearest_power_of_two`` and ``pg_num_for_pool``: the classic rule "OSDs x 100
  / size, rounded to a power of two" (100 is ``mon_target_pg_per_osd``);
* ``autoscale``: what the ``pg_autoscaler`` manager module of Ceph 16.2 would
  set, following ``src/pybind/mgr/pg_autoscaler/module.py`` (three passes over
  the pools of one CRUSH root; a change only when the new value is more than
  3x above or below the current one);
* ``usable_capacity``: raw space -> what a replicated or EC pool can hold
  before the nearfull (0.85) and full (0.95) ratios are reached;
* ``mon_quorum``: majority size floor(n/2)+1 and the monitors one can lose;
* ``loss_probability``: the chance that more chunks of one placement group
  fail than the redundancy covers, from a per-disk failure probability
  (binomial distribution, independent failures).

>>> pg_num_for_pool(osds=100, size=3)
4096
>>> mon_quorum(5)
(3, 2)
>>> usable_capacity(30 * TiB, size=0)
Traceback (most recent call last):
...
ValueError: size must be between 1 and 10 (got 0)
"""
from __future__ import annotations

# --8<-- [start:prelude]
import argparse
import math
import sys
from typing import NamedTuple
from collections.abc import Sequence

TiB = 1 << 40
GiB = 1 << 30

# Defaults of Ceph 16.2 (src/common/options.cc; checked with
# `ceph-conf -c /dev/null --show-config-value NAME` in tests/labs/test_ceph_cluster.py).
MON_TARGET_PG_PER_OSD = 100
MON_MAX_PG_PER_OSD = 250
NEARFULL_RATIO = 0.85
BACKFILLFULL_RATIO = 0.90
FULL_RATIO = 0.95
# pg_autoscaler/module.py (16.2): PG_NUM_MIN and the fixed change threshold.
AUTOSCALE_PG_NUM_MIN = 32
AUTOSCALE_THRESHOLD = 3.0


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} (got {value!r})")


def _check_float(name: str, value: float, low: float, high: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} (got {value!r})")
# --8<-- [end:prelude]


# --8<-- [start:pgcount]
def nearest_power_of_two(n: float) -> int:
    """The power of two closest to n; a tie goes up (as pg_autoscaler does).

    >>> [nearest_power_of_two(x) for x in (1, 3, 5, 6, 24, 3333.3, 0.4)]
    [1, 4, 4, 8, 32, 4096, 0]
    """
    _check_float("n", n, -1e18, 1e18)          # also refuses nan and inf (no power of two is closest)
    v = int(n)
    if v <= 0:
        return 0
    upper = 1 << (v - 1).bit_length()      # smallest power of two >= v
    lower = upper >> 1
    return lower if (upper - v) > (v - lower) else upper


def pg_num_for_pool(osds: int, size: int, target_per_osd: int = MON_TARGET_PG_PER_OSD,
                    data_share: float = 1.0) -> int:
    """pg_num for a pool holding ``data_share`` of the data: OSDs x target / size.

    Each PG has ``size`` copies (k+m shards for EC), so OSDs x 100 / size PGs put
    about 100 PG copies on each OSD.

    >>> pg_num_for_pool(100, 3)           # 100 x 100 / 3 = 3333.3 -> 4096
    4096
    >>> pg_num_for_pool(10, 3)            # 333.3 -> 256 (512 is farther away)
    256
    >>> pg_num_for_pool(12, 6)            # EC k=4 m=2: 1200 / 6 = 200 -> 256
    256
    >>> pg_num_for_pool(100, 3, data_share=0.2)  # 666.7 -> 512
    512
    """
    _check_int("osds", osds, 1, 100_000)
    _check_int("size", size, 1, 32)
    _check_int("target_per_osd", target_per_osd, 1, 10_000)
    _check_float("data_share", data_share, 0.0, 1.0)
    return max(1, nearest_power_of_two(osds * target_per_osd * data_share / size))


def pgs_per_osd(pg_nums_and_sizes: Sequence[tuple[int, int]], osds: int) -> float:
    """PG copies per OSD: sum(pg_num x size) / OSDs (``mon_max_pg_per_osd`` = 250 caps it).

    >>> pgs_per_osd([(4096, 3)], 100)
    122.88
    """
    _check_pgs(pg_nums_and_sizes, osds)
    return sum(pg * size for pg, size in pg_nums_and_sizes) / osds
# --8<-- [end:pgcount]


def _check_pgs(pg_nums_and_sizes: Sequence[tuple[int, int]], osds: int) -> None:
    """pgs_per_osd()'s input: (pg_num, size) pairs of whole numbers in Ceph's ranges."""
    _check_int("osds", osds, 1, 100_000)
    if len(pg_nums_and_sizes) > 10_000:
        raise ValueError(f"at most 10000 pools (got {len(pg_nums_and_sizes)})")
    for pair in pg_nums_and_sizes:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"each pool must be a (pg_num, size) pair (got {pair!r:.40})")
        _check_int("pg_num", pair[0], 1, 1 << 31)
        _check_int("size", pair[1], 1, 64)


# --8<-- [start:autoscale]
class Pool(NamedTuple):
    """One pool as the autoscaler sees it."""
    name: str
    size: float                   # raw used rate: replicas, or (k+m)/k for EC
    capacity_ratio: float         # share of the root's raw capacity used (or targeted)
    pg_num: int                   # current pg_num (pg_num_target)
    bias: float = 1.0             # pg_autoscale_bias (RGW index/meta pools use 4)
    bulk: bool = False            # the pool's "bulk" flag (16.2.8 and later)
    pg_num_min: int = AUTOSCALE_PG_NUM_MIN
    pg_num_max: int | None = None


class Advice(NamedTuple):
    name: str
    ideal: float                  # unrounded PG target
    final: int                    # power of two, clamped to pg_num_min/max
    would_adjust: bool            # more than `threshold` times off the current pg_num


def autoscale(osd_count: int, pools: Sequence[Pool], target_per_osd: int = MON_TARGET_PG_PER_OSD,
              threshold: float = AUTOSCALE_THRESHOLD) -> list[Advice]:
    """The pg_autoscaler's three passes over the pools of one CRUSH root (16.2).

    The root has osd_count x target_per_osd PG copies to hand out ("pg_left").
    Pass 1: every pool without the bulk flag gets its capacity ratio's share.
    Pass 2: bulk pools using more than an even share get their ratio's share.
    Pass 3: the remaining bulk pools split what is left evenly.

    >>> small = Pool("rbd", size=3, capacity_ratio=0.30, pg_num=32)
    >>> [(a.ideal, a.final, a.would_adjust) for a in autoscale(12, [small])]
    [(120.0, 128, True)]
    >>> a = autoscale(12, [Pool("rbd", 3, 0.30, 64)])[0]   # 128 vs 64: under 3x, stays
    >>> a.final, a.would_adjust
    (128, False)
    >>> bulk = [Pool("data", 1.5, 0.01, 32, bulk=True), Pool("meta", 3, 0.01, 32)]
    >>> [(a.name, a.final) for a in autoscale(12, bulk)]   # data: (1200 - 12) / 1.5 = 792
    [('meta', 32), ('data', 1024)]
    """
    _check_int("osd_count", osd_count, 1, 100_000)
    _check_int("target_per_osd", target_per_osd, 1, 10_000)
    _check_float("threshold", threshold, 2.0, 1000.0)   # the module asserts threshold >= 2
    for p in pools:                                     # what Ceph's pool settings allow
        _check_float(f"pool {p.name!r} size", p.size, 1.0, 64.0)       # raw used rate, >= 1
        _check_float(f"pool {p.name!r} capacity_ratio", p.capacity_ratio, 0.0, 1000.0)
        _check_float(f"pool {p.name!r} bias", p.bias, 0.0, 1000.0)      # pg_autoscale_bias 0..1000
        _check_int(f"pool {p.name!r} pg_num", p.pg_num, 1, 1 << 31)
        _check_int(f"pool {p.name!r} pg_num_min", p.pg_num_min, 0, 1 << 31)
        if p.pg_num_max is not None:
            _check_int(f"pool {p.name!r} pg_num_max", p.pg_num_max, 0, 1 << 31)
    pg_left = osd_count * target_per_osd
    pool_count, pool_used = len(pools), 0
    found: list[tuple[Pool, float, float]] = []        # (pool, final_ratio, ideal)

    bulk_pools = []
    for p in pools:                                     # pass 1
        if p.bulk:
            bulk_pools.append(p)
            continue
        used_pg = p.capacity_ratio * pg_left
        pg_left -= int(used_pg)
        pool_used += 1
        found.append((p, p.capacity_ratio, used_pg / p.size * p.bias))
    even_pools = []
    for p in bulk_pools:                                # pass 2
        even_ratio = 1 / (pool_count - pool_used)
        if p.capacity_ratio <= even_ratio:
            even_pools.append(p)
            continue
        pool_used += 1
        used_pg = p.capacity_ratio * pg_left
        pg_left -= int(used_pg)
        found.append((p, p.capacity_ratio, used_pg / p.size * p.bias))
    for p in even_pools:                                # pass 3
        final_ratio = 1 / (pool_count - pool_used)
        found.append((p, final_ratio, final_ratio * pg_left / p.size * p.bias))

    advice = []
    for p, final_ratio, ideal in found:
        final = max(p.pg_num_min, nearest_power_of_two(ideal))
        if p.pg_num_max and p.pg_num_max < final:
            final = p.pg_num_max
        adjust = (final > p.pg_num * threshold or final < p.pg_num / threshold) \
            and 0.0 <= final_ratio <= 1.0
        advice.append(Advice(p.name, ideal, final, adjust))
    return advice
# --8<-- [end:autoscale]


# --8<-- [start:capacity]
class Capacity(NamedTuple):
    raw: float             # bytes of all OSDs
    efficiency: float      # 1/size or k/(k+m)
    at_nearfull: float     # user data when the fullest OSD reaches nearfull
    at_full: float         # user data when writes stop (full ratio)


def usable_capacity(raw_bytes: float, size: int = 3, k: int = 0, m: int = 0,
                    nearfull: float = NEARFULL_RATIO, full: float = FULL_RATIO,
                    reserve_failure_domain: float = 0.0) -> Capacity:
    """Usable space of a replicated (size) or EC (k, m) pool on raw_bytes of OSDs.

    ``reserve_failure_domain`` is the share of raw space in the largest failure
    domain (1/hosts for equal hosts): keep that free so that the data of a
    lost host can be recovered onto the others without hitting the full ratio.
    Assumes a perfectly even distribution; in practice the fullest OSD decides.

    >>> c = usable_capacity(100 * TiB, size=3)
    >>> round(c.at_nearfull / TiB, 2), round(c.at_full / TiB, 2)
    (28.33, 31.67)
    >>> c = usable_capacity(100 * TiB, k=4, m=2)
    >>> c.efficiency, round(c.at_full / TiB, 2)
    (0.6666666666666666, 63.33)
    >>> round(usable_capacity(100 * TiB, size=3, reserve_failure_domain=0.1).at_full / TiB, 2)
    28.5
    """
    _check_float("raw_bytes", raw_bytes, 0, 1e21)
    if k or m:
        _check_int("k", k, 1, 64)
        _check_int("m", m, 1, 64)
        efficiency = k / (k + m)
    else:
        _check_int("size", size, 1, 10)
        efficiency = 1 / size
    _check_float("nearfull", nearfull, 0.0, 1.0)
    _check_float("full", full, nearfull, 1.0)
    _check_float("reserve_failure_domain", reserve_failure_domain, 0.0, 0.99)
    room = raw_bytes * (1 - reserve_failure_domain) * efficiency
    return Capacity(raw_bytes, efficiency, room * nearfull, room * full)
# --8<-- [end:capacity]


# --8<-- [start:quorum]
def mon_quorum(n: int) -> tuple[int, int]:
    """(quorum size, monitors that may fail) for n monitors: floor(n/2)+1 and the rest.

    >>> [mon_quorum(n) for n in (1, 2, 3, 4, 5)]
    [(1, 0), (2, 0), (2, 1), (3, 1), (3, 2)]
    """
    _check_int("n", n, 1, 99)
    quorum = n // 2 + 1
    return quorum, n - quorum
# --8<-- [end:quorum]


# --8<-- [start:durability]
def loss_probability(p: float, k: int = 1, m: int = 2) -> float:
    """P(more than m of the k+m disks holding one PG fail), disks failing independently.

    A replicated pool of size r is k=1, m=r-1 (losing all r copies loses data).
    Binomial: sum over i = m+1 .. k+m of C(k+m, i) p^i (1-p)^(k+m-i).

    >>> f"{loss_probability(0.01, k=1, m=2):.3e}"     # 3 replicas: p^3
    '1.000e-06'
    >>> f"{loss_probability(0.01, k=4, m=2):.4e}"     # EC 4+2: 20 p^3 (1-p)^3 + 15 p^4 (1-p)^2 + ...
    '1.9554e-05'
    >>> loss_probability(1.5)
    Traceback (most recent call last):
    ...
    ValueError: p must be between 0.0 and 1.0 (got 1.5)
    """
    _check_float("p", p, 0.0, 1.0)
    _check_int("k", k, 1, 64)
    _check_int("m", m, 0, 64)
    n = k + m
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(m + 1, n + 1))


def nines(probability_of_loss: float) -> float:
    """Durability as a count of nines: -log10(P(loss)).

    >>> nines(1e-6)
    6.0
    """
    _check_float("probability_of_loss", probability_of_loss, 0.0, 1.0)
    return math.inf if probability_of_loss == 0 else -math.log10(probability_of_loss)
# --8<-- [end:durability]


def _parse_size(text: str) -> float:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": GiB, "T": TiB, "P": 1 << 50}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1] if t and t[-1] in units else ""
    try:
        return float(t[:-1] if unit else t) * units[unit]
    except ValueError:
        raise ValueError(f"size must look like 100T, 3.5P or 512G (got {text!r})") from None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    pg = sub.add_parser("pg", help="pg_num for a pool: OSDs x 100 / size, power of two")
    pg.add_argument("--osds", type=int, required=True)
    pg.add_argument("--size", type=int, default=3, help="replicas, or k+m for EC")
    pg.add_argument("--share", type=float, default=1.0, help="share of the data (0-1)")
    pg.add_argument("--target", type=int, default=MON_TARGET_PG_PER_OSD)
    cap = sub.add_parser("capacity", help="usable space of a pool")
    cap.add_argument("--raw", required=True, help="raw capacity, e.g. 100T (binary units)")
    cap.add_argument("--size", type=int, default=3)
    cap.add_argument("--k", type=int, default=0)
    cap.add_argument("--m", type=int, default=0)
    cap.add_argument("--hosts", type=int, default=0, help="reserve one host's share")
    q = sub.add_parser("quorum", help="monitor quorum size and tolerated failures")
    q.add_argument("n", type=int)
    d = sub.add_parser("durability", help="P(data loss in one PG) from a disk failure probability")
    d.add_argument("--p", type=float, required=True)
    d.add_argument("--k", type=int, default=1)
    d.add_argument("--m", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "pg":
            n = pg_num_for_pool(args.osds, args.size, args.target, args.share)
            raw = args.osds * args.target * args.share / args.size
            print(f"{args.osds} OSDs x {args.target} x {args.share:g} / {args.size} = {raw:.1f}"
                  f" -> pg_num {n} ({n * args.size / args.osds:.1f} PG copies per OSD)")
        elif args.cmd == "capacity":
            if args.hosts < 0 or args.hosts == 1:
                raise ValueError(f"hosts must be 0 (no reserve) or at least 2 (got {args.hosts})")
            reserve = 1 / args.hosts if args.hosts else 0.0
            c = usable_capacity(_parse_size(args.raw), args.size, args.k, args.m,
                                reserve_failure_domain=reserve)
            print(f"raw {c.raw / TiB:.2f} TiB, efficiency {c.efficiency:.3f}: "
                  f"{c.at_nearfull / TiB:.2f} TiB at nearfull ({NEARFULL_RATIO}), "
                  f"{c.at_full / TiB:.2f} TiB at full ({FULL_RATIO})")
        elif args.cmd == "quorum":
            quorum, tolerated = mon_quorum(args.n)
            print(f"{args.n} mons: quorum {quorum}, tolerates {tolerated} failed")
        else:
            loss = loss_probability(args.p, args.k, args.m)
            print(f"k={args.k} m={args.m} p={args.p:g}: P(loss) = {loss:.3e} "
                  f"({nines(loss):.1f} nines)")
    except ValueError as exc:
        print(f"ceph_calc.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
