"""Lab for docs/ceph/operations.md: add an OSD, watch CRUSH move PGs, take it out again.

On the shared one-node cluster (3 OSDs, failure domain osd, size 3), with the
mgr balancer switched off so that only CRUSH decides placement:

* ``ceph osd set norebalance`` raises OSDMAP_FLAGS;
* a fourth OSD is added the way ceph-volume does it (``ceph osd new UUID``,
  ``ceph-osd --mkfs``, start): it comes up and in;
* every PG whose up set changed now holds osd.3 in place of exactly one old
  OSD: straw2 moves data only *to* the new OSD, never between old ones; and
  about 3/4 of the PGs change (each PG picks 3 of 4 equal OSDs), checked with
  a generous binomial tolerance;
* after ``ceph osd out 3`` every PG is back on the OSDs it had before (the
  order may differ: CRUSH still draws osd.3 and retries); after stopping it by
  PID and ``ceph osd purge`` the mapping is exactly the old one, order included.
"""
from __future__ import annotations

import math
import re
import subprocess


from ceph_fixtures import CephCluster
from labkit import wait_for


POOL = "labadd"


def _up_sets(c: CephCluster, pool_id: int) -> dict[str, tuple[int, ...]]:
    """Each PG's up set as the current osdmap computes it (osdmaptool on `ceph osd getmap`)."""
    osdmap = c.root / "osdmap.add"
    c.ceph("osd", "getmap", "-o", str(osdmap))
    out = subprocess.run(["osdmaptool", str(osdmap), "--test-map-pgs-dump-all",
                          "--pool", str(pool_id)], capture_output=True, text=True, check=True).stdout
    # "2.1f raw ([1,2,0], p1) up ([1,2,0], p1) acting ([1,0,2], p1)": raw is CRUSH alone,
    # up adds upmap exceptions (none here, the balancer is off), acting adds pg_temp
    sets = {}
    for m in re.finditer(r"^(\S+) raw \(\[[\d,]*\], p-?\d+\) up \(\[([\d,]*)\]", out, re.M):
        sets[m.group(1)] = tuple(int(x) for x in m.group(2).split(",") if x)
    return sets


def test_add_osd_moves_pgs_only_to_the_new_osd(ceph_cluster: CephCluster):
    c = ceph_cluster
    c.ceph("balancer", "off")
    c.ceph("osd", "pool", "create", POOL, "64", "64", "replicated")
    c.ceph("osd", "pool", "application", "enable", POOL, "rados")
    pool_id = next(p["pool_id"] for p in c.ceph_json("osd", "pool", "ls", "detail")
                   if p["pool_name"] == POOL)
    new_id = None
    try:
        for i in range(20):
            c.rados("-p", POOL, "put", f"obj-{i}", "-", input=f"{i}\n")
        c.wait_clean(timeout=60)
        before = _up_sets(c, pool_id)

        c.ceph("osd", "set", "norebalance")
        wait_for(lambda: "OSDMAP_FLAGS" in c.ceph_json("health")["checks"], timeout=15,
                 what="norebalance flag warning")
        new_id = c.add_osd()
        assert new_id == 3
        wait_for(lambda: c.osd_counts() == (4, 4, 4), timeout=60, what="osd.3 up and in")
        after = _up_sets(c, pool_id)
        assert len(after) == len(before) == 64

        changed = [pg for pg in before if after[pg] != before[pg]]
        for pg in changed:
            gained = set(after[pg]) - set(before[pg])
            lost = set(before[pg]) - set(after[pg])
            assert gained == {3} and len(lost) == 1, (pg, before[pg], after[pg])
        # each PG picks 3 of 4 equal OSDs: P(osd.3 is picked) = 3/4
        n, share = len(before), 3 / 4
        sigma = math.sqrt(n * share * (1 - share))
        assert abs(len(changed) - n * share) < 4 * sigma, (len(changed), n)

        c.ceph("osd", "unset", "norebalance")
        c.wait_clean(timeout=90)

        c.ceph("osd", "out", str(new_id))
        # out = reweight 0: CRUSH still draws osd.3, rejects it and retries, so each PG is
        # back on its old three OSDs, though sometimes in another order (another primary)
        out_sets = _up_sets(c, pool_id)
        assert {pg: sorted(s) for pg, s in out_sets.items()} == \
            {pg: sorted(s) for pg, s in before.items()}
        c.wait_clean(timeout=90)
        c.kill_osd(new_id)
        c.ceph("osd", "down", str(new_id))
        c.ceph("osd", "purge", str(new_id), "--yes-i-really-mean-it")
        del c.procs[f"osd.{new_id}"]
        new_id = None
        # purge removes osd.3 from the CRUSH map: exactly the old mapping, order included
        assert _up_sets(c, pool_id) == before
        c.wait_clean(timeout=90)
    finally:
        c.ceph("osd", "unset", "norebalance", check=False)
        if new_id is not None:
            c.kill_osd(new_id)
            c.ceph("osd", "down", str(new_id), check=False)
            wait_for(lambda: c.tool("ceph", "osd", "purge", str(new_id), "--yes-i-really-mean-it",
                                    check=False).returncode == 0, timeout=30, interval=1,
                     what="osd.3 purged")
            del c.procs[f"osd.{new_id}"]
        c.ceph("osd", "pool", "delete", POOL, POOL, "--yes-i-really-really-mean-it", check=False)
        c.ceph("balancer", "on", check=False)
    assert c.osd_counts() == (3, 3, 3)
