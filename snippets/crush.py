"""CRUSH in plain Python: the placement function Ceph uses to map a PG to OSDs.

This module holds a compiled CRUSH map (buckets, rules, tunables) and
computes the same mappings as Ceph's C implementation (src/crush/mapper.c,
hash.c, crush_ln_table.h, builder.c of Ceph 16.2); snippets/crush_text.py
reads crushtool's text format (the output of ``crushtool -d``) into it:

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
import sys
from array import array
from operator import floordiv
from dataclasses import dataclass, field
from decimal import Decimal, getcontext

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
MAX_RESULT = 255                 # OSDs per PG: a pool's size and a rule's max_size are one byte
# Work: every bucket a mapping passes is a step, and a retry (after a
# collision, a rejected OSD or an empty bucket) walks down again.  A map may ask
# for 100 tries per replica, nest them (chooseleaf: up to 100 below each of 100),
# retry inside a bucket once per item (choose_local_fallback_tries) or stack a
# hundred levels of buckets, so one mapping of a hostile map can take millions of
# steps; a normal map takes a few per replica.  do_rule counts the steps it takes
# and stops with a ValueError past MAX_RUN_STEPS: per call, or per run when a
# script shares one StepBudget among its calls.  A step through a bucket of n
# items counts what a choice in it costs (Bucket.cost, measured against a
# straw2 choice of a few items): straw2 hashes all n items in one pass, 1 + n //
# STEP_ITEMS; straw 3 + n // STEP_ITEMS; tree hashes once per level, 4 per
# level; list may hash every item, 1 + 2n; uniform 4 + n // 64.  A call counts
# CALL_STEPS for itself and for each replica it asks for (the setup and first
# try take about that long).  MAX_RUN_STEPS take 4-5 s of CPU on this book's
# 2-core test machine.
MAX_RUN_STEPS = 5 << 20
STEP_ITEMS = 6
CALL_STEPS = 8
# A firstn replica that collides again and again (more replicas than hosts)
# retries with r + 1, r + 2 ... through the same small buckets, each a new
# straw2 pass; a pass of up to AHEAD_LANES items costs about what one of a few
# does (the interpreter's work per operation dominates, not the width), so
# from the second retry on _bucket_choose hashes the next r values too.
AHEAD_LANES = 32


class StepBudget:
    """The steps left to a run (MAX_RUN_STEPS at the start): do_rule takes them as it
    passes buckets and calls exhausted() when they run out.

    >>> m = CrushMap.parse(EXAMPLE_MAP)
    >>> m.budget = StepBudget("this run", "", steps=100)
    >>> m.do_rule(0, 1, 3)                   # 3 hosts, 3 replicas
    [3, 0, 4]
    >>> m.budget.left      # 100 - 8 x (3 + 1) - 7: a root and a host step each, one retry
    61
    >>> m.do_rule(0, 0, 5)                   # 2 replicas too many: 51 tries each
    Traceback (most recent call last):
    ...
    ValueError: this run took more than 100 steps; this tool stops there, after seconds of pure Python (a step is one bucket passed, weighted by what a choice in it costs; a replica is tried again after a collision or a rejected OSD, up to choose_total_tries + 1 or set_choose_tries times: many when a rule asks for more replicas than it finds failure domains)
    """

    def __init__(self, what: str, hint: str, steps: int = MAX_RUN_STEPS) -> None:
        self.what, self.hint, self.steps = what, hint, steps
        self.left = steps

    def exhausted(self) -> None:
        raise ValueError(f"{self.what} took more than {self.steps} steps; this tool stops there, after "
                         "seconds of pure Python (a step is one bucket passed, weighted by what a choice "
                         "in it costs; a replica is tried again after a collision or a rejected OSD, up to "
                         "choose_total_tries + 1 or set_choose_tries times: many when a rule asks for "
                         f"more replicas than it finds failure domains){self.hint}")


def whole(what: str, value: object, low: int, high: int) -> int:
    """value if it is a whole number from low to high, else a ValueError naming what."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} {value!r} out of range ({low} to {high})")
    return value


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
    """values[i] & 0xffffffff in lane i (bits LANE*i and up), built from bytes in one
    step (a sum of shifted ints takes time quadratic in the number of lanes)."""
    return int.from_bytes(b"".join((v & MASK32).to_bytes(LANE // 8, "little") for v in values), "little")


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
    cost: int = 1                     # steps a choice in this bucket counts (StepBudget)
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
        n = len(self.items)
        self.cost = {ALGS["uniform"]: 4 + n // 64, ALGS["list"]: 1 + 2 * n,
                     ALGS["tree"]: 4 * ((n - 1).bit_length() + 1 if n else 1),
                     ALGS["straw"]: 3 + n // STEP_ITEMS}.get(self.alg, 1 + n // STEP_ITEMS)
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


@dataclass
class Rule:
    id: int
    name: str
    type: str
    steps: list[tuple[str, int, int]]      # (op, arg1, arg2)
    min_size: int = 1                      # crushtool --test without --num-rep
    max_size: int = 10                     # tries min_size..max_size replicas


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
        self._last_free_id = -1               # where the search for a free bucket id goes on
        self._largest = -1                    # items in the largest bucket, counted on first use
        # The step budget do_rule spends: a script sets one for its whole run; None:
        # each call starts with MAX_RUN_STEPS of its own.
        self.budget: StepBudget | None = None
        self._own_budget: StepBudget | None = None

    @classmethod
    def parse(cls, text: str) -> CrushMap:
        """Read crushtool's text format (crush_text.parse); ValueError on a bad map."""
        import crush_text                    # imports this module: loaded on first use
        return crush_text.parse(text)

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
            bno = self._free_id(used_ids)
        clone = Bucket(bno, copy_name, orig.type, orig.alg, orig.hash, items, weights,
                       self.tunables["straw_calc_version"])
        clone.prepare()
        self.buckets[bno] = clone
        self.names[copy_name] = bno
        self.class_bucket.setdefault(orig_id, {})[cls_name] = bno
        return bno
    # --8<-- [end:shadow]

    def _free_id(self, used_ids: set) -> int:
        """The first bucket id from -1 down that is neither a bucket nor a class id;
        ids are only ever added, so the search goes on where the last one stopped."""
        bno = self._last_free_id
        while bno in self.buckets or bno in used_ids:
            bno -= 1
        self._last_free_id = bno
        return bno

    def largest_bucket(self) -> int:
        """Items in the map's largest bucket (counted once: a parsed map does not change)."""
        if self._largest < 0:
            self._largest = max((len(b.items) for b in self.buckets.values()), default=0)
        return self._largest

    def _call_budget(self) -> StepBudget:
        """A do_rule call's own budget (no run budget set): MAX_RUN_STEPS, reused call after call."""
        if self._own_budget is None:
            self._own_budget = StepBudget("this do_rule call", "")
        self._own_budget.left = MAX_RUN_STEPS
        return self._own_budget

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

    @staticmethod
    def _straw_choose(b: Bucket, x: int, r: int) -> int:
        """straw (v1): 16-bit hash times the precomputed straw length, longest wins."""
        us = hash32_3_lanes(x, b.lane_ids, r * b.lane_ones, len(b.items))
        draws = [u * straw for u, straw in zip(us, b.straws)]
        return b.items[draws.index(max(draws))]        # the first of equal draws

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

    def _bucket_choose(self, b: Bucket, work, x: int, r: int, cargs, position: int, ahead: int = 1) -> int:
        """The item bucket b chooses for r.  A straw2 bucket keeps its winners in work; with
        ahead > 1 it also hashes r + 1, r + 2 ... up to `ahead` items in the same pass."""
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
                self._straw2_pass([(b, r + i) for i in range(max(1, ahead // len(b.items)))
                                   if not i or (b.id, r + i) not in work], x, work)
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
    def _choose_firstn(self, ctx, bucket: Bucket, x: int, numrep: int, type_: int,
                       out: list[int], outpos: int, out_size: int, tries: int,
                       recurse_tries: int, local_retries: int, local_fallback: int,
                       recurse_to_leaf: bool, vary_r: int, stable: int,
                       out2: list[int] | None, parent_r: int) -> int:
        """Depth-first: fill replicas one by one; on a collision or an out OSD,
        retry with r' = r + ftotal from the top (the paper's "first n")."""
        weight, work, cargs, budget = ctx
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
                    budget.left -= inb.cost
                    if budget.left < 0:
                        budget.exhausted()
                    if not inb.items:
                        reject = True
                    else:
                        if local_fallback > 0 and flocal >= len(inb.items) >> 1 and flocal > local_fallback:
                            item = self._perm_choose(inb, work, x, r)
                        else:
                            item = work.get((inb.id, r))    # a straw2 choice made before
                            if item is None:               # from the second retry on, hash ahead
                                item = self._bucket_choose(inb, work, x, r, cargs, outpos,
                                                           AHEAD_LANES if ftotal > 1 else 1)
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

    # --8<-- [start:indep]
    def _choose_indep(self, ctx, bucket: Bucket, x: int, left: int, numrep: int, type_: int,
                      out: list[int], outpos: int, tries: int, recurse_tries: int,
                      recurse_to_leaf: bool, out2: list[int] | None, parent_r: int) -> None:
        """Breadth-first and positional: slot k keeps its OSD when another slot
        fails, and a slot that finds nothing stays a hole (CRUSH_ITEM_NONE)."""
        weight, work, cargs, budget = ctx
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
                    budget.left -= inb.cost        # a step: 1 + items // STEP_ITEMS
                    if budget.left < 0:
                        budget.exhausted()
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

    def do_rule(self, rule_id: int, x: int, result_max: int,
                weight: list[int] | None = None, choose_args_index: int = -1) -> list[int]:
        """Map input x with a rule to at most result_max items (crush_do_rule); ValueError
        past the step budget (self.budget, or MAX_RUN_STEPS for this call alone)."""
        if rule_id not in self.rules:
            raise ValueError(f"rule {rule_id} does not exist (rules: {sorted(self.rules)})")
        if type(result_max) is not int or not 0 < result_max <= MAX_RESULT or type(x) is not int:
            whole("num-rep", result_max, 1, MAX_RESULT)   # the message; a subclass of int passes
            whole("x", x, -(1 << 63), (1 << 64) - 1)       # hashed as 32 bits
        if weight is None:
            weight = self.default_weights()
        cargs = self.choose_args.get(choose_args_index, self.choose_args.get(-1))
        budget = self.budget or self._call_budget()
        budget.left -= CALL_STEPS * (result_max + 1)
        if budget.left < 0:
            budget.exhausted()
        ctx = (weight, {}, cargs, budget)
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

    def default_weights(self) -> list[int]:
        """crushtool --test: 1.0 for every device placed in a bucket, else 0."""
        present = {i for b in self.buckets.values() for i in b.items if i >= 0}
        return [0x10000 if d in present else 0 for d in range(self.max_devices)]


def format_mapping(rule: int, x: int, out: list[int]) -> str:
    """One line of ``crushtool --test --show-mappings``."""
    return f"CRUSH rule {rule} x {x} [{','.join(str(o) for o in out)}]"


def main(argv: list[str] | None = None) -> int:
    import crush_text                    # the text map's reader imports this module
    from safety import printable
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
        if not 0 <= a.min_x <= a.max_x <= 2 ** 31 - 1:    # crushtool reads x as an int
            raise ValueError(f"x range {a.min_x}..{a.max_x} invalid (0 <= min-x <= max-x <= 2147483647)")
        if a.num_rep is not None and not 1 <= a.num_rep <= MAX_RESULT:
            raise ValueError(f"num-rep {a.num_rep} out of range (1 to {MAX_RESULT}: a pool's size "
                             "is one byte)")
        m = crush_text.read_map(a.map)
        if not m.rules:
            raise ValueError(f"map {a.map} defines no rules (empty, or not a crush map)")
        if a.rule >= 0 and a.rule not in m.rules:
            raise ValueError(f"rule {a.rule} does not exist (rules: {sorted(m.rules)})")
        rules = sorted(m.rules) if a.rule < 0 else [a.rule]
        reps = {r: ([a.num_rep] if a.num_rep is not None
                    else range(max(m.rules[r].min_size, 1), m.rules[r].max_size + 1)) for r in rules}
        crush_text.start_run(m, (a.max_x - a.min_x + 1) * sum(sum(nrs) for nrs in reps.values()),
                             "narrow --min-x..--max-x, or give --rule and --num-rep")
        weight = m.default_weights()
        for dev, value in a.weight:       # CrushTester: (int)(f * 0x10000), clamped to [0, 1.0]
            d, f = crush_text.int_field(dev, "--weight device"), _float_arg(value)
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
        if not (a.show_mappings or a.show_bad_mappings):      # after the run: one line on an error
            print("WARNING: no output selected; use --show-mappings or --show-bad-mappings",
                  file=sys.stderr)
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
