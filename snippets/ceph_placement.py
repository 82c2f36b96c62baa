"""From an object name to its OSDs: the two steps of Ceph's data placement.

1. object -> PG, by hashing, no CRUSH involved: ``ceph_str_hash_rjenkins`` of
   the name (Bob Jenkins' lookup2 hash over the UTF-8 bytes), then
   ``ceph_stable_mod`` with ``pg_num`` gives the PG number shown as
   ``POOL.HEX`` (for example ``1.2f``).
2. PG -> OSDs, by CRUSH: with the pool flag ``hashpspool`` (default since
   Ceph 0.80) the CRUSH input is ``x = crush_hash32_2(stable_mod(ps, pgp_num),
   pool)``, so PG 0 of every pool lands in a different place; the pool's rule
   then picks ``size`` OSDs (snippets/crush.py).  A pool without the flag
   (created before Firefly, or with ``osd_pool_default_flag_hashpspool =
   false``) uses ``x = stable_mod(ps, pgp_num) + pool``: PG 1.4 and PG 2.3
   then get the same OSDs (pg_pool_t::raw_pg_to_pps in src/osd/osd_types.cc).

Not covered: RADOS namespaces and locator keys (they change the string that
is hashed); osdmaptool --test-map-object has no option for either, so there
is no offline tool to test them against.

As a script it is the twin of ``osdmaptool OSDMAP --test-map-object NAME
--pool ID`` with all OSDs up and in (reweight 1.0):

    python snippets/ceph_placement.py --crush MAP.txt --pool 1 --pg-num 128 \\
        --size 3 --rule 0 foo bar

>>> str_hash_rjenkins(b"foo")
2143417350
>>> pg_of_object("foo", 384)               # osdmaptool: object 'foo' -> 1.6
6
>>> stable_mod(300, 200, 255)              # 300 & 255 = 44 < 200: kept
44
>>> stable_mod(250, 200, 255)              # 250 >= 200: fold with the smaller mask
122
>>> crush_input(4, 1, 8, hashpspool=False) == crush_input(3, 2, 8, hashpspool=False)
True
>>> pg_of_object("foo", 0)
Traceback (most recent call last):
...
ValueError: pg_num 0 out of range (1 to 2^31 - 1)
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import crush
import crush_text
from safety import printable

M32 = 0xFFFFFFFF


# lookup2's mix, the same nine steps CRUSH's hash uses (src/common/ceph_hash.cc):
# shared with snippets/crush.py rather than written twice.
_mix = crush._mix


def str_hash_rjenkins(key: bytes) -> int:
    """ceph_str_hash_rjenkins: 12 bytes at a time into a, b, c (little endian),
    the length goes into c, the last 0..11 bytes are added before a final mix."""
    a = b = 0x9E3779B9                      # the golden ratio
    c = 0
    k, n = key, len(key)
    while n >= 12:
        a = (a + int.from_bytes(k[0:4], "little")) & M32
        b = (b + int.from_bytes(k[4:8], "little")) & M32
        c = (c + int.from_bytes(k[8:12], "little")) & M32
        a, b, c = _mix(a, b, c)
        k, n = k[12:], n - 12
    c = (c + len(key)) & M32
    tail = k + bytes(11 - n)                # zero-pad the rest to 11 bytes
    a = (a + int.from_bytes(tail[0:4], "little")) & M32
    b = (b + int.from_bytes(tail[4:8], "little")) & M32
    c = (c + (int.from_bytes(tail[8:11], "little") << 8)) & M32   # c's low byte holds the length
    return _mix(a, b, c)[2]


# --8<-- [start:stablemod]
def pg_num_mask(pg_num: int) -> int:
    """Smallest 2^n - 1 that covers pg_num - 1 (pg_pool_t::calc_pg_masks)."""
    crush.whole("pg_num", pg_num, 1, 2 ** 31 - 1)
    return (1 << (pg_num - 1).bit_length()) - 1


def stable_mod(x: int, b: int, bmask: int) -> int:
    """ceph_stable_mod: like x % b, but when b grows by one only one PG splits."""
    return x & bmask if (x & bmask) < b else x & (bmask >> 1)


def pg_of_object(name: str, pg_num: int) -> int:
    """The PG number (the part after 'POOL.') of an object in a pool."""
    if not 1 <= pg_num < 2 ** 31:
        raise ValueError(f"pg_num {pg_num} out of range (1 to 2^31 - 1)")
    return stable_mod(str_hash_rjenkins(name.encode("utf-8")), pg_num, pg_num_mask(pg_num))
# --8<-- [end:stablemod]


# --8<-- [start:pg_to_osds]
def crush_input(ps: int, pool: int, pgp_num: int, hashpspool: bool = True) -> int:
    """hashpspool: mix the pool id in, so equal PG numbers of two pools differ;
    without it the pool id is simply added (legacy pools)."""
    folded = stable_mod(ps, pgp_num, pg_num_mask(pgp_num))
    if hashpspool:
        return crush.hash32_2(folded, pool)
    return (folded + pool) & M32


def pg_to_osds(cmap: crush.CrushMap, rule: int, ps: int, pool: int, pgp_num: int,
               size: int, hashpspool: bool = True) -> list[int]:
    """Raw OSD set of a PG with every OSD up and in (weight 0x10000)."""
    weight = [0x10000] * cmap.max_devices
    # firstn rules (replicated pools) never leave holes; indep rules (EC pools)
    # keep a missing shard's position as 2147483647, as osdmaptool prints it
    return cmap.do_rule(rule, crush_input(ps, pool, pgp_num, hashpspool), size, weight, pool)
# --8<-- [end:pg_to_osds]


def map_object(cmap: crush.CrushMap, name: str, pool: int, pg_num: int, size: int,
               rule: int, pgp_num: int | None = None, hashpspool: bool = True) -> str:
    """One line as osdmaptool --test-map-object prints it."""
    pgp = pg_num if pgp_num is None else pgp_num
    crush.whole("pg_num", pg_num, 1, 2 ** 31 - 1)
    crush.whole("pgp_num", pgp, 1, pg_num)
    crush.whole("pool id", pool, 0, 2 ** 63 - 1)       # an int64 in the OSD map
    raw = str_hash_rjenkins(name.encode("utf-8"))
    ps = stable_mod(raw, pg_num, pg_num_mask(pg_num))
    osds = pg_to_osds(cmap, rule, raw, pool, pgp, size, hashpspool)
    return f" object '{name}' -> {pool}.{ps:x} -> [{','.join(str(o) for o in osds)}]"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="object -> PG -> OSDs, like osdmaptool --test-map-object")
    p.add_argument("--crush", required=True, help="crush map in text form (crushtool -d)")
    p.add_argument("--pool", type=int, required=True, help="pool id")
    p.add_argument("--pg-num", type=int, required=True)
    p.add_argument("--pgp-num", type=int, default=None, help="default: pg-num")
    p.add_argument("--size", type=int, required=True, help="replicas, or k+m for EC")
    p.add_argument("--rule", type=int, required=True, help="crush rule id of the pool")
    p.add_argument("--no-hashpspool", action="store_true",
                   help="the pool lacks the hashpspool flag (x = PG number + pool id)")
    p.add_argument("objects", nargs="+", help="object names")
    a = p.parse_args(argv)
    try:
        if not 1 <= a.pg_num < 2 ** 31:
            raise ValueError(f"pg_num {a.pg_num} out of range (1 to 2^31 - 1)")
        if not 1 <= a.size <= crush.MAX_RESULT:
            raise ValueError(f"size {a.size} out of range (1 to {crush.MAX_RESULT}: pg_pool_t keeps "
                             "it in one byte)")
        cmap = crush_text.read_map(a.crush)
        crush_text.start_run(cmap, len(a.objects) * a.size, "give fewer objects")
        lines = [map_object(cmap, name, a.pool, a.pg_num, a.size, a.rule, a.pgp_num, not a.no_hashpspool)
                 for name in a.objects]       # all of them first: an error leaves no partial output
        print("\n".join(lines))
    except ValueError as e:
        print(printable(f"ceph_placement.py: {e}"), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
