"""Labs for docs/ceph/: a real Ceph 16.2 cluster (1 mon, 1 mgr, 3 memstore OSDs).

What these tests prove, on the cluster started by ceph_fixtures.ceph_cluster:

* the cluster is serving (quorum, mgr available, 3 OSDs up and in, every PG
  active+clean) in under two minutes;
* the defaults the pages quote are the defaults compiled into 16.2.15
  (``ceph-conf --show-config-value`` without a config file) and the full
  ratios the monitor actually uses (``ceph osd dump``);
* ``ceph osd tree`` shows one root, one host, three OSDs of class hdd;
* a replicated pool gets size 3 / min_size 2; an EC pool with k=2 m=1 gets
  size k+m = 3, min_size k = 2 and a CRUSH rule with ``choose indep``;
* ``rados put``/``get`` returns the same bytes, on both pools;
* ``ceph osd map`` agrees with osdmaptool on the cluster's own osdmap and with
  snippets/ceph_placement.py on the cluster's own decompiled CRUSH map (pg_num
  32 and 12); for names outside the BMP (emoji) ``ceph osd map`` of 16.2.15
  hashes mangled bytes, so there the object is found with ``rados --pgid ls``
  in the PG that osdmaptool and ceph_placement.py compute;
* RBD: snapshot, protect, clone (v1 needs protect; v2 after
  ``set-require-min-compat-client mimic`` does not), unprotect refused while a
  child exists, flatten, then unprotect works.
"""
from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ceph_fixtures import START_BUDGET_S, CephCluster
from labkit import wait_for


ROOT = Path(__file__).resolve().parents[2]
PLACEMENT = ROOT / "snippets" / "ceph_placement.py"


def _delete_pool(c: CephCluster, name: str) -> None:
    c.ceph("osd", "pool", "delete", name, name, "--yes-i-really-really-mean-it", check=False)


@pytest.fixture(scope="module")
def rep_pool(ceph_cluster: CephCluster):
    c = ceph_cluster
    c.ceph("osd", "pool", "create", "labrep", "32", "32", "replicated")
    c.ceph("osd", "pool", "application", "enable", "labrep", "rados")
    yield "labrep"
    _delete_pool(c, "labrep")


@pytest.fixture(scope="module")
def ec_pool(ceph_cluster: CephCluster):
    c = ceph_cluster
    c.ceph("osd", "erasure-code-profile", "set", "lab-k2m1", "k=2", "m=1",
           "crush-failure-domain=osd")
    c.ceph("osd", "pool", "create", "labec", "16", "16", "erasure", "lab-k2m1")
    c.ceph("osd", "pool", "application", "enable", "labec", "rados")
    yield "labec"
    _delete_pool(c, "labec")
    c.ceph("osd", "crush", "rule", "rm", "labec", check=False)
    c.ceph("osd", "erasure-code-profile", "rm", "lab-k2m1", check=False)


def test_cluster_serves_within_two_minutes(ceph_cluster: CephCluster):
    c = ceph_cluster
    assert c.startup_seconds is not None and c.startup_seconds < START_BUDGET_S, c.startup_seconds
    print(f"cluster start-up: {c.startup_seconds:.1f} s (budget {START_BUDGET_S:.0f} s)")
    status = c.ceph_json("-s")
    assert status["quorum_names"] == ["a"]
    assert status["health"]["status"] in ("HEALTH_OK", "HEALTH_WARN")
    assert status["osdmap"]["num_up_osds"] == status["osdmap"]["num_in_osds"] == 3
    assert status["mgrmap"]["available"] is True
    assert "ceph version 16.2." in c.ceph("version")


# Defaults the pages quote, with their Ceph 16.2 option names.  ceph-conf with an
# empty config file prints the compiled-in default of the installed release.
DEFAULTS_16_2 = {
    "osd_pool_default_size": "3",
    "osd_pool_default_min_size": "0",           # 0 = size - size/2, i.e. 2 for size 3
    "osd_pool_default_pg_num": "32",
    "osd_pool_default_pg_autoscale_mode": "on",
    "mon_target_pg_per_osd": "100",
    "mon_max_pg_per_osd": "250",
    "mon_osd_nearfull_ratio": "0.850000",
    "mon_osd_backfillfull_ratio": "0.900000",
    "mon_osd_full_ratio": "0.950000",
    "mon_osd_down_out_interval": "600",
    "osd_heartbeat_grace": "20",
    "osd_scrub_min_interval": "86400.000000",
    "osd_scrub_max_interval": "604800.000000",
    "osd_deep_scrub_interval": "604800.000000",
    "osd_memory_target": "4294967296",
    "bluestore_csum_type": "crc32c",
    "bluestore_min_alloc_size_hdd": "4096",
    "bluestore_min_alloc_size_ssd": "4096",
    "osd_objectstore": "bluestore",
    "osd_crush_chooseleaf_type": "1",           # host
    "osd_op_queue": "wpq",
    "mon_osd_min_down_reporters": "2",
    "mon_osd_reporter_subtree_level": "host",
    "rgw_multipart_min_part_size": "5242880",
    "rbd_default_order": "22",
}


def test_release_defaults_quoted_on_the_pages():
    got = {}
    for name in DEFAULTS_16_2:
        proc = subprocess.run(["ceph-conf", "-c", "/dev/null", "--show-config-value", name],
                              capture_output=True, text=True, check=True)
        got[name] = proc.stdout.strip()
    assert got == DEFAULTS_16_2


def test_full_ratios_in_the_osdmap(ceph_cluster: CephCluster):
    dump = ceph_cluster.ceph_json("osd", "dump")
    assert (dump["nearfull_ratio"], dump["backfillfull_ratio"], dump["full_ratio"]) == \
        pytest.approx((0.85, 0.90, 0.95))


def test_df_max_avail_applies_the_full_ratio(ceph_cluster: CephCluster, rep_pool: str,
                                            ec_pool: str):
    sys.path.insert(0, str(ROOT / "snippets"))
    import ceph_calc
    # the mgr's statistics may not list a pool created a moment ago yet: wait for both
    df = wait_for(lambda: (lambda d: d if {rep_pool, ec_pool} <= {p["name"] for p in d["pools"]}
                           else None)(ceph_cluster.ceph_json("df")),
                  timeout=30, interval=0.5, what="both pools in `ceph df`")
    raw = df["stats"]["total_bytes"]
    assert raw == 3 * (1 << 30)                      # three 1 GiB memstore OSDs
    avail = {p["name"]: p["stats"]["max_avail"] for p in df["pools"]}
    rep = ceph_calc.usable_capacity(raw, size=3).at_full
    ec = ceph_calc.usable_capacity(raw, k=2, m=1).at_full
    # MAX AVAIL also subtracts what is already used, a few hundred KiB here
    assert avail[rep_pool] == pytest.approx(rep, rel=0.01)
    assert avail[ec_pool] == pytest.approx(ec, rel=0.01)


def test_osd_tree_one_root_one_host_three_osds(ceph_cluster: CephCluster):
    tree = ceph_cluster.ceph_json("osd", "tree")
    by_type: dict[str, list] = {}
    for node in tree["nodes"]:
        by_type.setdefault(node["type"], []).append(node)
    assert [n["name"] for n in by_type["root"]] == ["default"]
    assert len(by_type["host"]) == 1
    osds = sorted(by_type["osd"], key=lambda n: n["id"])
    assert [n["name"] for n in osds] == ["osd.0", "osd.1", "osd.2"]
    assert {n["status"] for n in osds} == {"up"}
    assert {n["device_class"] for n in osds} == {"hdd"}
    text = ceph_cluster.ceph("osd", "tree")
    assert text.splitlines()[0].split() == ["ID", "CLASS", "WEIGHT", "TYPE", "NAME", "STATUS",
                                            "REWEIGHT", "PRI-AFF"]


def _pool(c: CephCluster, name: str) -> dict:
    for p in c.ceph_json("osd", "pool", "ls", "detail"):
        if p["pool_name"] == name:
            return p
    raise AssertionError(f"pool {name} not found")


def test_replicated_pool_defaults(ceph_cluster: CephCluster, rep_pool: str):
    p = _pool(ceph_cluster, rep_pool)
    # size 3 from osd_pool_default_size; min_size = size - size // 2 = 2
    assert (p["size"], p["min_size"], p["pg_num"], p["pg_placement_num"]) == (3, 2, 32, 32)
    assert p["type"] == 1                            # 1 = replicated, 3 = erasure
    assert "hashpspool" in p["flags_names"]
    assert ceph_cluster.ceph("osd", "pool", "get", rep_pool, "size").strip() == "size: 3"


def test_ec_pool_k2_m1(ceph_cluster: CephCluster, ec_pool: str):
    c = ceph_cluster
    profile = dict(line.split("=", 1) for line in
                   c.ceph("osd", "erasure-code-profile", "get", "lab-k2m1").split())
    assert (profile["k"], profile["m"], profile["crush-failure-domain"]) == ("2", "1", "osd")
    assert (profile["plugin"], profile["technique"]) == ("jerasure", "reed_sol_van")
    p = _pool(c, ec_pool)
    # size = k + m; min_size = k + min(1, m - 1) (OSDMonitor::prepare_pool_size) = 2 + 0
    assert (p["type"], p["size"], p["min_size"]) == (3, 3, 2)
    assert p["erasure_code_profile"] == "lab-k2m1"
    rule = c.ceph_json("osd", "crush", "rule", "dump", ec_pool)
    ops = [s["op"] for s in rule["steps"]]
    assert "choose_indep" in ops and "choose_firstn" not in ops
    # an object in an EC pool maps to k+m distinct OSDs
    c.rados("-p", ec_pool, "put", "ec-object", "-", input=b"x" * 10000)
    m = c.ceph_json("osd", "map", ec_pool, "ec-object")
    assert sorted(m["up"]) == [0, 1, 2]
    assert c.tool("rados", "-p", ec_pool, "get", "ec-object", "-", input=b"").stdout == b"x" * 10000


def test_rados_put_get_roundtrip(ceph_cluster: CephCluster, rep_pool: str, tmp_path: Path):
    c = ceph_cluster
    data = random.Random(6).randbytes(1 << 20)
    src, back = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    c.rados("-p", rep_pool, "put", "hello-object", str(src))
    c.rados("-p", rep_pool, "get", "hello-object", str(back))
    assert hashlib.sha256(back.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert "hello-object" in c.rados("-p", rep_pool, "ls").split()
    stat = c.rados("-p", rep_pool, "stat", "hello-object")
    assert stat.strip().endswith(f"size {len(data)}")


OBJECT_NAMES = ["hello-object", "rbd_data.1234.0000000000000000", "a", "对象", "カメラ",
                "with space", "x" * 200] + \
               [f"obj-{random.Random(i).randrange(10 ** 9)}" for i in range(8)]
# Outside the Basic Multilingual Plane.  `ceph osd map` in 16.2.15 sends the name to the
# mon as JSON, which turns it into a surrogate pair encoded as UTF-8 (CESU-8): the mon then
# hashes other bytes than librados does, and reports a wrong PG.  osdmaptool and
# ceph_placement.py hash the real UTF-8 bytes; test_non_bmp_name_lives_where_... proves it.
NON_BMP_NAMES = ["emoji-📦", "𝄞-clef"]


def _crush_text_and_osdmap(c: CephCluster, tmp_path: Path) -> tuple[Path, Path]:
    osdmap, crush_bin, crush_txt = tmp_path / "osdmap", tmp_path / "crush.bin", tmp_path / "crush.txt"
    c.ceph("osd", "getmap", "-o", str(osdmap))
    c.ceph("osd", "getcrushmap", "-o", str(crush_bin))
    subprocess.run(["crushtool", "-d", str(crush_bin), "-o", str(crush_txt)], check=True)
    return crush_txt, osdmap


def _osdmaptool_lines(osdmap: Path, pool_id: int, names: list[str]) -> list[str]:
    lines = []
    for name in names:
        out = subprocess.run(["osdmaptool", str(osdmap), "--test-map-object", name,
                              "--pool", str(pool_id)], capture_output=True, text=True,
                             errors="surrogateescape", check=True).stdout
        lines += [line for line in out.splitlines() if line.startswith(" object ")]
    return lines


def _placement_script_lines(crush_txt: Path, p: dict, names: list[str]) -> list[str]:
    return subprocess.run(
        [sys.executable, str(PLACEMENT), "--crush", str(crush_txt), "--pool", str(p["pool_id"]),
         "--pg-num", str(p["pg_num"]), "--size", str(p["size"]), "--rule", str(p["crush_rule"]),
         *names], capture_output=True, text=True, errors="surrogateescape",
        check=True).stdout.splitlines()


@pytest.mark.parametrize("pg_num", [32, 12])
def test_osd_map_equals_osdmaptool_and_ceph_placement(ceph_cluster: CephCluster, rep_pool: str,
                                                      pg_num: int, tmp_path: Path):
    c = ceph_cluster
    pool = rep_pool
    if pg_num != 32:    # a pg_num that is not a power of two exercises stable_mod
        pool = "labodd"
        c.ceph("osd", "pool", "create", pool, str(pg_num), str(pg_num), "replicated")
    try:
        p = _pool(c, pool)
        assert p["pg_num"] == pg_num
        crush_txt, osdmap = _crush_text_and_osdmap(c, tmp_path)
        # the live cluster for a few names (each `ceph` call costs ~0.5 s), the offline
        # tool for all of them
        asked = OBJECT_NAMES[:7]
        live = []
        for name in asked:
            m = c.ceph_json("osd", "map", pool, name)
            live.append(f" object '{name}' -> {m['pgid']} -> [{','.join(map(str, m['up']))}]")
        assert _osdmaptool_lines(osdmap, p["pool_id"], asked) == live
        assert _placement_script_lines(crush_txt, p, asked) == live
        names = OBJECT_NAMES + NON_BMP_NAMES
        assert _placement_script_lines(crush_txt, p, names) == \
            _osdmaptool_lines(osdmap, p["pool_id"], names)
    finally:
        if pool == "labodd":
            _delete_pool(c, pool)


def test_non_bmp_name_lives_where_osdmaptool_says(ceph_cluster: CephCluster, rep_pool: str,
                                                   tmp_path: Path):
    c = ceph_cluster
    p = _pool(c, rep_pool)
    crush_txt, osdmap = _crush_text_and_osdmap(c, tmp_path)
    for name in NON_BMP_NAMES:
        c.rados("-p", rep_pool, "put", name, "-", input="outside the BMP\n")
        [line] = _placement_script_lines(crush_txt, p, [name])
        pgid = line.split(" -> ")[1]
        # the object is really stored in that PG: list the PG's objects
        assert name in c.rados("-p", rep_pool, "--pgid", pgid, "ls").splitlines()


def test_rbd_snapshot_protect_clone_flatten(ceph_cluster: CephCluster, tmp_path: Path):
    c = ceph_cluster
    c.ceph("osd", "pool", "create", "labrbd", "16")
    try:
        c.rbd("pool", "init", "labrbd")
        data = random.Random(11).randbytes(4 << 20)
        (tmp_path / "base.img").write_bytes(data)
        c.rbd("import", str(tmp_path / "base.img"), "labrbd/base")
        base = json.loads(c.rbd("info", "labrbd/base", "--format", "json"))
        assert base["size"] == 4 << 20 and base["order"] == 22      # 4 MiB objects
        assert "layering" in base["features"]
        c.rbd("snap", "create", "labrbd/base@s1")
        # clone format v1 (require_min_compat_client luminous): the snapshot must be protected
        refused = c.tool("rbd", "clone", "labrbd/base@s1", "labrbd/child", check=False)
        assert refused.returncode != 0 and "must be protected" in refused.stderr
        c.rbd("snap", "protect", "labrbd/base@s1")
        c.rbd("clone", "labrbd/base@s1", "labrbd/child")
        child = json.loads(c.rbd("info", "labrbd/child", "--format", "json"))
        assert child["parent"]["image"] == "base" and child["parent"]["snapshot"] == "s1"
        assert c.rbd("children", "labrbd/base@s1").split() == ["labrbd/child"]
        # the clone reads through to its parent (copy-on-write: nothing copied yet)
        c.rbd("export", "labrbd/child", str(tmp_path / "child.img"))
        assert (tmp_path / "child.img").read_bytes() == data
        busy = c.tool("rbd", "snap", "unprotect", "labrbd/base@s1", check=False)
        assert busy.returncode != 0 and "(16) Device or resource busy" in busy.stderr
        c.rbd("flatten", "labrbd/child")
        assert "parent" not in json.loads(c.rbd("info", "labrbd/child", "--format", "json"))
        c.rbd("snap", "unprotect", "labrbd/base@s1")
        # clone v2 (Mimic and later clients): no protect needed
        c.ceph("osd", "set-require-min-compat-client", "mimic")
        c.rbd("snap", "create", "labrbd/base@s2")
        c.rbd("clone", "labrbd/base@s2", "labrbd/child2")
        child2 = json.loads(c.rbd("info", "labrbd/child2", "--format", "json"))
        assert child2["parent"]["snapshot"] == "s2" and "clone-child" in child2["op_features"]
    finally:
        _delete_pool(c, "labrbd")
