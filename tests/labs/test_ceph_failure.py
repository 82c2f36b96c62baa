"""Lab for docs/ceph/ha.md: an OSD dies, PGs go degraded, recovery makes them clean.

On the shared one-node cluster (size 3, min_size 2, failure domain osd):

1. ``ceph osd set noout`` raises the OSDMAP_FLAGS health warning; unset clears it;
2. SIGKILL of one ceph-osd PID: the monitor marks it ``down`` (its peers see
   the connection refused and report it), every PG becomes
   ``active+undersized``, the PGs that held objects also ``degraded``;
   reads still work because 2 >= min_size copies remain;
3. raising the pool's min_size to 3 while one copy is missing makes its PGs
   stop being active (``peered``): that is what min_size guards;
4. ``ceph osd out``, restart the daemon (memstore lost its contents with the
   process, like a replaced disk), ``ceph osd in``: recovery copies the
   objects back and every PG returns to ``active+clean``.
"""
from __future__ import annotations


from ceph_fixtures import CephCluster
from labkit import wait_for


POOL = "labfail"
VICTIM = 2


def _health_checks(c: CephCluster) -> set[str]:
    return set(c.ceph_json("health")["checks"])


def _pool_pg_states(c: CephCluster, pool_id: int) -> list[str]:
    stats = c.ceph_json("pg", "ls-by-pool", POOL)
    stats = stats["pg_stats"] if isinstance(stats, dict) else stats
    return [s["state"] for s in stats if s["pgid"].startswith(f"{pool_id}.")]


def test_noout_flag_raises_a_health_warning(ceph_cluster: CephCluster):
    c = ceph_cluster
    c.ceph("osd", "set", "noout")
    try:
        wait_for(lambda: "OSDMAP_FLAGS" in _health_checks(c), timeout=15, what="flag warning")
        assert "noout" in c.ceph_json("osd", "dump")["flags"]
    finally:
        c.ceph("osd", "unset", "noout")
    wait_for(lambda: "OSDMAP_FLAGS" not in _health_checks(c), timeout=15, what="flag warning gone")


def test_killed_osd_degrades_then_recovers(ceph_cluster: CephCluster):
    c = ceph_cluster
    c.ceph("osd", "pool", "create", POOL, "16", "16", "replicated")
    c.ceph("osd", "pool", "application", "enable", POOL, "rados")
    pool_id = next(p["pool_id"] for p in c.ceph_json("osd", "pool", "ls", "detail")
                   if p["pool_name"] == POOL)
    try:
        for i in range(24):
            c.rados("-p", POOL, "put", f"obj-{i}", "-", input=f"payload {i}\n")
        c.wait_clean(timeout=60)

        pid = c.kill_osd(VICTIM)
        assert pid > 0 and not c.osd_running(VICTIM)
        wait_for(lambda: c.osd_counts() == (3, 2, 3), timeout=60, what="osd.2 marked down")
        tree = {n["name"]: n for n in c.ceph_json("osd", "tree")["nodes"]}
        assert tree[f"osd.{VICTIM}"]["status"] == "down"

        def degraded() -> bool:
            states = _pool_pg_states(c, pool_id)
            return bool(states) and all("undersized" in s and s.startswith("active")
                                        for s in states) and any("degraded" in s for s in states)
        wait_for(degraded, timeout=60, interval=0.5, what="PGs active+undersized+degraded")
        # the mgr's summary and health follow the PG states a moment later
        wait_for(lambda: c.ceph_json("-s")["pgmap"].get("degraded_objects", 0) > 0,
                 timeout=30, interval=0.5, what="degraded objects counted in `ceph -s`")
        wait_for(lambda: "PG_DEGRADED" in _health_checks(c), timeout=30, interval=0.5,
                 what="PG_DEGRADED health check")
        # still readable with one copy of three gone
        assert c.rados("-p", POOL, "get", "obj-7", "-") == "payload 7\n"

        # min_size 3 with only 2 copies: the PGs stay peered but stop being active
        c.ceph("osd", "pool", "set", POOL, "min_size", "3")
        wait_for(lambda: all(not s.startswith("active") and "peered" in s
                             for s in _pool_pg_states(c, pool_id)),
                 timeout=60, interval=0.5, what="PGs inactive (peered) under min_size 3")
        c.ceph("osd", "pool", "set", POOL, "min_size", "2")

        c.ceph("osd", "out", str(VICTIM))
        assert c.osd_counts() == (3, 2, 2)
        c.start_osd(VICTIM)
        wait_for(lambda: c.osd_counts()[1] == 3, timeout=60, what="osd.2 back up")
        c.ceph("osd", "in", str(VICTIM))
        c.wait_clean(timeout=120)
        assert c.osd_counts() == (3, 3, 3)
        wait_for(lambda: "PG_DEGRADED" not in _health_checks(c), timeout=30, interval=0.5,
                 what="PG_DEGRADED cleared")
        assert sorted(c.rados("-p", POOL, "ls").split()) == sorted(f"obj-{i}" for i in range(24))
    finally:
        if not c.osd_running(VICTIM):
            c.start_osd(VICTIM)
        c.ceph("osd", "in", str(VICTIM), check=False)
        c.ceph("osd", "pool", "delete", POOL, POOL, "--yes-i-really-really-mean-it", check=False)
        c.wait_osds_up(3, timeout=60)
