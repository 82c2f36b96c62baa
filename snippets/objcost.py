"""Back-of-the-envelope arithmetic for storage systems: small objects, replicas, Little's law.

Why many small objects hurt an object store, in numbers:

* space: every object occupies whole allocation units (BlueStore's
  ``bluestore_min_alloc_size`` is 4 KiB since Ceph 16), on every replica;
* time: each object is at least one HTTP request, so N objects cost about
  N x round-trip time / concurrency, however small they are.

And how latency, IOPS and queue depth hang together (Little's law,
L = lambda x W): average latency = outstanding I/Os / IOPS.

>>> space_amplification(1024, min_alloc=4096, replicas=3)     # 1 KiB object, 3 copies
12.0
>>> ec_space_amplification(1024, k=4, m=2, min_alloc=4096)     # each of 6 chunks takes 4 KiB
24.0
>>> request_seconds(1_000_000, rtt_ms=20, concurrency=64)      # a million objects
312.5
>>> latency_ms(iops=20_000, queue_depth=32)
1.6
>>> round(stale_read_probability(n=3, w=1, r=1), 4)            # R + W <= N: stale reads possible
0.6667
>>> stale_read_probability(n=3, w=2, r=2)                      # R + W > N: every read overlaps
0.0
>>> latency_ms(iops=0, queue_depth=32)
Traceback (most recent call last):
...
ValueError: iops must be > 0 (accepted: a positive number), got 0
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be > 0 (accepted: a positive number), got {value}")
    if value > 2**64:
        raise ValueError(f"{name} must be at most 2**64 (a bound of this calculator), got {value}")


def _count(name: str, value: int) -> None:
    """A whole number of bytes, copies or chunks: an int (not bool) above 0, at most 2**64."""
    if isinstance(value, int) and not isinstance(value, bool):
        _positive(name, value)
    else:
        raise ValueError(f"{name} must be a whole number > 0, got {value!r}")


MAX_SHARDS = 256          # a bound of this model: k+m and replica counts stay far below
MAX_KEYS = 10_000_000     # keys counted one by one: about a second


def _whole(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number {low}..{high} (a bound of this model), "
                         f"got {value!r}")


# --8<-- [start:space]
def stored_bytes(size: int, min_alloc: int = 4096, replicas: int = 3) -> int:
    """Bytes on disk: the object rounded up to whole allocation units, on each replica."""
    _count("size", size)
    _count("min_alloc", min_alloc)
    _count("replicas", replicas)
    return math.ceil(size / min_alloc) * min_alloc * replicas


def space_amplification(size: int, min_alloc: int = 4096, replicas: int = 3) -> float:
    """Raw bytes used per byte of data (3.0 for large objects with 3 replicas)."""
    return stored_bytes(size, min_alloc, replicas) / size


def ec_space_amplification(size: int, k: int, m: int, min_alloc: int = 4096) -> float:
    """Erasure coding k+m: the object is cut into k data chunks plus m coding chunks,
    each rounded up to min_alloc; for large objects this tends to (k+m)/k."""
    _count("size", size)
    _count("k", k)
    if not isinstance(m, int) or isinstance(m, bool) or not 0 <= m <= 2**64:
        raise ValueError(f"m must be >= 0 (accepted: 0 to 2**64), got {m!r:.40}")
    chunk = math.ceil(size / k)
    return stored_bytes(chunk, min_alloc, k + m) / size
# --8<-- [end:space]


# --8<-- [start:time]
def request_seconds(objects: int, rtt_ms: float, concurrency: int = 1) -> float:
    """Lower bound of the time to touch N objects, one request each: N x RTT / concurrency."""
    _positive("rtt_ms", rtt_ms)
    _count("concurrency", concurrency)
    if not isinstance(objects, int) or isinstance(objects, bool) or objects < 0:
        raise ValueError(f"objects must be >= 0 (accepted: 0 or more), got {objects!r}")
    if objects > 2**64:
        raise ValueError(f"objects must be at most 2**64 (a bound of this calculator), got {objects}")
    return objects * rtt_ms / 1000 / concurrency
# --8<-- [end:time]


# --8<-- [start:little]
def latency_ms(iops: float, queue_depth: float) -> float:
    """Little's law W = L / lambda: average latency from IOPS and outstanding I/Os."""
    _positive("iops", iops)
    _positive("queue_depth", queue_depth)
    return queue_depth / iops * 1000


def iops_limit(latency_ms_: float, queue_depth: float) -> float:
    """The other way round: at a given latency, queue depth caps IOPS at L / W."""
    _positive("latency_ms", latency_ms_)
    _positive("queue_depth", queue_depth)
    return queue_depth / (latency_ms_ / 1000)
# --8<-- [end:little]


# --8<-- [start:durability]
def loss_probability(shards: int, tolerated: int, p: float) -> float:
    """P(more than `tolerated` of `shards` independent shards fail), each with probability p.

    3 replicas: shards=3, tolerated=2.  EC k+m: shards=k+m, tolerated=m.
    A simple binomial model: independent failures inside one repair window.
    """
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
        raise ValueError(f"p must be a probability (accepted 0..1), got {p!r}")
    _whole("shards", shards, 1, MAX_SHARDS)
    _whole("tolerated", tolerated, 0, MAX_SHARDS)
    if not 0 <= tolerated < shards:
        raise ValueError(f"tolerated must be in 0..shards-1 (accepted 0..{shards - 1}), got {tolerated}")
    return sum(math.comb(shards, i) * p**i * (1 - p) ** (shards - i)
               for i in range(tolerated + 1, shards + 1))
# --8<-- [end:durability]


# --8<-- [start:quorum]
def stale_read_probability(n: int, w: int, r: int) -> float:
    """A write reaches W of N replicas, a read asks R of them, both chosen at random:
    P(the read misses every replica holding the new value) = C(N-W, R) / C(N, R)."""
    _whole("n", n, 1, MAX_SHARDS)
    _whole("w", w, 1, MAX_SHARDS)
    _whole("r", r, 1, MAX_SHARDS)
    if not (1 <= w <= n and 1 <= r <= n):
        raise ValueError(f"need 1 <= w, r <= n (accepted 1..{n}), got w={w} r={r}")
    return math.comb(n - w, r) / math.comb(n, r)


def moved_fraction_mod_n(n: int, keys: int = 100_000) -> float:
    """Fraction of keys whose placement `hash mod N` changes when N grows to N+1.

    Keys stand for hash values 0..keys-1; the exact share is N/(N+1) when keys
    is a multiple of N(N+1). Consistent hashing and straw2 move only about 1/(N+1).
    """
    _whole("n", n, 1, 2**32)
    _whole("keys", keys, 1, MAX_KEYS)
    return sum(1 for k in range(keys) if k % n != k % (n + 1)) / keys
# --8<-- [end:quorum]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Small-object and Little's-law arithmetic.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("space", help="space amplification of one object")
    sp.add_argument("size", type=int)
    sp.add_argument("--min-alloc", type=int, default=4096)
    sp.add_argument("--replicas", type=int, default=3)
    tp = sub.add_parser("time", help="time to touch N objects")
    tp.add_argument("objects", type=int)
    tp.add_argument("--rtt-ms", type=float, default=1.0)
    tp.add_argument("--concurrency", type=int, default=1)
    lp = sub.add_parser("latency", help="Little's law: latency from IOPS and queue depth")
    lp.add_argument("--iops", type=float, required=True)
    lp.add_argument("--qd", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "space":
            amp = space_amplification(args.size, args.min_alloc, args.replicas)
            print(f"{stored_bytes(args.size, args.min_alloc, args.replicas)} bytes stored, "
                  f"amplification {amp:g}x")
        elif args.cmd == "time":
            print(f"{request_seconds(args.objects, args.rtt_ms, args.concurrency):g} s")
        else:
            print(f"{latency_ms(args.iops, args.qd):g} ms")
    except ValueError as exc:
        print(f"objcost.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
