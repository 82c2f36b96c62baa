"""CRUSH in plain Python: the placement function Ceph uses to map a PG to OSDs.

This module reads a CRUSH map in crushtool's text format (the output of
``crushtool -d``) and computes the same mappings as Ceph's C implementation
(src/crush/mapper.c, hash.c, crush_ln_table.h, builder.c of Ceph 16.2):

* the rjenkins1 hash (``crush_hash32_rjenkins1_2/3/4``);
* all five bucket algorithms: straw2 with Ceph's fixed-point natural-log
  table, straw (v1) with the straw lengths crushtool computes when it
  compiles the map (builder.c crush_calc_straw, ``straw_calc_version`` 0 and
  1), and uniform, list and tree;
* ``choose``/``chooseleaf`` in ``firstn`` and ``indep`` modes with every
  tunable (local retries, the perm fallback, total tries, descend_once,
  vary_r, stable) and the ``set_*`` rule steps, several take/emit blocks in
  one rule.  A map without ``tunable`` lines gets the legacy (argonaut)
  values, as ``crushtool -c`` does: old clusters' maps map like crushtool;
* device classes: ``step take default class ssd`` walks the shadow tree
  (``default~ssd``) that Ceph builds from the ``id -N class X`` lines;
* ``choose_args`` (weight sets and ids written by the balancer).

Speed: straw2 hashes every item of a bucket in one pass of packed 48-bit
lanes (``hash32_3_lanes``), and the likely choices of all replicas of a
choose step are hashed level by level before ``_choose_firstn`` or
``_choose_indep`` walks the tree (``_prefetch``); ``_straw2`` is the readable
definition, used with choose_args and tested equal to the fast path.

A bad map (unknown keyword, a bucket containing itself or an undefined
item, a rule taking a missing bucket, weights out of crushtool's ranges,
duplicate ids) raises a one-line ValueError; as a script: exit status 2.

As a script it is the twin of ``crushtool --test --show-mappings``:

    python snippets/crush.py -i MAP.txt --test --rule 0 --num-rep 3 \\
        --min-x 0 --max-x 9 --show-mappings

It also takes crushtool's ``--x N``, ``--weight DEV W`` (reweight 0..1: the
OSD rejects that share of inputs), ``--show-bad-mappings``, and without
``--num-rep`` tries each rule's min_size..max_size replicas.

>>> m = CrushMap.parse(EXAMPLE_MAP)
>>> m.do_rule(0, 0, 3)          # crushtool: CRUSH rule 0 x 0 [2,0,4]
[2, 0, 4]
>>> m.do_rule(1, 0, 3)          # only ssd devices: CRUSH rule 1 x 0 [1,3,5]
[1, 3, 5]
>>> CrushMap.parse("device 0 osd.0\\ntype 1 host\\nhost h { id -1 alg straw2 item osd.9 }")
Traceback (most recent call last):
...
ValueError: bucket 'h': item 'osd.9' is not defined (define devices and child buckets first; a cycle of buckets cannot be compiled)
"""
from __future__ import annotations

import argparse
import math
import re
import struct
import sys
from array import array
from operator import floordiv
from dataclasses import dataclass, field
from decimal import Decimal, getcontext

from safety import printable, read_limited

# An example small enough to read: 3 hosts x 2 OSDs, one hdd and one ssd each.
EXAMPLE_MAP = """
tunable choose_local_tries 0
tunable choose_local_fallback_tries 0
tunable choose_total_tries 50
tunable chooseleaf_descend_once 1
tunable chooseleaf_vary_r 1
tunable chooseleaf_stable 1
tunable straw_calc_version 1
tunable allowed_bucket_algs 54
device 0 osd.0 class hdd
device 1 osd.1 class ssd
device 2 osd.2 class hdd
device 3 osd.3 class ssd
device 4 osd.4 class hdd
device 5 osd.5 class ssd
type 0 osd
type 1 host
type 11 root
host node1 {
    id -3
    id -4 class hdd
    id -5 class ssd
    alg straw2
    hash 0
    item osd.0 weight 1.000
    item osd.1 weight 0.500
}
host node2 {
    id -6
    id -7 class hdd
    id -8 class ssd
    alg straw2
    hash 0
    item osd.2 weight 1.000
    item osd.3 weight 0.500
}
host node3 {
    id -9
    id -10 class hdd
    id -11 class ssd
    alg straw2
    hash 0
    item osd.4 weight 1.000
    item osd.5 weight 0.500
}
root default {
    id -1
    id -2 class hdd
    id -12 class ssd
    alg straw2
    hash 0
    item node1 weight 1.500
    item node2 weight 1.500
    item node3 weight 1.500
}
rule replicated_rule {
    id 0
    type replicated
    min_size 1
    max_size 10
    step take default
    step chooseleaf firstn 0 type host
    step emit
}
rule fast {
    id 1
    type replicated
    min_size 1
    max_size 10
    step take default class ssd
    step chooseleaf firstn 0 type host
    step emit
}
"""

MASK32 = 0xFFFFFFFF
CRUSH_ITEM_NONE = 0x7FFFFFFF     # "no OSD here": a hole in an indep result
CRUSH_ITEM_UNDEF = 0x7FFFFFFE    # "not decided yet" inside indep
S64_MIN = -(1 << 63)
MAX_DEPTH = 100                  # levels of buckets; Python recursion builds the shadow trees
# Device ids index lists (the reweight vector, as crushtool's): a bound of this
# tool, far above Ceph's mon_max_osd (10000 by default: OSD ids stay below it).
MAX_DEVICE_ID = (1 << 20) - 1
S32_MIN = -(1 << 31)             # bucket and class ids are C ints in the binary map
# Retries per replica: every try is a walk down the tree, so a map asking for
# 10^9 (crushtool accepts any 32-bit value) runs for ever here.  Ceph's own
# values are 19 or 50 total tries and set_choose_tries 100 in its EC rules.
MAX_TRIES = 100
TRIES = ("choose_local_tries", "choose_local_fallback_tries", "choose_total_tries",
         "set_choose_tries", "set_chooseleaf_tries", "set_choose_local_tries",
         "set_choose_local_fallback_tries")
MAX_RESULT = 255                 # OSDs per PG: a pool's size and a rule's max_size are one byte
# A run of the script (all x values, rules and replica counts): placements, and
# placements x tries per replica, about ten seconds of pure Python at most.
MAX_PLACEMENTS = 1 << 20
MAX_MAP_BYTES = 8 << 20          # a text map: 10,000 OSDs (mon_max_osd's default) take about 0.5 MiB
MAX_RUN_TRIES = 1 << 23


def whole(what: str, value: object, low: int, high: int) -> int:
    """value if it is a whole number from low to high, else a ValueError naming what."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} {value!r} out of range ({low} to {high})")
    return value


# --8<-- [start:hash]
# Robert Jenkins' 96-bit mix, as in Ceph's src/crush/hash.c.  Python ints are
# unbounded, so every step is masked back to 32 bits.
CRUSH_HASH_SEED = 1315423911


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - b - c) & MASK32; a ^= c >> 13
    b = (b - c - a) & MASK32; b ^= (a << 8) & MASK32
    c = (c - a - b) & MASK32; c ^= b >> 13
    a = (a - b - c) & MASK32; a ^= c >> 12
    b = (b - c - a) & MASK32; b ^= (a << 16) & MASK32
    c = (c - a - b) & MASK32; c ^= b >> 5
    a = (a - b - c) & MASK32; a ^= c >> 3
    b = (b - c - a) & MASK32; b ^= (a << 10) & MASK32
    c = (c - a - b) & MASK32; c ^= b >> 15
    return a, b, c


def hash32_2(a: int, b: int) -> int:
    """crush_hash32_rjenkins1_2: two 32-bit inputs (negative ids wrap)."""
    a &= MASK32; b &= MASK32
    h = CRUSH_HASH_SEED ^ a ^ b
    x, y = 231232, 1232
    a, b, h = _mix(a, b, h)
    x, a, h = _mix(x, a, h)
    b, y, h = _mix(b, y, h)
    return h


def hash32_3(a: int, b: int, c: int) -> int:
    """crush_hash32_rjenkins1_3: used by straw2 (x, item id, r)."""
    a &= MASK32; b &= MASK32; c &= MASK32
    h = CRUSH_HASH_SEED ^ a ^ b ^ c
    x, y = 231232, 1232
    a, b, h = _mix(a, b, h)
    c, x, h = _mix(c, x, h)
    y, a, h = _mix(y, a, h)
    b, x, h = _mix(b, x, h)
    y, c, h = _mix(y, c, h)
    return h


def hash32_4(a: int, b: int, c: int, d: int) -> int:
    """crush_hash32_rjenkins1_4: used by list and tree buckets."""
    a &= MASK32; b &= MASK32; c &= MASK32; d &= MASK32
    h = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d
    x, y = 231232, 1232
    a, b, h = _mix(a, b, h)
    c, d, h = _mix(c, d, h)
    a, x, h = _mix(a, x, h)
    y, b, h = _mix(y, b, h)
    c, x, h = _mix(c, x, h)
    y, d, h = _mix(y, d, h)
    return h


def hash32_5(a: int, b: int, c: int, d: int, e: int) -> int:
    """crush_hash32_rjenkins1_5 (unused by the mapper, kept for completeness)."""
    a &= MASK32; b &= MASK32; c &= MASK32; d &= MASK32; e &= MASK32
    h = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d ^ e
    x, y = 231232, 1232
    a, b, h = _mix(a, b, h)
    c, d, h = _mix(c, d, h)
    e, x, h = _mix(e, x, h)
    y, a, h = _mix(y, a, h)
    b, x, h = _mix(b, x, h)
    y, c, h = _mix(y, c, h)
    d, x, h = _mix(d, x, h)
    y, e, h = _mix(y, e, h)
    return h
# --8<-- [end:hash]


# --8<-- [start:lanes]
# straw2 hashes (x, id, r) for every item of a bucket.  Python's ints have no
# width, so one int can hold many 32-bit values side by side, LANE bits apart,
# and one pass of the mix hashes them all ("lanes").  +, -, ^, <<, >> act on
# every lane at once provided no lane borrows from or carries into its
# neighbour: adding 2^33 in every lane before the two subtractions keeps each
# lane positive, and masking every lane to 32 bits after each step drops what
# a shift moved into the 16 spare bits.  A pass costs about as much as one
# hash32_3 call (the interpreter's work per operation dominates, not the
# width), so the mapper hashes all the items it will need in as few passes
# as it can (CrushMap._straw2_pass).
LANE = 48
_LITTLE_ENDIAN = sys.byteorder == "little"     # memoryview.cast() reads native order
_LANE_CONSTANTS: dict[int, tuple[int, int, int, int, int, int]] = {}


def pack_lanes(values: list[int]) -> int:
    """values[i] & 0xffffffff in lane i (bits LANE*i and up)."""
    return sum((v & MASK32) << (LANE * i) for i, v in enumerate(values))


def _lane_constants(n: int) -> tuple[int, int, int, int, int, int]:
    ones = pack_lanes([1] * n)
    _LANE_CONSTANTS[n] = (ones, MASK32 * ones, (1 << 33) * ones,    # 1, mask, bias per lane
                          CRUSH_HASH_SEED * ones, 231232 * ones, 1232 * ones)
    return _LANE_CONSTANTS[n]


def hash32_3_lanes(x: int, ids: int, rs: int, n: int) -> list[int]:
    """[hash32_3(x, id_i, r_i) & 0xffff for i in range(n)], with id_i and r_i
    packed in ids and rs by pack_lanes(); the five mixes are written out.

    >>> ids, rs = [-2, 5, 7], [0, 1, 3]
    >>> hash32_3_lanes(1234, pack_lanes(ids), pack_lanes(rs), 3) == [
    ...     hash32_3(1234, i, r) & 0xFFFF for i, r in zip(ids, rs)]
    True
    """
    ones, m, k, seed, x0, y0 = _LANE_CONSTANTS.get(n) or _lane_constants(n)
    a, b, c = (x & MASK32) * ones, ids, rs
    h = seed ^ a ^ b ^ c
    x, y = x0, y0
    # _mix(a, b, h)
    a = ((a + k - b - h) ^ (h >> 13)) & m
    b = ((b + k - h - a) ^ (a << 8)) & m
    h = ((h + k - a - b) ^ (b >> 13)) & m
    a = ((a + k - b - h) ^ (h >> 12)) & m
    b = ((b + k - h - a) ^ (a << 16)) & m
    h = ((h + k - a - b) ^ (b >> 5)) & m
    a = ((a + k - b - h) ^ (h >> 3)) & m
    b = ((b + k - h - a) ^ (a << 10)) & m
    h = ((h + k - a - b) ^ (b >> 15)) & m
    # _mix(c, x, h)
    c = ((c + k - x - h) ^ (h >> 13)) & m
    x = ((x + k - h - c) ^ (c << 8)) & m
    h = ((h + k - c - x) ^ (x >> 13)) & m
    c = ((c + k - x - h) ^ (h >> 12)) & m
    x = ((x + k - h - c) ^ (c << 16)) & m
    h = ((h + k - c - x) ^ (x >> 5)) & m
    c = ((c + k - x - h) ^ (h >> 3)) & m
    x = ((x + k - h - c) ^ (c << 10)) & m
    h = ((h + k - c - x) ^ (x >> 15)) & m
    # _mix(y, a, h)
    y = ((y + k - a - h) ^ (h >> 13)) & m
    a = ((a + k - h - y) ^ (y << 8)) & m
    h = ((h + k - y - a) ^ (a >> 13)) & m
    y = ((y + k - a - h) ^ (h >> 12)) & m
    a = ((a + k - h - y) ^ (y << 16)) & m
    h = ((h + k - y - a) ^ (a >> 5)) & m
    y = ((y + k - a - h) ^ (h >> 3)) & m
    a = ((a + k - h - y) ^ (y << 10)) & m
    h = ((h + k - y - a) ^ (a >> 15)) & m
    # _mix(b, x, h)
    b = ((b + k - x - h) ^ (h >> 13)) & m
    x = ((x + k - h - b) ^ (b << 8)) & m
    h = ((h + k - b - x) ^ (x >> 13)) & m
    b = ((b + k - x - h) ^ (h >> 12)) & m
    x = ((x + k - h - b) ^ (b << 16)) & m
    h = ((h + k - b - x) ^ (x >> 5)) & m
    b = ((b + k - x - h) ^ (h >> 3)) & m
    x = ((x + k - h - b) ^ (b << 10)) & m
    h = ((h + k - b - x) ^ (x >> 15)) & m
    # _mix(y, c, h)
    y = ((y + k - c - h) ^ (h >> 13)) & m
    c = ((c + k - h - y) ^ (y << 8)) & m
    h = ((h + k - y - c) ^ (c >> 13)) & m
    y = ((y + k - c - h) ^ (h >> 12)) & m
    c = ((c + k - h - y) ^ (y << 16)) & m
    h = ((h + k - y - c) ^ (c >> 5)) & m
    y = ((y + k - c - h) ^ (h >> 3)) & m
    c = ((c + k - h - y) ^ (y << 10)) & m
    h = ((h + k - y - c) ^ (c >> 15)) & m
    # the low 16 bits of each lane: every third 16-bit word, little-endian
    if _LITTLE_ENDIAN:
        return memoryview(h.to_bytes(n * LANE // 8, "little")).cast("H")[::LANE // 16].tolist()
    return [(h >> (LANE * i)) & 0xFFFF for i in range(n)]
# --8<-- [end:lanes]


# --8<-- [start:ln]
# straw2 needs ln(u) for u = hash & 0xffff.  The kernel has no floating point,
# so Ceph computes 2^44 * log2(u + 1) in fixed point from two tables:
#   RH[k] = 2^48 / (1 + k/128)          (rounded up),   k = 0..128
#   LH[k] = 2^48 * log2(1 + k/128)      (rounded down), k = 0..128
#   LL[k] = 2^48 * log2(1 + k/2^15),                    k = 0..255
# We compute the tables from these definitions.  Ceph's shipped table
# (src/crush/crush_ln_table.h) does not follow its own comment exactly: LH[128]
# is 2^48 - 2^32, most LL entries are larger by 0x147700000 and 23 entries are
# off by other amounts.  CRUSH's output depends on every bit, so the deltas
# below (upstream value minus the definition, found by comparing the two) are
# applied; tests/twins/test_crush_crushtool.py checks the result.
_LL_DELTA_DEFAULT = 0x147700000
_LL_DELTA = {
    0: 0, 1: 0, 203: 0, 216: 0, 222: 0, 233: 0, 237: 0, 238: 0, 239: 0,
    243: 0, 244: 0, 245: 0, 246: 0, 248: 0, 249: 0, 250: 0, 251: 0, 252: 0,
    253: 0, 254: 0, 255: 0,
    56: 0x13ED9B9B0, 127: 0x3A4F4285, 134: 0xD5E895A5, 181: 0xEEE4ABC5,
    184: 0x14340B8BF, 188: 0x833EB34B, 193: 0xE43EED13, 198: 0x95AD3C32,
    199: 0x9F2A5B80, 200: 0xE2F45E65, 207: 0x12CBACD37, 210: 0x1144D0710,
    212: 0xDAC5961C, 225: 0xBF46F5F9, 227: 0x5A42D14A, 228: 0x9EAC5357,
    229: 0x217CFAFC, 231: 0xD2D5723C, 235: 0x121CB06EB, 236: 0x13AC6617A,
    240: 0x9DF6BFDD, 241: 0xFA8D3579, 247: 0x15955A58,
}


def _floor_log2_scaled(num: int, den: int, scale_bits: int) -> int:
    """floor(2^scale_bits * log2(num/den)), exact enough with 60 digits."""
    getcontext().prec = 60
    v = (Decimal(num) / Decimal(den)).ln() / Decimal(2).ln() * (Decimal(2) ** scale_bits)
    return int(v.to_integral_value(rounding="ROUND_FLOOR"))


def build_ln_tables() -> tuple[list[int], list[int], list[int]]:
    """Return (RH, LH, LL) as Ceph's crush_ln() uses them."""
    rh = [-((-(1 << 55)) // (128 + k)) for k in range(129)]          # ceil(2^55/(128+k))
    lh = [_floor_log2_scaled(128 + k, 128, 48) for k in range(129)]
    lh[128] = (1 << 48) - (1 << 32)                                   # upstream value
    ll = [_floor_log2_scaled(32768 + k, 32768, 48) + _LL_DELTA.get(k, _LL_DELTA_DEFAULT)
          for k in range(256)]
    return rh, lh, ll


def crush_ln(xin: int, tables: tuple[list[int], list[int], list[int]]) -> int:
    """2^44 * log2(xin + 1) in fixed point, step by step as mapper.c does it."""
    rh_t, lh_t, ll_t = tables
    x = xin + 1
    iexpon = 15
    if not x & 0x18000:                       # normalise x into [2^15, 2^16]
        bits = (32 - (x & 0x1FFFF).bit_length()) - 16
        x <<= bits
        iexpon = 15 - bits
    k = (x >> 8) - 128                        # top 8 bits pick RH/LH
    xl64 = (x * rh_t[k]) >> 48                # x / (1 + k/128): about 2^15 + small
    result = iexpon << 44
    lh = lh_t[k] + ll_t[xl64 & 0xFF]          # log2 of the two factors
    return result + (lh >> 4)


_LN_MINUS_ONE: list[int] = []


def ln_table() -> list[int]:
    """crush_ln(u) - 2^48 for all 65536 values of u: always <= 0."""
    if not _LN_MINUS_ONE:
        t = build_ln_tables()
        _LN_MINUS_ONE.extend(crush_ln(u, t) - 0x1000000000000 for u in range(0x10000))
    return _LN_MINUS_ONE
# --8<-- [end:ln]


# 2^48 - crush_ln(u) = -ln_table()[u]: straw2's draw, negated, before the division;
# an array of 64-bit ints (512 KiB in one piece) is read faster than a list
_NEG_LN = array("q")


def neg_ln_table() -> array[int]:
    if not _NEG_LN:
        _NEG_LN.extend(-v for v in ln_table())
    return _NEG_LN


ALGS = {"uniform": 1, "list": 2, "tree": 3, "straw": 4, "straw2": 5}
ALG_NAMES = {v: k for k, v in ALGS.items()}


@dataclass
class Bucket:
    id: int
    name: str
    type: int
    alg: int
    hash: int
    items: list[int]
    weights: list[int]                # 16.16 fixed point, as compiled
    straw_calc_version: int = 1       # the map's tunable when the bucket was compiled
    # derived tables (filled by prepare())
    weight: int = 0
    straws: list[int] = field(default_factory=list)
    sum_weights: list[int] = field(default_factory=list)
    node_weights: list[int] = field(default_factory=list)
    num_nodes: int = 0
    # for hash32_3_lanes: the item ids, and 1, packed in lanes (straw and straw2)
    lane_ids: int = field(default=0, repr=False)
    lane_ones: int = field(default=0, repr=False)
    lane_weights: list[int] = field(default_factory=list, repr=False)   # 0 -> 1, see _straw2_pass
    zero_weights: list[int] = field(default_factory=list, repr=False)   # positions of weight 0

    def prepare(self) -> None:
        """Build the per-algorithm tables as builder.c does."""
        if self.alg == ALGS["uniform"] and self.weights:   # one weight for all items
            self.weights = [self.weights[0]] * len(self.weights)
        self.weight = sum(self.weights)
        if self.alg in (ALGS["straw"], ALGS["straw2"]):
            self.lane_ids = pack_lanes(self.items)
            self.lane_ones = pack_lanes([1] * len(self.items))
            self.zero_weights = [i for i, w in enumerate(self.weights) if not w]
            self.lane_weights = [w or 1 for w in self.weights]
        if self.alg == ALGS["list"]:
            total, self.sum_weights = 0, []
            for w in self.weights:
                total += w
                self.sum_weights.append(total)
        elif self.alg == ALGS["straw"]:
            self.straws = straw_lengths(self.weights, self.straw_calc_version)
        elif self.alg == ALGS["tree"]:
            size = len(self.items)
            depth = 0 if size == 0 else (size - 1).bit_length() + 1
            self.num_nodes = 1 << depth
            self.node_weights = [0] * self.num_nodes
            for i, w in enumerate(self.weights):
                node = ((i + 1) << 1) - 1
                self.node_weights[node] = w
                for _ in range(1, depth):
                    node = _tree_parent(node)
                    self.node_weights[node] += w


# --8<-- [start:straw_v1]
def straw_lengths(weights: list[int], calc_version: int) -> list[int]:
    """Straw lengths (16.16 fixed point) of a straw (v1) bucket.

    The text map carries only weights: crushtool computes the lengths when it
    compiles the map (builder.c, crush_calc_straw) and stores them in the
    binary map.  Items are visited from the lightest up; each one's straw is
    the current length, then the length grows so that the next-heavier items
    win their extra share.  ``straw_calc_version`` 0 is the original, flawed
    computation (it counts the heavier group, not the item just passed, and
    zero weights still count); version 1 fixes both.  The arithmetic is C
    double precision, which Python floats are, so the lengths come out equal.

    >>> straw_lengths([0x10000, 0x10000], 1)          # equal weights: equal straws
    [65536, 65536]
    >>> straw_lengths([0x20000, 0x10000], 1)          # by hand: 2/3 below, 1.0 * (3/2)^1
    [98304, 65536]

    Weights 1, 1, 2: the heavy item should win half of the draws.  Version 1
    stretches its straw by 4/3 (p_below = 3/4, one item left); version 0
    counts two items left and stretches by (5/3)^(1/2):

    >>> straw_lengths([0x10000, 0x10000, 0x20000], 1), straw_lengths([0x10000, 0x10000, 0x20000], 0)
    ([65536, 65536, 87381], [65536, 65536, 84606])
    >>> straw_lengths([0x10000], 2)
    Traceback (most recent call last):
    ...
    ValueError: straw_calc_version 2 out of range (0 or 1)
    """
    if calc_version not in (0, 1):
        raise ValueError(f"straw_calc_version {calc_version} out of range (0 or 1)")
    n = len(weights)
    order = sorted(range(n), key=lambda i: weights[i])   # ascending, ties by position
    straws = [0] * n
    length, below, last = 1.0, 0.0, 0.0
    left = n
    k = 0
    while k < n:
        cur = weights[order[k]]
        if cur == 0:                     # a zero weight never wins: straw 0
            k += 1
            if calc_version >= 1:
                left -= 1
            continue
        straws[order[k]] = int(length * 0x10000) & MASK32
        k += 1
        if k == n:
            break
        nxt = weights[order[k]]
        if calc_version == 0:
            if nxt == cur:               # same weight as the previous item: same straw
                continue
            below += (cur - last) * left
            j = k                        # v0: drop the whole next group from the count
            while j < n and weights[order[j]] == nxt:
                left -= 1
                j += 1
        else:
            below += (cur - last) * left
            left -= 1
        gap = (left * (nxt - cur)) & MASK32          # unsigned 32-bit product in C
        p_below = below / (below + gap)
        length *= math.pow(1.0 / p_below, 1.0 / left)
        last = float(cur)
    return straws
# --8<-- [end:straw_v1]


def _tree_height(n: int) -> int:
    h = 0
    while n & 1 == 0:
        h += 1
        n >>= 1
    return h


def _tree_parent(n: int) -> int:
    h = _tree_height(n)
    return n - (1 << h) if n & (1 << (h + 1)) else n + (1 << h)


# ---------------------------------------------------------------- the parser
_TOKEN = re.compile(r"\n|[{}\[\]]|[^\s{}\[\]]+")


def _float_weight(text: str) -> int:
    """crushtool reads weights with strtof() and multiplies by 0x10000 in float."""
    try:
        f = float(text)
    except ValueError:
        raise ValueError(f"weight {text!r} is not a number (expected e.g. 1.000, 0 to 65535)") from None
    if not 0 <= f < 65536:
        raise ValueError(f"weight {text} out of range (0 to 65535)")
    f32 = struct.unpack("f", struct.pack("f", f))[0]   # strtof rounds to float
    return int(f32 * 65536.0)                          # exact, then truncated


def _int(text: str, what: str) -> int:
    """An integer field of the map, or a ValueError that names the field."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not an integer") from None


class _Tokens:
    def __init__(self, text: str) -> None:
        lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
        self.toks = _TOKEN.findall("\n".join(lines))   # "\n" tokens mark line ends
        self.i = 0

    def _skip_newlines(self) -> None:
        while self.i < len(self.toks) and self.toks[self.i] == "\n":
            self.i += 1

    def peek(self) -> str | None:
        self._skip_newlines()
        return self.toks[self.i] if self.i < len(self.toks) else None

    def peek2(self) -> str | None:
        """The token after the next one (newlines skipped)."""
        self._skip_newlines()
        j = self.i + 1
        while j < len(self.toks) and self.toks[j] == "\n":
            j += 1
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what: str = "a token") -> str:
        self._skip_newlines()
        if self.i >= len(self.toks):
            raise ValueError(f"unexpected end of map, expected {what}")
        self.i += 1
        return self.toks[self.i - 1]

    def raw(self) -> str | None:
        """Next token including newline markers."""
        if self.i >= len(self.toks):
            return None
        self.i += 1
        return self.toks[self.i - 1]

    def expect(self, tok: str) -> None:
        got = self.next(repr(tok))
        if got != tok:
            raise ValueError(f"expected {tok!r}, got {got!r}")

    def int(self, what: str) -> int:
        t = self.next(what)
        try:
            return int(t)
        except ValueError:
            raise ValueError(f"{what}: {t!r} is not an integer") from None


@dataclass
class Rule:
    id: int
    name: str
    type: str
    steps: list[tuple[str, int, int]]      # (op, arg1, arg2)
    min_size: int = 1                      # crushtool --test without --num-rep
    max_size: int = 10                     # tries min_size..max_size replicas


TUNABLE_NAMES = ("choose_local_tries", "choose_local_fallback_tries", "choose_total_tries",
                 "chooseleaf_descend_once", "chooseleaf_vary_r", "chooseleaf_stable",
                 "straw_calc_version", "allowed_bucket_algs")


LEGACY_TUNABLES = dict(choose_local_tries=2, choose_local_fallback_tries=5, choose_total_tries=19,
                       chooseleaf_descend_once=0, chooseleaf_vary_r=0, chooseleaf_stable=0,
                       straw_calc_version=0, allowed_bucket_algs=22)


class CrushMap:
    """A compiled CRUSH map: buckets (with shadow trees), rules, tunables."""

    def __init__(self) -> None:
        # A missing ``tunable`` line means the legacy (argonaut) value:
        # CrushCompiler::compile() starts from set_tunables_legacy() "so that
        # the compiled result of a given crush file is fixed for all time", and
        # crushtool -d prints only the tunables that differ from it.
        self.tunables: dict[str, int] = dict(LEGACY_TUNABLES)
        self.devices: dict[int, str] = {}
        self.device_class: dict[int, str] = {}
        self.types: dict[str, int] = {}
        self.names: dict[str, int] = {}
        self.buckets: dict[int, Bucket] = {}
        self.rules: dict[int, Rule] = {}
        self.class_bucket: dict[int, dict[str, int]] = {}
        self.classes: list[str] = []          # in order of creation (class ids)
        self.choose_args: dict[int, dict[int, tuple[list[list[int]], list[int] | None]]] = {}
        self.max_devices = 0

    # ------------------------------------------------------------ parsing
    @classmethod
    def parse(cls, text: str) -> CrushMap:
        """Parse crushtool's text format; raise ValueError on bad input."""
        try:
            return cls._parse(text)
        except IndexError:
            raise ValueError("truncated statement in crush map: a keyword is missing its "
                             "value (compare with the output of crushtool -d)") from None

    @classmethod
    def _parse(cls, text: str) -> CrushMap:
        m = cls()
        tk = _Tokens(text)
        rules_pending: list[tuple[str, list[list[str]]]] = []
        while tk.peek() is not None:
            word = tk.next()
            if word == "tunable":
                name = tk.next("tunable name")
                if name not in TUNABLE_NAMES:
                    raise ValueError(f"tunable {name!r} not recognized (known: {', '.join(TUNABLE_NAMES)})")
                value = tk.int(f"tunable {name}")
                if not 0 <= value <= MASK32:
                    raise ValueError(f"tunable {name} {value} out of range (0 to 4294967295)")
                if name in TRIES and value > MAX_TRIES:
                    raise ValueError(f"tunable {name} {value} out of range (0 to {MAX_TRIES} in this "
                                     "tool: each try walks the tree again; Ceph's profiles set 0 to 50)")
                m.tunables[name] = value
            elif word == "device":
                dev_id = tk.int("device id")
                name = tk.next("device name")
                if not 0 <= dev_id <= MAX_DEVICE_ID:
                    raise ValueError(f"device {name}: id {dev_id} out of range (0 to {MAX_DEVICE_ID} in "
                                     "this tool; Ceph's OSD ids stay below mon_max_osd, 10000 by default)")
                if dev_id in m.devices:
                    raise ValueError(f"device id {dev_id} is defined twice "
                                     f"({m.devices[dev_id]} and {name})")
                if name in m.names:
                    raise ValueError(f"device name {name!r} is defined twice")
                m.devices[dev_id] = name
                m.names[name] = dev_id
                if tk.peek() == "class":
                    tk.next()
                    m._set_class(dev_id, tk.next("class name"))
            elif word == "type":
                tid = tk.int("type id")
                tname = tk.next("type name")
                if tid < 0 or tid in m.types.values() or tname in m.types:
                    raise ValueError(f"type {tid} {tname}: id or name defined twice, or id < 0")
                m.types[tname] = tid
            elif word == "rule":
                name = tk.next("rule name")
                if name != "{":
                    tk.expect("{")
                else:
                    name = ""
                rules_pending.append((name, m._block_lines(tk)))
            elif word == "choose_args":
                m._parse_choose_args(tk)
            elif tk.peek() not in (None, "{") and tk.peek2() == "{":
                m._parse_bucket(word, tk.next(), tk)
            else:
                raise ValueError(f"unknown keyword {word!r} in crush map (expected tunable, "
                                 "device, type, a bucket 'TYPE NAME {', rule or choose_args)")
        m.max_devices = max(m.devices) + 1 if m.devices else 0
        m._check_depth()
        m._build_shadow_trees()
        for name, lines in rules_pending:
            m._parse_rule(name, lines)
        m._check_choose_args()
        return m

    def _check_depth(self) -> None:
        """Bound the nesting: the shadow trees are cloned recursively (as Ceph's
        CrushWrapper::device_class_clone does; crushtool survives 5,000 levels
        and overflows its stack before 20,000).  Buckets are defined after
        their children, so one pass in definition order finds every depth."""
        depth: dict[int, int] = {}
        for bid, b in self.buckets.items():
            depth[bid] = 1 + max((depth[i] for i in b.items if i < 0), default=0)
            if depth[bid] > MAX_DEPTH:
                raise ValueError(f"bucket {b.name!r} is nested {depth[bid]} levels deep; this tool "
                                 f"follows at most {MAX_DEPTH} levels (a real map has about a dozen "
                                 "types, from osd up to root)")

    def _check_choose_args(self) -> None:
        """As CrushCompiler does: each entry names a bucket (shadow buckets too),
        and every weight_set row and the ids list hold one value per item."""
        for index, args in self.choose_args.items():
            for bid, (wsets, ids) in args.items():
                where = f"choose_args {index}: bucket_id {bid}"
                if bid >= 0:
                    raise ValueError(f"{where} is not a bucket (bucket ids are negative)")
                if bid not in self.buckets:
                    raise ValueError(f"{where} does not exist")
                size = len(self.buckets[bid].items)
                for row in wsets:
                    if len(row) != size:
                        raise ValueError(f"{where} needs exactly {size} weights but got {len(row)} "
                                         "(one per item of the bucket in each weight_set row)")
                if ids is not None and len(ids) != size:
                    raise ValueError(f"{where} needs exactly {size} ids but got {len(ids)} "
                                     "(one per item of the bucket)")

    def _set_class(self, dev: int, cls_name: str) -> None:
        if cls_name not in self.classes:
            self.classes.append(cls_name)
        self.device_class[dev] = cls_name

    @staticmethod
    def _block_lines(tk: _Tokens) -> list[list[str]]:
        """Read '{ ... }' (already past '{') as lines of tokens, split at keywords."""
        out: list[list[str]] = []
        line_start = True
        while True:
            t = tk.raw()
            if t is None:
                raise ValueError("unexpected end of map, expected '}'")
            if t == "\n":
                line_start = True
                continue
            if t == "}":
                return out
            if t in ("id", "ruleset", "min_size", "max_size", "step", "alg", "hash", "item") \
                    or (t == "type" and line_start):
                out.append([t])
            elif out:
                out[-1].append(t)
            else:
                raise ValueError(f"unexpected {t!r} at start of block")
            line_start = False

    def _parse_bucket(self, type_name: str, name: str, tk: _Tokens) -> None:
        if type_name not in self.types:
            raise ValueError(f"bucket {name!r}: type {type_name!r} is not defined")
        if name in self.names:
            raise ValueError(f"bucket or device {name!r} is already defined")
        tk.expect("{")
        bid, alg, hsh = 0, -1, 0
        entries: list[tuple[str, int | None, int | None]] = []
        classes: dict[str, int] = {}
        for line in self._block_lines(tk):
            key = line[0]
            if key == "id":
                if len(line) == 4 and line[2] == "class":
                    cid = _int(line[1], f"bucket {name!r}: class id")
                    if not S32_MIN <= cid < 0 or cid in classes.values():
                        raise ValueError(f"bucket {name!r}: class id {cid} invalid "
                                         "(must be -2147483648 to -1 and unique)")
                    classes[line[3]] = cid
                    if line[3] not in self.classes:
                        self.classes.append(line[3])
                else:
                    bid = _int(line[1], f"bucket {name!r}: id")
            elif key == "alg":
                if line[1] not in ALGS:
                    raise ValueError(f"bucket {name!r}: unknown alg {line[1]!r} "
                                     f"(one of {', '.join(ALGS)})")
                alg = ALGS[line[1]]
            elif key == "hash":
                hsh = 0 if line[1] == "rjenkins1" else _int(line[1], f"bucket {name!r}: hash")
                if hsh != 0:
                    raise ValueError(f"bucket {name!r}: hash {hsh} unsupported (only 0, rjenkins1)")
            elif key == "item":
                iname = line[1]
                if iname == name:
                    raise ValueError(f"bucket {name!r} contains itself")
                if iname not in self.names:
                    raise ValueError(f"bucket {name!r}: item {iname!r} is not defined "
                                     "(define devices and child buckets first; "
                                     "a cycle of buckets cannot be compiled)")
                item = self.names[iname]
                w: int | None = None
                pos: int | None = None
                rest = line[2:]
                for j in range(0, len(rest) - 1, 2):
                    if rest[j] == "weight":
                        w = _float_weight(rest[j + 1])
                    elif rest[j] == "pos":
                        pos = _int(rest[j + 1], f"bucket {name!r}: pos")
                        if pos < 0:
                            raise ValueError(f"bucket {name!r}: item {iname!r} pos {pos} "
                                             "out of range (0 or more)")
                if w is None:   # a bucket's own weight, or 1.0 for a device
                    w = self.buckets[item].weight if item < 0 else 0x10000
                if item >= 0 and w > 100 * 0x10000:      # CrushCompiler's limits
                    raise ValueError(f"bucket {name!r}: device weight {w / 0x10000:.3f} of "
                                     f"{iname} out of range (0 to 100)")
                if item < 0 and w > 65535 * 0x10000:
                    raise ValueError(f"bucket {name!r}: bucket weight {w / 0x10000:.3f} of "
                                     f"{iname} out of range (0 to 65535)")
                entries.append((iname, w, pos))
            else:
                raise ValueError(f"bucket {name!r}: unexpected {key!r}")
        if alg < 0:
            raise ValueError(f"bucket {name!r}: missing alg (one of {', '.join(ALGS)})")
        total = sum(w or 0 for _, w, _ in entries)
        if alg == ALGS["uniform"] and entries:
            total = (entries[0][1] or 0) * len(entries)
            if not entries[0][1]:
                raise ValueError(f"bucket {name!r}: uniform bucket with item weight 0 "
                                 "(crushtool aborts on it; weight > 0 required)")
        if total > MASK32:
            raise ValueError(f"bucket {name!r}: total weight {total / 0x10000:.3f} "
                             "out of range (at most 65535.999)")
        size = len(entries)
        used: set[int] = set()
        for iname, _, pos in entries:
            if pos in used:
                raise ValueError(f"bucket {name!r}: item {iname!r} has explicit pos {pos}, "
                                 "which is occupied")
            if pos is not None:
                used.add(pos)
        if used and max(used) >= size:      # checked before the lists are built, as crushtool does
            iname, _, pos = max((e for e in entries if e[2] is not None), key=lambda e: e[2])
            raise ValueError(f"bucket {name!r}: item {iname!r} pos {pos} >= size {pos}")
        items, weights = [0] * size, [0] * size
        cur = 0
        for iname, w, pos in entries:
            if pos is None:
                while cur in used:
                    cur += 1
                pos = cur
                cur += 1
            items[pos], weights[pos] = self.names[iname], w or 0
        if bid == 0:
            bid = -1
            while bid in self.buckets:
                bid -= 1
        shadow_ids = {v for d in self.class_bucket.values() for v in d.values()}
        if bid in self.buckets or not S32_MIN <= bid < 0 or bid in shadow_ids or bid in classes.values():
            raise ValueError(f"bucket {name!r}: duplicate or invalid id {bid} "
                             "(must be -2147483648 to -1, unique)")
        for cid in classes.values():
            if cid in self.buckets or cid in shadow_ids:
                raise ValueError(f"bucket {name!r}: class id {cid} already used (must be unique)")
        b = Bucket(bid, name, self.types[type_name], alg, hsh, items, weights,
                   self.tunables["straw_calc_version"])
        b.prepare()
        self.buckets[bid] = b
        self.names[name] = bid
        if classes:
            self.class_bucket[bid] = classes

    def _parse_rule(self, name: str, lines: list[list[str]]) -> None:
        rid, rtype, steps = None, "replicated", []
        sizes = {"min_size": 1, "max_size": 10}
        for line in lines:
            key = line[0]
            if key in ("id", "ruleset"):
                rid = _int(line[1], f"rule {name!r}: id")
                if not 0 <= rid < 256:
                    raise ValueError(f"rule {name!r}: id {rid} out of range (0 to 255)")
            elif key == "type":
                rtype = line[1]
            elif key in ("min_size", "max_size"):
                sizes[key] = _int(line[1], f"rule {name!r}: {key}")
                if not 0 <= sizes[key] <= 255:
                    v = sizes[key]       # crushtool -c: strtol, then the low byte
                    kept = f"; crushtool -c keeps its low byte, {min(v, 2 ** 63 - 1) & 0xFF}" if v > 0 else ""
                    raise ValueError(f"rule {name!r}: {key} {v} out of range (0 to 255: one byte "
                                     f"in the binary map{kept})")
            elif key == "step":
                steps.append(self._parse_step(name, line[1:]))
        if rid is None:
            raise ValueError(f"rule {name!r}: missing id")
        if rid in self.rules:
            raise ValueError(f"rule {rid} already exists")
        self.rules[rid] = Rule(rid, name, rtype, steps, sizes["min_size"], sizes["max_size"])

    def _parse_step(self, rname: str, w: list[str]) -> tuple[str, int, int]:
        op = w[0] if w else ""
        if op == "take":
            if w[1] not in self.names:
                raise ValueError(f"rule {rname!r}: item {w[1]!r} not defined")
            item = self.names[w[1]]
            if len(w) >= 4 and w[2] == "class":
                shadow = self.class_bucket.get(item, {}).get(w[3])
                if shadow is None:
                    raise ValueError(f"rule {rname!r}: take {w[1]} has no bucket for class {w[3]!r}")
                item = shadow
            return ("take", item, 0)
        if op == "emit":
            return ("emit", 0, 0)
        if op in ("choose", "chooseleaf"):
            if len(w) != 5:
                raise ValueError(f"rule {rname!r}: bad step {' '.join(w)!r} "
                                 "(expected: choose|chooseleaf firstn|indep N type T)")
            mode, n, type_name = w[1], _int(w[2], f"rule {rname!r}: {op} count"), w[4]
            if not S32_MIN <= n <= MAX_RESULT:     # 0 and less: the pool's size minus -n
                raise ValueError(f"rule {rname!r}: {op} count {n} out of range (-2147483648 to "
                                 f"{MAX_RESULT}: a PG has at most {MAX_RESULT} OSDs)")
            if mode not in ("firstn", "indep") or w[3] != "type":
                raise ValueError(f"rule {rname!r}: bad step {' '.join(w)!r} "
                                 "(expected: choose|chooseleaf firstn|indep N type T)")
            if type_name not in self.types:
                raise ValueError(f"rule {rname!r}: type {type_name!r} not defined")
            return (f"{op}_{mode}", n, self.types[type_name])
        if op in ("set_choose_tries", "set_chooseleaf_tries", "set_choose_local_tries",
                  "set_choose_local_fallback_tries", "set_chooseleaf_vary_r",
                  "set_chooseleaf_stable"):
            if len(w) != 2:
                raise ValueError(f"rule {rname!r}: step {op} takes one integer")
            value = _int(w[1], f"rule {rname!r}: {op}")
            high = MAX_TRIES if op in TRIES else 2 ** 31 - 1
            if not S32_MIN <= value <= high:    # a C int in the binary map; 0 and less: unset
                raise ValueError(f"rule {rname!r}: {op} {value} out of range (-2147483648 to {high}"
                                 + (" in this tool: each try walks the tree again; Ceph's EC rules "
                                    "set 100)" if op in TRIES else ": a 32-bit int in the binary map)"))
            return (op, value, 0)
        raise ValueError(f"rule {rname!r}: unknown step {' '.join(w)!r}")

    def _parse_choose_args(self, tk: _Tokens) -> None:
        index = _int(tk.next("choose_args index"), "choose_args index")
        if index >= 1 << 63:                 # printed unsigned: -1 is the default set
            index -= 1 << 64
        tk.expect("{")
        args: dict[int, tuple[list[list[int]], list[int] | None]] = {}
        while tk.peek() == "{":
            tk.next()
            bucket_id, wsets, ids = None, [], None
            while tk.peek() != "}":
                key = tk.next("bucket_id, weight_set or ids")
                if key == "bucket_id":
                    bucket_id = tk.int("bucket_id")
                elif key == "weight_set":
                    tk.expect("[")
                    while tk.peek() == "[":
                        tk.next()
                        row = []
                        while tk.peek() != "]":
                            row.append(_float_weight(tk.next()))
                        tk.next()
                        wsets.append(row)
                    tk.expect("]")
                elif key == "ids":
                    tk.expect("[")
                    ids = []
                    while tk.peek() != "]":
                        ids.append(tk.int("id"))
                    tk.next()
                else:
                    raise ValueError(f"choose_args: unexpected {key!r}")
            tk.next()
            if bucket_id is None:
                raise ValueError("choose_args: entry without bucket_id")
            args[bucket_id] = (wsets, ids)
        tk.expect("}")
        self.choose_args[index] = args

    # ------------------------------------------------------- shadow trees
    # --8<-- [start:shadow]
    def _build_shadow_trees(self) -> None:
        """Clone every root once per device class, as CrushWrapper does.

        A clone ``host1~ssd`` keeps the bucket's alg, hash and type, holds only
        the devices of that class (with their weights) and the clones of the
        child buckets (weighted by the clone's total).  Its id comes from the
        text's ``id -N class ssd`` line, which is why those lines matter.
        """
        if not self.classes:
            return
        children = {i for b in self.buckets.values() for i in b.items if i < 0}
        roots = sorted(bid for bid in self.buckets if bid not in children)
        used_ids = {v for d in self.class_bucket.values() for v in d.values()}
        for root in roots:
            for cls_name in self.classes:
                self._clone(root, cls_name, used_ids)

    def _clone(self, orig_id: int, cls_name: str, used_ids: set) -> int:
        orig = self.buckets[orig_id]
        copy_name = f"{orig.name}~{cls_name}"
        if copy_name in self.names:
            return self.names[copy_name]
        items, weights = [], []
        for item, w in zip(orig.items, orig.weights):
            if item >= 0:
                if self.device_class.get(item) != cls_name:
                    continue
                items.append(item)
                weights.append(w)
            else:
                child = self._clone(item, cls_name, used_ids)
                items.append(child)
                weights.append(self.buckets[child].weight)
        bno = self.class_bucket.get(orig_id, {}).get(cls_name)
        if bno is None:                      # no id in the text: pick a free one
            bno = -1
            while bno in self.buckets or bno in used_ids:
                bno -= 1
        clone = Bucket(bno, copy_name, orig.type, orig.alg, orig.hash, items, weights,
                       self.tunables["straw_calc_version"])
        clone.prepare()
        self.buckets[bno] = clone
        self.names[copy_name] = bno
        self.class_bucket.setdefault(orig_id, {})[cls_name] = bno
        return bno
    # --8<-- [end:shadow]

    # ------------------------------------------------------ bucket choice
    # --8<-- [start:straw2]
    def _straw2(self, b: Bucket, x: int, r: int, arg, position: int) -> int:
        """Each item draws ln(u)/weight; the largest draw wins (exponential race).

        The mapper runs this for buckets with choose_args; otherwise
        _straw2_pass computes the same winners, many buckets per hash pass."""
        ln = _LN_MINUS_ONE or ln_table()
        weights, ids = b.weights, b.items
        if arg is not None:                  # choose_args: balancer weight sets
            wsets, arg_ids = arg
            if wsets:
                weights = wsets[min(position, len(wsets) - 1)]
            if arg_ids:
                ids = arg_ids
        high, high_draw = 0, 0
        for i, w in enumerate(weights):
            if w:
                u = hash32_3(x, ids[i], r) & 0xFFFF
                draw = -((-ln[u]) // w)      # C division truncates toward zero
            else:
                draw = S64_MIN               # weight 0: never chosen (unless all are 0)
            if i == 0 or draw > high_draw:
                high, high_draw = i, draw
        return b.items[high]
    # --8<-- [end:straw2]

    @staticmethod
    def _straw2_pass(jobs: list[tuple[Bucket, int]], x: int, work: dict) -> None:
        """_straw2 for several (bucket, r) at once: all their items in one hash
        pass.  The largest draw -(nl // w) is the smallest nl // w, with
        nl = -ln(u) >= 0; the first of equal draws wins.  Winners go to work."""
        ids = rs = shift = 0
        weights: list[int] = []
        for b, r in jobs:
            ids |= b.lane_ids << shift
            rs |= (r * b.lane_ones) << shift
            weights += b.lane_weights
            shift += LANE * len(b.items)
        nl = _NEG_LN or neg_ln_table()
        q = list(map(floordiv, map(nl.__getitem__, hash32_3_lanes(x, ids, rs, len(weights))),
                     weights))
        start = 0
        for b, r in jobs:
            end = start + len(b.items)
            for i in b.zero_weights:         # weight 0: never chosen (unless all are 0)
                q[start + i] = 1 << 64
            work[b.id, r] = b.items[q.index(min(q[start:end]), start) - start]
            start = end

    def _prefetch(self, bucket: Bucket, x: int, numrep: int, type_: int, leaf: bool,
                  indep: bool, vary_r: int, stable: int, work: dict) -> None:
        """Fill work with the straw2 choices a choose step will most likely ask
        for, level by level, one hash pass per level of the tree.

        Replica rep first tries r = rep at every level down to type_; chooseleaf
        then goes on below with r = sub_r (firstn: as _choose_firstn computes it
        for a first try; indep: rep + r).  A retry asks for other (bucket, r)
        pairs, which _bucket_choose computes when it gets there."""
        jobs = [(bucket, rep, type_, rep) for rep in range(numrep)]   # (bucket, r, target type, rep)
        while jobs:
            jobs = [j for j in jobs if j[0].alg == ALGS["straw2"] and j[0].items]
            batch = [(b, r) for b, r, _, _ in jobs if len(b.items) > 1 and (b.id, r) not in work]
            if batch:
                self._straw2_pass(batch, x, work)
            nxt = []
            for b, r, target, rep in jobs:
                item = work[b.id, r] if len(b.items) > 1 else b.items[0]
                if item not in self.buckets:
                    continue                     # a device: this replica is done
                child = self.buckets[item]
                if child.type != target:         # descend with the same r
                    nxt.append((child, r, target, rep))
                elif leaf and target == type_:   # chooseleaf: on to a device below
                    if indep:
                        sub_r = rep + r
                    else:
                        sub_r = (0 if stable else rep) + (r >> (vary_r - 1) if vary_r else 0)
                    nxt.append((child, sub_r, 0, rep))
            jobs = nxt

    def _perm_choose(self, b: Bucket, work: dict[int, list], x: int, r: int) -> int:
        """uniform buckets: a pseudo-random permutation of the items, built lazily."""
        size = len(b.items)
        pr = r % size
        st = work.setdefault(b.id, [None, 0, list(range(size))])   # perm_x, perm_n, perm
        perm = st[2]
        if st[0] != (x & MASK32) or st[1] == 0:
            st[0] = x & MASK32
            if pr == 0:
                s = hash32_3(x, b.id, 0) % size
                perm[0] = s
                st[1] = 0xFFFF
                return b.items[s]
            for i in range(size):
                perm[i] = i
            st[1] = 0
        elif st[1] == 0xFFFF:
            for i in range(1, size):
                perm[i] = i
            perm[perm[0]] = 0
            st[1] = 1
        while st[1] <= pr:
            p = st[1]
            if p < size - 1:
                i = hash32_3(x, b.id, p) % (size - p)
                if i:
                    perm[p + i], perm[p] = perm[p], perm[p + i]
            st[1] += 1
        return b.items[perm[pr]]

    # --8<-- [start:straw_choose]
    @staticmethod
    def _straw_choose(b: Bucket, x: int, r: int) -> int:
        """straw (v1): 16-bit hash times the precomputed straw length, longest wins."""
        us = hash32_3_lanes(x, b.lane_ids, r * b.lane_ones, len(b.items))
        draws = [u * straw for u, straw in zip(us, b.straws)]
        return b.items[draws.index(max(draws))]        # the first of equal draws
    # --8<-- [end:straw_choose]

    def _list_choose(self, b: Bucket, x: int, r: int) -> int:
        for i in range(len(b.items) - 1, -1, -1):
            w = hash32_4(x, b.items[i], r, b.id) & 0xFFFF
            w = (w * b.sum_weights[i]) >> 16
            if w < b.weights[i]:
                return b.items[i]
        return b.items[0]

    def _tree_choose(self, b: Bucket, x: int, r: int) -> int:
        n = b.num_nodes >> 1
        while not n & 1:
            w = b.node_weights[n]
            t = (hash32_4(x, n, r, b.id) * w) >> 32
            h = _tree_height(n)
            left = n - (1 << (h - 1))
            n = left if t < b.node_weights[left] else n + (1 << (h - 1))
        if n >> 1 >= len(b.items):
            # all weights 0: the descent keeps right, to a padding leaf when the
            # size is not a power of two (crushtool reads past its item array there)
            raise ValueError(f"tree bucket {b.name!r}: every item weight is 0, so the descent ends "
                             f"on an empty leaf past its {len(b.items)} items (crushtool reads beyond "
                             "the bucket there: an undefined result); give an item a weight above 0")
        return b.items[n >> 1]

    def _bucket_choose(self, b: Bucket, work, x: int, r: int, cargs, position: int) -> int:
        alg = b.alg
        if alg == 5:
            arg = cargs.get(b.id) if cargs else None
            if arg is not None:               # weight sets may depend on the position
                return self._straw2(b, x, r, arg, position)
            # x is fixed during one do_rule call, and retries revisit the same
            # (bucket, r) pairs (r = rep + ftotal), so remember the winners
            item = work.get((b.id, r))
            if item is None:
                if len(b.items) == 1:
                    return b.items[0]
                self._straw2_pass([(b, r)], x, work)
                item = work[b.id, r]
            return item
        if alg == 4:
            return self._straw_choose(b, x, r)
        if alg == 1:
            return self._perm_choose(b, work, x, r)
        if alg == 2:
            return self._list_choose(b, x, r)
        return self._tree_choose(b, x, r)

    @staticmethod
    def _is_out(weight: list[int], item: int, x: int) -> bool:
        """An OSD with reweight w < 1.0 rejects a fraction (1 - w) of inputs."""
        if item >= len(weight):
            return True
        w = weight[item]
        if w >= 0x10000:
            return False
        if w == 0:
            return True
        return (hash32_2(x, item) & 0xFFFF) >= w

    def _type_of(self, item: int) -> int:
        return self.buckets[item].type if item < 0 else 0

    # ------------------------------------------------------ firstn / indep
    # --8<-- [start:firstn]
    def _choose_firstn(self, ctx, bucket: Bucket, x: int, numrep: int, type_: int,
                       out: list[int], outpos: int, out_size: int, tries: int,
                       recurse_tries: int, local_retries: int, local_fallback: int,
                       recurse_to_leaf: bool, vary_r: int, stable: int,
                       out2: list[int] | None, parent_r: int) -> int:
        """Depth-first: fill replicas one by one; on a collision or an out OSD,
        retry with r' = r + ftotal from the top (the paper's "first n")."""
        weight, work, cargs = ctx
        count = out_size
        rep = 0 if stable else outpos
        while rep < numrep and count > 0:
            ftotal = 0
            skip_rep = False
            while True:                       # retry_descent
                retry_descent = False
                inb = bucket
                flocal = 0
                while True:                   # retry_bucket
                    collide = False
                    retry_bucket = False
                    r = rep + parent_r + ftotal
                    reject = False
                    item = 0
                    if not inb.items:
                        reject = True
                    else:
                        if local_fallback > 0 and flocal >= len(inb.items) >> 1 and flocal > local_fallback:
                            item = self._perm_choose(inb, work, x, r)
                        else:
                            item = work.get((inb.id, r))    # a straw2 choice made before
                            if item is None:
                                item = self._bucket_choose(inb, work, x, r, cargs, outpos)
                        if item >= self.max_devices:
                            skip_rep = True
                            break
                        itemtype = self.buckets[item].type if item < 0 else 0
                        if itemtype != type_:
                            if item >= 0 or item not in self.buckets:
                                skip_rep = True
                                break
                            inb = self.buckets[item]
                            retry_bucket = True
                            continue
                        collide = item in out[:outpos]
                        if not collide and recurse_to_leaf:
                            if item < 0:
                                sub_r = r >> (vary_r - 1) if vary_r else 0
                                got = self._choose_firstn(
                                    ctx, self.buckets[item], x, 1 if stable else outpos + 1, 0,
                                    out2, outpos, count, recurse_tries, 0, local_retries,
                                    local_fallback, False, vary_r, stable, None, sub_r)
                                if got <= outpos:
                                    reject = True
                            else:
                                out2[outpos] = item
                        if not reject and not collide and itemtype == 0:
                            reject = (item >= len(weight) or weight[item] < 0x10000) \
                                and self._is_out(weight, item, x)
                    if reject or collide:
                        ftotal += 1
                        flocal += 1
                        if collide and flocal <= local_retries:
                            retry_bucket = True
                        elif local_fallback > 0 and flocal <= len(inb.items) + local_fallback:
                            retry_bucket = True
                        elif ftotal < tries:
                            retry_descent = True
                        else:
                            skip_rep = True
                    if not retry_bucket:
                        break
                if not retry_descent or skip_rep:
                    break
            if not skip_rep:
                out[outpos] = item
                outpos += 1
                count -= 1
            rep += 1
        return outpos
    # --8<-- [end:firstn]

    # --8<-- [start:indep]
    def _choose_indep(self, ctx, bucket: Bucket, x: int, left: int, numrep: int, type_: int,
                      out: list[int], outpos: int, tries: int, recurse_tries: int,
                      recurse_to_leaf: bool, out2: list[int] | None, parent_r: int) -> None:
        """Breadth-first and positional: slot k keeps its OSD when another slot
        fails, and a slot that finds nothing stays a hole (CRUSH_ITEM_NONE)."""
        weight, work, cargs = ctx
        endpos = outpos + left
        for rep in range(outpos, endpos):
            out[rep] = CRUSH_ITEM_UNDEF
            if out2 is not None:
                out2[rep] = CRUSH_ITEM_UNDEF
        ftotal = 0
        while left > 0 and ftotal < tries:
            for rep in range(outpos, endpos):
                if out[rep] != CRUSH_ITEM_UNDEF:
                    continue
                inb = bucket
                while True:
                    r = rep + parent_r
                    if inb.alg == 1 and len(inb.items) % numrep == 0:
                        r += (numrep + 1) * ftotal
                    else:
                        r += numrep * ftotal
                    if not inb.items:
                        break
                    item = self._bucket_choose(inb, work, x, r, cargs, outpos)
                    if item >= self.max_devices:
                        out[rep] = CRUSH_ITEM_NONE
                        if out2 is not None:
                            out2[rep] = CRUSH_ITEM_NONE
                        left -= 1
                        break
                    itemtype = self._type_of(item)
                    if itemtype != type_:
                        if item >= 0 or item not in self.buckets:
                            out[rep] = CRUSH_ITEM_NONE
                            if out2 is not None:
                                out2[rep] = CRUSH_ITEM_NONE
                            left -= 1
                            break
                        inb = self.buckets[item]
                        continue
                    if item in out[outpos:endpos]:
                        break                  # collision: try again next round
                    if recurse_to_leaf:
                        if item < 0:
                            self._choose_indep(ctx, self.buckets[item], x, 1, numrep, 0,
                                               out2, rep, recurse_tries, 0, False, None, r)
                            if out2[rep] == CRUSH_ITEM_NONE:
                                break
                        elif out2 is not None:
                            out2[rep] = item
                    if itemtype == 0 and self._is_out(weight, item, x):
                        break
                    out[rep] = item
                    left -= 1
                    break
            ftotal += 1
        for rep in range(outpos, endpos):
            if out[rep] == CRUSH_ITEM_UNDEF:
                out[rep] = CRUSH_ITEM_NONE
            if out2 is not None and out2[rep] == CRUSH_ITEM_UNDEF:
                out2[rep] = CRUSH_ITEM_NONE
    # --8<-- [end:indep]

    # --8<-- [start:do_rule]
    def do_rule(self, rule_id: int, x: int, result_max: int,
                weight: list[int] | None = None, choose_args_index: int = -1) -> list[int]:
        """Map input x with a rule to at most result_max items (crush_do_rule)."""
        if rule_id not in self.rules:
            raise ValueError(f"rule {rule_id} does not exist (rules: {sorted(self.rules)})")
        whole("num-rep", result_max, 1, MAX_RESULT)
        whole("x", x, -(1 << 63), (1 << 64) - 1)       # hashed as 32 bits
        if weight is None:
            weight = self.default_weights()
        cargs = self.choose_args.get(choose_args_index, self.choose_args.get(-1))
        ctx = (weight, {}, cargs)
        t = self.tunables
        choose_tries = t["choose_total_tries"] + 1   # the tunable counts retries
        choose_leaf_tries = 0
        local_retries = t["choose_local_tries"]
        local_fallback = t["choose_local_fallback_tries"]
        vary_r = t["chooseleaf_vary_r"]
        stable = t["chooseleaf_stable"]
        result: list[int] = []
        w: list[int] = []
        for op, arg1, arg2 in self.rules[rule_id].steps:
            if op == "take":
                if (0 <= arg1 < self.max_devices) or arg1 in self.buckets:
                    w = [arg1]
            elif op == "set_choose_tries":
                if arg1 > 0:
                    choose_tries = arg1
            elif op == "set_chooseleaf_tries":
                if arg1 > 0:
                    choose_leaf_tries = arg1
            elif op == "set_choose_local_tries":
                if arg1 >= 0:
                    local_retries = arg1
            elif op == "set_choose_local_fallback_tries":
                if arg1 >= 0:
                    local_fallback = arg1
            elif op == "set_chooseleaf_vary_r":
                if arg1 >= 0:
                    vary_r = arg1
            elif op == "set_chooseleaf_stable":
                if arg1 >= 0:
                    stable = arg1
            elif op.startswith("choose"):
                if not w:
                    continue
                firstn = op.endswith("firstn")
                leaf = op.startswith("chooseleaf")
                o: list[int] = [0] * result_max
                c: list[int] = [0] * result_max
                osize = 0
                for start in w:
                    numrep = arg1
                    if numrep <= 0:
                        numrep += result_max
                        if numrep <= 0:
                            continue
                    if start not in self.buckets:
                        continue           # a device or CRUSH_ITEM_NONE
                    if not cargs:          # hash the likely straw2 choices in few passes
                        self._prefetch(self.buckets[start], x, min(numrep, result_max - osize),
                                       arg2, leaf, not firstn, vary_r, stable, ctx[1])
                    if firstn:
                        if choose_leaf_tries:
                            recurse_tries = choose_leaf_tries
                        elif t["chooseleaf_descend_once"]:
                            recurse_tries = 1
                        else:
                            recurse_tries = choose_tries
                        oo, cc = o[osize:], c[osize:]
                        got = self._choose_firstn(
                            ctx, self.buckets[start], x, numrep, arg2, oo, 0,
                            result_max - osize, choose_tries, recurse_tries, local_retries,
                            local_fallback, leaf, vary_r, stable, cc, 0)
                        o[osize:osize + got] = oo[:got]
                        c[osize:osize + got] = cc[:got]
                        osize += got
                    else:
                        out_size = min(numrep, result_max - osize)
                        oo, cc = [0] * out_size, [0] * out_size
                        self._choose_indep(ctx, self.buckets[start], x, out_size, numrep, arg2,
                                           oo, 0, choose_tries,
                                           choose_leaf_tries if choose_leaf_tries else 1,
                                           leaf, cc, 0)
                        o[osize:osize + out_size] = oo
                        c[osize:osize + out_size] = cc
                        osize += out_size
                w = (c if leaf else o)[:osize]
            elif op == "emit":
                for item in w:
                    if len(result) < result_max:
                        result.append(item)
                w = []
        return result
    # --8<-- [end:do_rule]

    def tries_per_replica(self) -> int:
        """The most tries a replica may take: choose_total_tries + 1, or a rule's set_choose_tries."""
        steps = [a for r in self.rules.values() for op, a, _ in r.steps if op == "set_choose_tries"]
        return max([self.tunables["choose_total_tries"] + 1, *steps])

    def check_run(self, placements: int, narrow: str) -> None:
        """Refuse a run of the script that would take more than about ten seconds."""
        tries = placements * self.tries_per_replica()
        if placements > MAX_PLACEMENTS or tries > MAX_RUN_TRIES:
            raise ValueError(f"this run asks for {placements} placements of up to "
                             f"{self.tries_per_replica()} tries each; this tool does at most "
                             f"{MAX_PLACEMENTS} placements and {MAX_RUN_TRIES} tries per run "
                             f"(about ten seconds of pure Python): {narrow}")

    def default_weights(self) -> list[int]:
        """crushtool --test: 1.0 for every device placed in a bucket, else 0."""
        present = {i for b in self.buckets.values() for i in b.items if i >= 0}
        return [0x10000 if d in present else 0 for d in range(self.max_devices)]


def read_map(path: str) -> CrushMap:
    """Parse the text map in a file or a pipe, read through the guard in safety.py: at most
    MAX_MAP_BYTES, no devices, directories or /proc files; ValueError on any problem."""
    try:
        text = read_limited(path, MAX_MAP_BYTES, "crush map").decode("utf-8")
    except OSError as e:
        raise ValueError(f"cannot read map {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"map {path} is not text (decompile it with crushtool -d)") from None
    return CrushMap.parse(text)


def format_mapping(rule: int, x: int, out: list[int]) -> str:
    """One line of ``crushtool --test --show-mappings``."""
    return f"CRUSH rule {rule} x {x} [{','.join(str(o) for o in out)}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="CRUSH mappings from a crushtool text map "
                                            "(twin of crushtool --test --show-mappings)")
    p.add_argument("-i", dest="map", required=True, help="map in crushtool text format (crushtool -d)")
    p.add_argument("--test", action="store_true", help="accepted for crushtool compatibility")
    p.add_argument("--rule", type=int, default=-1, help="rule id (default: all rules)")
    p.add_argument("--num-rep", type=int, default=None,
                   help="number of replicas / EC k+m (default: each of the rule's "
                        "min_size..max_size, as crushtool does)")
    p.add_argument("--min-x", type=int, default=0)
    p.add_argument("--max-x", type=int, default=1023)
    p.add_argument("--x", type=int, default=None, help="a single input (sets min-x = max-x)")
    p.add_argument("--show-mappings", action="store_true", help="print one line per x")
    p.add_argument("--show-bad-mappings", action="store_true",
                   help="print inputs that got fewer OSDs than asked, or a hole")
    p.add_argument("--weight", nargs=2, action="append", default=[], metavar=("DEV", "WEIGHT"),
                   help="reweight of a device, 0.0 to 1.0, like crushtool --weight (repeatable)")
    a = p.parse_args(argv)
    try:
        if a.x is not None:
            a.min_x = a.max_x = a.x
        if not 0 <= a.min_x <= a.max_x <= 2 ** 31 - 1:        # crushtool reads x as an int
            raise ValueError(f"x range {a.min_x}..{a.max_x} invalid (0 <= min-x <= max-x <= 2147483647)")
        if a.num_rep is not None and not 1 <= a.num_rep <= MAX_RESULT:
            raise ValueError(f"num-rep {a.num_rep} out of range (1 to {MAX_RESULT}: a pool's size "
                             "is one byte)")
        m = read_map(a.map)
        if not m.rules:
            raise ValueError(f"map {a.map} defines no rules (empty, or not a crush map)")
        if a.rule >= 0 and a.rule not in m.rules:
            raise ValueError(f"rule {a.rule} does not exist (rules: {sorted(m.rules)})")
        rules = sorted(m.rules) if a.rule < 0 else [a.rule]
        reps = {r: ([a.num_rep] if a.num_rep is not None
                    else range(max(m.rules[r].min_size, 1), m.rules[r].max_size + 1)) for r in rules}
        m.check_run((a.max_x - a.min_x + 1) * sum(sum(nrs) for nrs in reps.values()),
                    "narrow --min-x..--max-x, or give --rule and --num-rep")
        if not (a.show_mappings or a.show_bad_mappings):
            print("WARNING: no output selected; use --show-mappings or --show-bad-mappings",
                  file=sys.stderr)
        weight = m.default_weights()
        for dev, value in a.weight:       # CrushTester: (int)(f * 0x10000), clamped to [0, 1.0]
            d, f = _int(dev, "--weight device"), _float_arg(value)
            if not 0 <= d < m.max_devices:
                raise ValueError(f"--weight device {d} out of range (0 to {m.max_devices - 1})")
            weight[d] = min(max(int(f * 0x10000), 0), 0x10000)
        lines = []
        for r in rules:
            for nr in reps[r]:
                for x in range(a.min_x, a.max_x + 1):
                    out = m.do_rule(r, x, nr, weight, 0)
                    if a.show_mappings:
                        lines.append(format_mapping(r, x, out))
                    if a.show_bad_mappings and (len(out) != nr or CRUSH_ITEM_NONE in out):
                        lines.append(f"bad mapping rule {r} x {x} num_rep {nr} result "
                                     f"[{','.join(str(o) for o in out)}]")
        sys.stdout.write("\n".join(lines) + ("\n" if lines else ""))
    except ValueError as e:
        print(printable(f"crush.py: {e}"), file=sys.stderr)
        return 2
    return 0


def _float_arg(text: str) -> float:
    try:
        f = float(text)
    except ValueError:
        raise ValueError(f"--weight value {text!r} is not a number (0.0 to 1.0)") from None
    if not -32768 < f < 32768:      # inf and nan too: crushtool's (int)(f * 0x10000) is undefined
        raise ValueError(f"--weight value {text!r} out of range (0.0 to 1.0; crushtool clamps values "
                         "to it, but past +-32767 its 16.16 conversion overflows)")
    return f


if __name__ == "__main__":
    sys.exit(main())
