"""Simulations on top of snippets/crush.py: data movement and balance.

* ``moved_fraction``: add one OSD to a cluster and count how many PG replicas
  change OSD, with CRUSH (straw2) and with the naive ``hash mod N``.  CRUSH
  moves about the new OSD's share of the weight (~1/(N+1) for N equal OSDs);
  ``mod N`` -> ``mod N+1`` moves about N/(N+1) of everything.
* ``distribution``: PGs per OSD against the share its weight promises, as the
  largest over- and under-fill and a chi-square statistic.

>>> hosts = [[1.0, 1.0]] * 4                          # 4 hosts x 2 OSDs of weight 1
>>> m = cluster_map(hosts)
>>> placements(m, 1024, size=1)[0]                     # PG 0 -> osd.7
[7]
>>> round(moved_fraction(m, cluster_map(hosts + [[1.0]]), 1024, 1), 3)   # new host: ideal 1/9
0.106
>>> round(moved_fraction(m, cluster_map(hosts[:3] + [[1.0] * 3]), 1024, 1), 3)  # into host 4: 1/6
0.174
>>> round(mod_n_moved_fraction(8, 1024), 3)           # hash mod 8 -> mod 9: 8/9 = 0.889
0.883
>>> d = distribution(m, 1024, 1)
>>> round(d["max_over"], 3), round(d["chi2"], 1), d["dof"]
(0.148, 5.4, 7)
>>> cluster_map([])
Traceback (most recent call last):
...
ValueError: need at least one host with at least one OSD (got 0 hosts)
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crush  # noqa: E402  (sibling snippet)


def cluster_map(hosts: Sequence[Sequence[float]]) -> crush.CrushMap:
    """A root of straw2 hosts; hosts[i] lists the weights of host i's OSDs.

    OSD ids are numbered host by host, and a host's bucket id is -2 - i, so
    appending an OSD to the last host or a new host keeps every other id."""
    if not hosts or any(not h for h in hosts):
        raise ValueError(f"need at least one host with at least one OSD (got {len(hosts)} hosts)")
    # Ceph 16's tunables (a map without tunable lines gets the legacy ones)
    lines = [crush.EXAMPLE_MAP.split("device 0")[0].strip(), "type 0 osd", "type 1 host", "type 2 root"]
    buckets, osd = [], 0
    for i, weights in enumerate(hosts):
        items = []
        for w in weights:
            if not 0 <= w < 65536:
                raise ValueError(f"OSD weight {w} out of range (0 to 65535)")
            lines.append(f"device {osd} osd.{osd}")
            items.append(f"item osd.{osd} weight {w:.5f}")
            osd += 1
        buckets.append(f"host h{i} {{ id {-2 - i}\nalg straw2\nhash 0\n" + "\n".join(items) + "\n}")
    root = "root default { id -1\nalg straw2\nhash 0\n" + "\n".join(
        f"item h{i}" for i in range(len(hosts))) + "\n}"
    rule = ("rule r { id 0\ntype replicated\nmin_size 1\nmax_size 10\n"
            "step take default\nstep chooseleaf firstn 0 type host\nstep emit\n}")
    return crush.CrushMap.parse("\n".join(lines + buckets + [root, rule]))


def placements(m: crush.CrushMap, n_pgs: int, size: int) -> List[List[int]]:
    """OSDs of PGs 0..n_pgs-1 (x = PG number, as crushtool --test does)."""
    w = m.default_weights()
    return [m.do_rule(0, x, size, w) for x in range(n_pgs)]


# --8<-- [start:movement]
def moved_fraction(old: crush.CrushMap, new: crush.CrushMap, n_pgs: int, size: int) -> float:
    """Share of PG replicas that sit on another OSD after the change."""
    moved = total = 0
    for a, b in zip(placements(old, n_pgs, size), placements(new, n_pgs, size)):
        total += len(a)
        moved += len(set(a) - set(b))        # replicas that must be copied somewhere new
    return moved / total


def mod_n_moved_fraction(n_osds: int, n_pgs: int) -> float:
    """The same count for 'OSD = PG mod N' when N becomes N + 1."""
    return sum(1 for x in range(n_pgs) if x % n_osds != x % (n_osds + 1)) / n_pgs
# --8<-- [end:movement]


# --8<-- [start:uniformity]
def distribution(m: crush.CrushMap, n_pgs: int, size: int) -> Dict[str, float]:
    """PG replicas per OSD against the weight share: max over/under-fill, chi-square."""
    weights = {}
    for b in m.buckets.values():
        for item, w in zip(b.items, b.weights):
            if item >= 0:
                weights[item] = w
    count = {osd: 0 for osd in weights}
    for osds in placements(m, n_pgs, size):
        for o in osds:
            count[o] += 1
    total_w = sum(weights.values())
    placed = sum(count.values())
    expected = {o: placed * w / total_w for o, w in weights.items() if w}
    ratios = [count[o] / e for o, e in expected.items()]
    chi2 = sum((count[o] - e) ** 2 / e for o, e in expected.items())
    return {"max_over": max(ratios) - 1, "max_under": 1 - min(ratios),
            "chi2": chi2, "dof": len(expected) - 1}
# --8<-- [end:uniformity]


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="CRUSH vs hash mod N when one OSD is added; PG balance")
    p.add_argument("--hosts", type=int, default=4)
    p.add_argument("--osds-per-host", type=int, default=2)
    p.add_argument("--pgs", type=int, default=1024)
    p.add_argument("--size", type=int, default=3, help="replicas per PG")
    a = p.parse_args(argv)
    try:
        if not 1 <= a.pgs <= 1_000_000:
            raise ValueError(f"--pgs {a.pgs} out of range (1 to 1000000)")
        if not 1 <= a.size <= 10:
            raise ValueError(f"--size {a.size} out of range (1 to 10)")
        hosts = [[1.0] * a.osds_per_host for _ in range(a.hosts)]
        old = cluster_map(hosts)
        new = cluster_map(hosts[:-1] + [hosts[-1] + [1.0]])
        n = a.hosts * a.osds_per_host
        print(f"{n} OSDs -> {n + 1}: CRUSH moved {moved_fraction(old, new, a.pgs, a.size):.3f} "
              f"of PG replicas (ideal 1/{n + 1} = {1 / (n + 1):.3f}); "
              f"hash mod N moved {mod_n_moved_fraction(n, a.pgs):.3f}")
        d = distribution(old, a.pgs, a.size)
        print(f"balance: max over-fill {d['max_over']:.1%}, max under-fill {d['max_under']:.1%}, "
              f"chi-square {d['chi2']:.1f} on {d['dof']} degrees of freedom")
    except ValueError as e:
        print(f"crush_sim.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
