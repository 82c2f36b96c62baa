"""Simulations on top of snippets/crush.py: data movement and balance.

* ``moved_fraction``: add one OSD to a cluster and count how many PG replicas
  change OSD, with CRUSH (straw2) and with the naive ``hash mod N``.  CRUSH
  moves about the new OSD's share of the weight (~1/(N+1) for N equal OSDs);
  ``mod N`` -> ``mod N+1`` moves about N/(N+1) of everything.
* ``distribution``: PGs per OSD against the share its weight promises, as the
  largest over- and under-fill and a chi-square statistic.
* ``what_moves`` (and the script): one change -- an OSD or a host added, an
  OSD removed from the map or marked out -- and which PG replicas move; the
  CRUSH page runs it in the browser (Pyodide) for 1,024 PGs.

    python snippets/crush_sim.py --osds "2 2 2 2" --change add --target 3 --size 3 --show-pgs

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
import sys
from collections import Counter
from typing import Any
from collections.abc import Sequence

import crush
import crush_text


# Bounds of this tool: what the pure-Python mapper places in a few seconds
# (64 hosts x 32 OSDs, 819 PGs of 10 replicas: 1 to 5 s on a busy 2-core machine).
MAX_HOSTS = 64
MAX_OSDS_PER_HOST = 32
MAX_SIZE = 10                          # a replicated pool's size: 1 to 10 in Ceph
MAX_PG_REPLICAS = 8192                 # PGs x size per run: 2730 PGs of 3, 819 of 10

whole = crush.whole


def numbered(osds_per_host: Sequence[int]) -> list[list[int]]:
    """OSD ids host by host: [2, 1] -> [[0, 1], [2]]."""
    ids, n = [], 0
    for k in osds_per_host:
        whole("OSDs per host", k, 0, MAX_OSDS_PER_HOST + 1)     # + 1: a change may add one
        ids.append(list(range(n, n + k)))
        n += k
    return ids


def cluster_map(hosts: Sequence[Sequence[float]],
                ids: Sequence[Sequence[int]] | None = None) -> crush.CrushMap:
    """A root of straw2 hosts; hosts[i] lists the weights of host i's OSDs.

    OSD ids are numbered host by host unless ids[i] lists host i's, and a
    host's bucket id is -2 - i, so appending an OSD to the last host or a new
    host keeps every other id.  With ids, a host may be empty (a host whose
    last OSD was removed keeps its bucket, of weight 0)."""
    if not any(hosts) or (ids is None and not all(hosts)):
        raise ValueError(f"need at least one host with at least one OSD (got {len(hosts)} hosts)")
    whole("hosts", len(hosts), 1, MAX_HOSTS + 1)
    if ids is None:
        ids = numbered([len(weights) for weights in hosts])
    # Ceph 16's tunables (a map without tunable lines gets the legacy ones)
    lines = [crush.EXAMPLE_MAP.split("device 0")[0].strip(), "type 0 osd", "type 1 host", "type 2 root"]
    buckets = []
    for i, (weights, osds) in enumerate(zip(hosts, ids)):
        items = []
        whole("OSDs per host", len(weights), 0, MAX_OSDS_PER_HOST + 1)
        for w, osd in zip(weights, osds):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < 65536:
                raise ValueError(f"OSD weight {w!r} out of range (0 to 65535)")
            whole("OSD id", osd, 0, crush_text.MAX_DEVICE_ID)
            lines.append(f"device {osd} osd.{osd}")
            items.append(f"item osd.{osd} weight {w:.5f}")
        buckets.append(f"host h{i} {{ id {-2 - i}\nalg straw2\nhash 0\n" + "\n".join(items) + "\n}")
    root = "root default { id -1\nalg straw2\nhash 0\n" + "\n".join(
        f"item h{i}" for i in range(len(hosts))) + "\n}"
    rule = ("rule r { id 0\ntype replicated\nmin_size 1\nmax_size 10\n"
            "step take default\nstep chooseleaf firstn 0 type host\nstep emit\n}")
    return crush_text.parse("\n".join(lines + buckets + [root, rule]))


def placements(m: crush.CrushMap, n_pgs: int, size: int,
               out: Sequence[int] = ()) -> list[list[int]]:
    """OSDs of PGs 0..n_pgs-1 (x = PG number, as crushtool --test does);
    the OSDs in ``out`` are marked out (reweight 0, like ``ceph osd out``)."""
    check_pgs(n_pgs, size)
    w = m.default_weights()
    for osd in out:
        w[whole("out OSD", osd, 0, len(w) - 1)] = 0
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
    whole("OSDs", n_osds, 1, 1 << 20)
    whole("--pgs", n_pgs, 1, MAX_PG_REPLICAS)
    return sum(1 for x in range(n_pgs) if x % n_osds != x % (n_osds + 1)) / n_pgs
# --8<-- [end:movement]


def distribution(m: crush.CrushMap, n_pgs: int, size: int) -> dict[str, float]:
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


CHANGES = ("add", "add-host", "remove", "out")


def what_moves(osds_per_host: Sequence[int], change: str, target: int = 0,
               n_pgs: int = 1024, size: int = 3) -> dict[str, Any]:
    """Place PGs 0..n_pgs-1 before and after one change and count what moves.

    The cluster has weight-1 OSDs numbered host by host.  change is "add" (a
    new OSD in host ``target``), "add-host" (a new host with one OSD),
    "remove" (osd.``target`` leaves the CRUSH map: ``ceph osd crush remove``)
    or "out" (``ceph osd out``: reweight 0, the OSD stays in the map).

    >>> r = what_moves([2, 2, 2, 2], "add-host", size=1)   # 8 OSDs -> 9
    >>> r["moved"], r["replicas"], round(r["share"], 3)    # ideal: 1/9 of 1024
    (109, 1024, 0.111)
    >>> what_moves([2, 2], "remove", 4)
    Traceback (most recent call last):
    ...
    ValueError: osd.4 does not exist (OSDs 0 to 3)
    """
    hosts = list(osds_per_host)
    for n in hosts:
        whole("OSDs per host", n, 0, MAX_OSDS_PER_HOST)
    if not 1 <= len(hosts) <= MAX_HOSTS or not any(hosts):
        raise ValueError(f"need at least one host with at least one OSD, at most {MAX_HOSTS} hosts "
                         f"(got {len(hosts)} hosts, {sum(hosts)} OSDs)")
    if change not in CHANGES:
        raise ValueError(f"change {change!r} unknown (one of {', '.join(CHANGES)})")
    if isinstance(target, bool) or not isinstance(target, int):
        raise ValueError(f"target {target!r} is not a whole number (a host number or an OSD id)")
    check_pgs(n_pgs, size)
    ids, n = numbered(hosts), sum(hosts)
    new_ids = [list(h) for h in ids]
    out: list[int] = []
    if change == "add":
        if not 0 <= target < len(hosts):
            raise ValueError(f"host {target} does not exist (hosts 0 to {len(hosts) - 1})")
        new_ids[target].append(n)
        what = f"osd.{n} added to host h{target}"
    elif change == "add-host":
        new_ids.append([n])
        what = f"host h{len(hosts)} with osd.{n} added"
    else:
        if not 0 <= target < n:
            raise ValueError(f"osd.{target} does not exist (OSDs 0 to {n - 1})")
        if change == "remove":
            for h in new_ids:
                if target in h:
                    h.remove(target)
            what = f"osd.{target} removed from the CRUSH map"
        else:
            out.append(target)
            what = f"osd.{target} marked out"
    if not any(new_ids):
        raise ValueError("the change leaves no OSD in the map")
    old = cluster_map([[1.0] * len(h) for h in ids], ids)
    new = cluster_map([[1.0] * len(h) for h in new_ids], new_ids)
    before, after = placements(old, n_pgs, size), placements(new, n_pgs, size, out)
    per_pg = [len(set(a) - set(b)) for a, b in zip(before, after)]
    n_after = n + 1 if change.startswith("add") else n - 1
    return {"what": what, "osds": n, "osds_after": n_after, "hosts": ids, "new_hosts": new_ids,
            "before": before, "after": after, "per_pg": per_pg, "moved": sum(per_pg),
            "replicas": sum(len(a) for a in before),
            "share": 1 / max(n, n_after),          # the changed OSD's share of the weight
            "mod_n": mod_n_moved_fraction(min(n, n_after), n_pgs) if n_after else 1.0}


def check_pgs(n_pgs: int, size: int) -> None:
    """The PG count and the replicas per PG of a run, within what runs in a few seconds."""
    whole("--pgs", n_pgs, 1, MAX_PG_REPLICAS)
    whole("--size", size, 1, MAX_SIZE)
    if n_pgs * size > MAX_PG_REPLICAS:
        raise ValueError(f"--pgs {n_pgs} of --size {size} make {n_pgs * size} PG replicas; this tool "
                         f"places at most {MAX_PG_REPLICAS} per run (a few seconds of pure Python)")


def report(r: dict[str, Any], show_pgs: bool = False) -> str:
    """what_moves() as text: the totals, PG replicas per OSD, which PGs move."""
    n, n_after = r["osds"], r["osds_after"]
    lines = [f"{len(r['hosts'])} hosts, {n} OSDs of weight 1; {r['what']}",
             f"{len(r['before'])} PGs: {r['moved']} of {r['replicas']} PG replicas move "
             f"({r['moved'] / r['replicas']:.1%}); the changed OSD's share of the weight "
             f"is 1/{max(n, n_after)} = {r['share']:.1%}",
             f"hash mod N ({n} -> {n_after} OSDs) would move {r['mod_n']:.1%} of the PGs",
             f"PGs with a replica that moves: {sum(1 for k in r['per_pg'] if k)} of {len(r['before'])}",
             "OSD      host  before  after"]
    count_b = Counter(o for pg in r["before"] for o in pg)
    count_a = Counter(o for pg in r["after"] for o in pg)
    for i, host in enumerate(r["new_hosts"]):
        for o in sorted(set(host) | set(r["hosts"][i] if i < len(r["hosts"]) else [])):
            b = str(count_b[o]) if o < n else "-"       # a new OSD has no "before"
            a = str(count_a[o]) if o in host else "-"   # a removed one no "after"
            lines.append(f"osd.{o:<4} h{i:<4}{b:>6}{a:>7}")
    if show_pgs:
        lines.append("which PGs move, 32 per row (. stays, 1-9: replicas that move):")
        marks = "".join(str(min(k, 9)) if k else "." for k in r["per_pg"])
        lines += [f"{i:5} {marks[i:i + 32]}" for i in range(0, len(marks), 32)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Which PG replicas move when one OSD is added or "
                                            "removed: CRUSH (straw2) vs hash mod N")
    p.add_argument("--hosts", type=int, default=4)
    p.add_argument("--osds-per-host", type=int, default=2)
    p.add_argument("--osds", help="OSDs of each host, e.g. '2 2 3' (instead of the two above)")
    p.add_argument("--change", choices=CHANGES, default="add",
                   help="add an OSD to host --target (default: the last host), add a host "
                        "with one OSD, remove osd.--target from the map, or mark it out")
    p.add_argument("--target", type=int, default=None, help="host number or OSD id")
    p.add_argument("--pgs", type=int, default=1024)
    p.add_argument("--size", type=int, default=3, help="replicas per PG")
    p.add_argument("--show-pgs", action="store_true", help="draw which PGs move (at most 4096)")
    a = p.parse_args(argv)
    try:
        if a.osds is None:
            if not 1 <= a.hosts <= MAX_HOSTS:     # before the list is built: --hosts 2**31
                raise ValueError(f"need at least one host with at least one OSD, at most {MAX_HOSTS} "
                                 f"hosts (got {a.hosts} hosts)")
            hosts = [a.osds_per_host] * a.hosts
        else:
            try:
                hosts = [int(v) for v in a.osds.replace(",", " ").split()]
            except ValueError:
                raise ValueError(f"--osds {a.osds!r}: expected whole numbers of OSDs per host, "
                                 "e.g. '2 2 3'") from None
        if a.show_pgs and a.pgs > 4096:
            raise ValueError(f"--show-pgs draws at most 4096 PGs (got --pgs {a.pgs})")
        target = a.target if a.target is not None else len(hosts) - 1
        r = what_moves(hosts, a.change, target, a.pgs, a.size)
        print(report(r, a.show_pgs))
    except ValueError as e:
        print(f"crush_sim.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
