"""Properties of snippets/crush.py, ceph_placement.py and crush_sim.py.

Byte-for-byte agreement with crushtool and osdmaptool is in tests/twins/;
here are the properties the handbook's CRUSH page states, each checked on
many inputs: the fixed-point log, stable_mod's one-PG-at-a-time split,
failure domains, positional stability of indep (why EC uses it), and the
movement when a host is added.
"""
from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings, strategies as st

import ceph_placement
import crush
import crush_sim

u32 = st.integers(min_value=-(2 ** 31), max_value=2 ** 32 - 1)


@settings(deadline=None)
@given(u32, st.lists(st.tuples(u32, st.integers(min_value=0, max_value=2 ** 32 - 1)),
                     min_size=1, max_size=80))
def test_hash_of_packed_lanes_equals_one_hash_per_item(x, pairs):
    # every lane of hash32_3_lanes is hash32_3 of its own (id, r), whatever the neighbours
    ids, rs = [i for i, _ in pairs], [r for _, r in pairs]
    got = crush.hash32_3_lanes(x, crush.pack_lanes(ids), crush.pack_lanes(rs), len(pairs))
    assert got == [crush.hash32_3(x, i, r) & 0xFFFF for i, r in pairs]


@settings(max_examples=300, deadline=None)   # the first call builds the log table
@given(st.integers(min_value=0, max_value=2 ** 32 - 1),
       st.lists(st.integers(min_value=-60, max_value=60), min_size=1, max_size=12, unique=True),
       st.lists(st.sampled_from([0, 1, 0x8000, 0x10000, 0x2a3d7, 0xFFFF0000]), min_size=12, max_size=12),
       st.integers(min_value=0, max_value=60))
def test_straw2_in_one_pass_picks_what_the_readable_straw2_picks(x, ids, weights, r):
    # weight 0 is never chosen unless all are 0; with weight 65535 (0xFFFF0000)
    # ln(u) / w often rounds to the same draw, and the first item must win
    m = crush.CrushMap()
    b = crush.Bucket(-99, "b", 1, crush.ALGS["straw2"], 0, ids, weights[:len(ids)])
    b.prepare()
    work: dict = {}
    crush.CrushMap._straw2_pass([(b, r), (b, r + 1)], x, work)
    assert work[b.id, r] == m._straw2(b, x, r, None, 0)
    assert work[b.id, r + 1] == m._straw2(b, x, r + 1, None, 0)


def test_straw2_equal_draws_go_to_the_first_item_in_both_versions():
    # x 8088, r 0, items 1 and 2 of weight 65535: u = 36352 and 36355 differ, but
    # ln(u) / w truncates to -3482 for both; mapper.c keeps the first (strict >)
    ln, w = crush.ln_table(), 0xFFFF0000
    us = [crush.hash32_3(8088, i, 0) & 0xFFFF for i in (1, 2)]
    assert us == [36352, 36355] and [-((-ln[u]) // w) for u in us] == [-3482, -3482]
    b = crush.Bucket(-9, "b", 1, crush.ALGS["straw2"], 0, [1, 2], [w, w])
    b.prepare()
    work: dict = {}
    crush.CrushMap._straw2_pass([(b, 0)], 8088, work)
    assert work[b.id, 0] == crush.CrushMap()._straw2(b, 8088, 0, None, 0) == 1


@given(u32, u32)
def test_hash_treats_negative_ids_as_their_32_bit_pattern(a, b):
    # C passes bucket ids (negative ints) as __u32
    assert crush.hash32_2(a, b) == crush.hash32_2(a & 0xFFFFFFFF, b & 0xFFFFFFFF)


def test_crush_ln_is_2_to_44_times_log2_within_table_error():
    tables = crush.build_ln_tables()
    for u in list(range(0, 300)) + list(range(300, 0x10000, 97)) + [0xFFFF]:
        exact = 2 ** 44 * math.log2(u + 1)
        # x / (1 + k/128) is truncated to an integer near 2^15: log2 error up
        # to 1/(2^15 ln 2) = 2^-14.5; Ceph's LL entries add at most 2^-15.6
        assert abs(crush.crush_ln(u, tables) - exact) < 2 ** 44 * 2 ** -14, u


def test_ln_table_is_never_positive_and_tops_out_near_zero():
    ln = crush.ln_table()
    assert len(ln) == 0x10000 and max(ln) <= 0
    assert ln[0xFFFF] == -(1 << 28)          # 2^48 - 2^32 in LH[128], shifted by 4
    assert ln[0] == -(1 << 48)               # log2(1) = 0 -> 0 - 2^48


@given(st.integers(min_value=0, max_value=2 ** 32 - 1), st.integers(min_value=1, max_value=5000))
def test_stable_mod_growing_pg_num_by_one_moves_objects_only_into_the_new_pg(x, pg_num):
    before = ceph_placement.stable_mod(x, pg_num, ceph_placement.pg_num_mask(pg_num))
    after = ceph_placement.stable_mod(x, pg_num + 1, ceph_placement.pg_num_mask(pg_num + 1))
    assert 0 <= before < pg_num and 0 <= after <= pg_num
    assert after in (before, pg_num)


@given(st.integers(min_value=0, max_value=2 ** 32 - 1), st.integers(min_value=0, max_value=20))
def test_stable_mod_with_power_of_two_is_plain_modulo(x, bits):
    n = 1 << bits
    assert ceph_placement.stable_mod(x, n, ceph_placement.pg_num_mask(n)) == x % n


def test_pg_num_mask_hand_values():
    # pg_num 384 -> pg_num-1 = 383 needs 9 bits -> mask 511
    assert [ceph_placement.pg_num_mask(n) for n in (1, 2, 3, 8, 9, 384)] == [0, 1, 3, 7, 15, 511]


def _host_of(m: crush.CrushMap) -> dict:
    return {i: b.id for b in m.buckets.values() if "~" not in b.name and b.type == 1
            for i in b.items}


def test_chooseleaf_host_puts_replicas_on_distinct_hosts():
    m = crush_sim.cluster_map([[1.0, 2.0], [1.0], [0.5, 0.5, 3.0], [1.0, 1.0]])
    host = _host_of(m)
    for x in range(500):
        osds = m.do_rule(0, x, 3)
        assert len(osds) == 3 and len({host[o] for o in osds}) == 3


def test_firstn_returns_fewer_osds_than_asked_when_failure_domains_run_out():
    m = crush_sim.cluster_map([[1.0, 1.0], [1.0, 1.0]])
    assert all(len(m.do_rule(0, x, 3)) == 2 for x in range(100))


def _ec_map(hosts: int = 3, per_host: int = 2) -> crush.CrushMap:
    """hosts x per_host OSDs; rule 2 = EC (chooseleaf indep), rule 3 = replicated (firstn)."""
    # Ceph 16's tunables: without tunable lines a map has the legacy (argonaut) ones
    lines = [crush.EXAMPLE_MAP.split("device 0")[0].strip(), "type 0 osd", "type 1 host", "type 2 root"]
    for d in range(hosts * per_host):
        lines.append(f"device {d} osd.{d}")
    for h in range(hosts):
        items = "\n".join(f"item osd.{h * per_host + i} weight 1.0" for i in range(per_host))
        lines.append(f"host h{h} {{\nid {-2 - h}\nalg straw2\n{items}\n}}")
    lines.append("root default {\nid -1\nalg straw2\n"
                 + "\n".join(f"item h{h}" for h in range(hosts)) + "\n}")
    for rid, rtype, mode in ((2, "erasure", "indep"), (3, "replicated", "firstn")):
        lines.append(f"rule r{rid} {{\nid {rid}\ntype {rtype}\nstep set_chooseleaf_tries 5\n"
                     f"step take default\nstep chooseleaf {mode} 0 type host\nstep emit\n}}")
    return crush.CrushMap.parse("\n".join(lines))


def test_indep_keeps_positions_when_an_osd_fails_firstn_shifts_them():
    m = _ec_map(hosts=8)
    weight = m.default_weights()
    failed = weight.copy()
    failed[2] = 0                           # osd.2 out
    affected = ec_moved = rep_moved = 0
    for x in range(1000):
        ec_before, ec_after = m.do_rule(2, x, 4, weight), m.do_rule(2, x, 4, failed)
        rep_before, rep_after = m.do_rule(3, x, 4, weight), m.do_rule(3, x, 4, failed)
        if 2 not in ec_before or 2 not in rep_before:
            continue
        affected += 1
        # shards/replicas that were NOT on osd.2 but changed position or OSD
        ec_moved += sum(a != b for a, b in zip(ec_before, ec_after) if a != 2)
        rep_moved += sum(a != b for a, b in zip(rep_before, rep_after) if a != 2)
    assert affected > 100
    # indep retries a failed slot with r + numrep*f, values no other slot uses,
    # so other shards almost never move; firstn retries with r + f, which is
    # the next slot's r, and the collision pushes later replicas around.
    # (Observed on this map: indep 2, firstn 20 moved, of 144 affected PGs.)
    assert ec_moved < 0.05 * affected
    assert rep_moved > 3 * ec_moved


def test_indep_marks_missing_shards_as_holes():
    m = _ec_map(hosts=3)
    out = m.do_rule(2, 7, 5)                # 5 shards, one per host, only 3 hosts
    assert len(out) == 5 and out.count(crush.CRUSH_ITEM_NONE) == 2
    assert len(m.do_rule(3, 7, 5)) == 3     # firstn simply returns fewer


def test_adding_a_host_moves_about_its_weight_share_mod_n_moves_most():
    hosts = [[1.0, 1.0]] * 4
    moved = crush_sim.moved_fraction(crush_sim.cluster_map(hosts),
                                     crush_sim.cluster_map(hosts + [[1.0]]), 2048, 1)
    assert abs(moved - 1 / 9) < 0.02         # the new OSD's share of 9 units of weight
    assert abs(crush_sim.mod_n_moved_fraction(8, 2048) - 8 / 9) < 0.01


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=8)
       .filter(lambda h: sum(h) >= 2), st.integers(min_value=0), st.integers(min_value=1, max_value=4))
def test_out_moves_only_the_osds_own_replicas_removing_it_moves_at_least_as_many(hosts, pick, size):
    # ceph osd out keeps the host's CRUSH weight: only PGs that chose the OSD
    # try again.  crush remove lowers the host's weight, so PGs also move
    # between hosts (jewel tunables: a retry reuses the next replica's r and
    # so lands on that replica's OSD, which therefore does not move).
    osd = pick % sum(hosts)
    out = crush_sim.what_moves(hosts, "out", osd, 256, size)
    on_it = sum(pg.count(osd) for pg in out["before"])
    assert out["moved"] == on_it
    assert all(osd not in pg for pg in out["after"])
    removed = crush_sim.what_moves(hosts, "remove", osd, 256, size)
    assert removed["moved"] >= on_it and removed["before"] == out["before"]


def test_what_moves_keeps_every_other_osd_id():
    r = crush_sim.what_moves([2, 1, 2], "add", 1, 64, 1)
    assert r["hosts"] == [[0, 1], [2], [3, 4]] and r["new_hosts"] == [[0, 1], [2, 5], [3, 4]]
    r = crush_sim.what_moves([2, 1, 2], "remove", 2, 64, 1)
    assert r["new_hosts"] == [[0, 1], [], [3, 4]]           # the host bucket stays, empty
    assert all(2 not in pg for pg in r["after"])


@pytest.mark.parametrize("args, message", [
    (([], "add"), "need at least one host"),
    (([2, 33], "add"), "OSDs per host 33 out of range (0 to 32)"),
    (([2, 2], "grow"), "change 'grow' unknown (one of add, add-host, remove, out)"),
    (([2, 2], "add", 2), "host 2 does not exist (hosts 0 to 1)"),
    (([2, 2], "out", -1), "osd.-1 does not exist (OSDs 0 to 3)"),
    (([1], "remove", 0), "the change leaves no OSD in the map"),
    (([2], "add", 0, 0), "--pgs 0 out of range"),
])
def test_what_moves_rejects_bad_clusters_and_changes(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        crush_sim.what_moves(*args)


@pytest.mark.parametrize("text,message", [
    ("type 0 osd\ntype 1 host\nhost h { id -1\nalg straw3\n}\n", "unknown alg 'straw3'"),
    ("type 0 osd\ntype 1 host\nhost h { id -1\nalg fancy\n}\n", "unknown alg 'fancy'"),
    ("device 0 osd.0\ntype 0 osd\ntype 1 host\nhost h { id -1\nalg straw2\nitem osd.0 weight x\n}\n",
     "weight 'x' is not a number"),
    ("tunable magic 1\n", "tunable 'magic' not recognized"),
    ("rule r {\nid 0\ntype replicated\nstep take nowhere\nstep emit\n}\n", "item 'nowhere' not defined"),
])
def test_bad_maps_raise_value_error_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        crush.CrushMap.parse(text)


def test_do_rule_rejects_unknown_rule_and_zero_replicas():
    m = crush.CrushMap.parse(crush.EXAMPLE_MAP)
    with pytest.raises(ValueError, match="rule 9 does not exist"):
        m.do_rule(9, 0, 3)
    with pytest.raises(ValueError, match="num-rep 0 out of range"):
        m.do_rule(0, 0, 0)


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=40))
def test_object_hash_reads_utf8_bytes(name):
    h = ceph_placement.str_hash_rjenkins(name.encode("utf-8"))
    assert 0 <= h < 2 ** 32
    assert ceph_placement.pg_of_object(name, 1) == 0


def test_damaged_maps_raise_only_value_error():
    """Delete, replace or duplicate random tokens of a valid map: parse and map
    either succeed or raise ValueError, never another exception."""
    import random
    rng = random.Random(7)
    base = crush.EXAMPLE_MAP.split()
    junk = ["{", "}", "x", "-1", "0", "step", "item", "id", "class", "weight", "1.5", "[", "]"]
    for _ in range(400):
        toks = base[:]
        for _ in range(rng.randint(1, 4)):
            j = rng.randrange(len(toks))
            op = rng.random()
            if op < 0.4:
                del toks[j]
            elif op < 0.7:
                toks[j] = rng.choice(junk)
            else:
                toks.insert(j, rng.choice(toks))
        text = " ".join(toks).replace(" step ", "\nstep ").replace(" item ", "\nitem ")
        try:
            m = crush.CrushMap.parse(text)
            for r in m.rules:
                m.do_rule(r, 1, 3)
        except ValueError:
            pass
