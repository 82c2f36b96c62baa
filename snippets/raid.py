"""RAID 5/6 parity, Linux md's left-symmetric layout and a RAID capacity calculator.

What this module demonstrates, in the order the RAID chapter uses it:

* ``xor_parity``: RAID 4/5 parity P, the XOR of the data blocks of a stripe.
* ``raid6_pq``: RAID 6 syndromes P and Q over GF(2^8) with polynomial 0x11d and
  generator 2, the convention of Linux md (lib/raid6) and Intel ISA-L
  (``pq_gen``): ``Q = g^0*D0 + g^1*D1 + ... + g^(k-1)*D(k-1)``.
* ``raid6_recover``: rebuild any one or two lost blocks of a stripe (data, P or Q).
* ``md_map_chunk``: where md puts a logical chunk (member disk, stripe) and the
  parity disk(s) of that stripe, following ``raid5_compute_sector`` in Linux
  ``drivers/md/raid5.c`` for RAID 4, RAID 5 and RAID 6 (left-symmetric, md's default).
* ``plan``: usable capacity, fault tolerance, minimum disks, write penalty,
  random IOPS, rebuild time and the probability of an unrecoverable read error
  (URE) during a rebuild, for RAID 0/1/4/5/6/10/50/60.

Whole blocks are handled as Python integers, so one ``^`` XORs a whole block
and five integer operations divide every byte of a block by 2 in GF(2^8).

>>> p = xor_parity([b"\\x0f\\x00", b"\\xf0\\x01"])
>>> p.hex()
'ff01'
>>> xor_parity([b"ab", b"abc"])
Traceback (most recent call last):
...
ValueError: all blocks of a stripe must have the same length (got lengths [2, 3])
"""
from __future__ import annotations

# --8<-- [start:imports]
import argparse
import functools
import math
import re
import sys
from dataclasses import dataclass
from collections.abc import Sequence
# --8<-- [end:imports]
from fractions import Fraction

# ---------------------------------------------------------------------------
# Checking a stripe
# ---------------------------------------------------------------------------


# GF(2^8) has 255 non-zero elements, so g = 2 has 255 distinct powers g^0..g^254: a RAID 6
# stripe holds at most 255 data blocks (H. Peter Anvin, "The mathematics of RAID-6", section 1:
# "GF(2^8) allows for a maximum of 257 drives, 255 (2^8-1) of which can be data drives",
# https://www.kernel.org/pub/linux/kernel/people/hpa/raid6.pdf).  With 256, block 255 would get
# g^255 = g^0, the coefficient of block 0, and two lost blocks could no longer be told apart.
MAX_DATA_BLOCKS = 255


def _check_stripe(blocks: Sequence[bytes | None], what: str = "blocks", most: int | None = None) -> int:
    """Return the common block length; raise ValueError on an empty, ragged or oversized stripe,
    or on blocks that are not bytes."""
    if isinstance(blocks, (bytes, bytearray, str)) or not isinstance(blocks, Sequence):
        raise ValueError(f"{what} must be a list of blocks (bytes), got {type(blocks).__name__}")
    if len(blocks) == 0:
        raise ValueError(f"need at least 1 data block in {what} (got 0)")
    if most is not None and len(blocks) > most:
        raise ValueError(f"RAID 6 over GF(2^8) with generator 2 takes at most {most} data blocks "
                         f"per stripe (got {len(blocks)}): g^255 = g^0")
    for i, b in enumerate(blocks):
        if b is not None and not isinstance(b, (bytes, bytearray)):
            raise ValueError(f"block {i} of {what} must be bytes, got {type(b).__name__}")
    lengths = [len(b) for b in blocks if b is not None]
    if len(set(lengths)) > 1:
        raise ValueError(f"all blocks of a stripe must have the same length (got lengths {lengths})")
    return lengths[0] if lengths else -1


def _short(value: object) -> str:
    """repr() cut to 40 characters: a 400-digit number stays readable in a one-line message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_bytes(**values: int) -> None:
    """Each named value must be one element of GF(2^8): a whole number 0..255."""
    for name, value in values.items():
        if type(value) is not int or not 0 <= value <= 255:      # type(): refuses bool and float
            raise ValueError(f"{name} must be a byte, a whole number 0..255 (an element of GF(2^8)), "
                             f"got {_short(value)}")


def _check_block_product(c: int, block: bytes) -> None:
    _check_bytes(c=c)
    if not isinstance(block, (bytes, bytearray)):
        raise ValueError(f"block must be bytes, got {type(block).__name__}")


def _check_recover(blocks: Sequence[bytes | None], p: bytes | None, q: bytes | None) -> int:
    """raid6_recover's input: 1..255 data blocks (None where lost), P and Q (None where lost),
    all of one length; return that length."""
    _check_stripe(blocks, "blocks", most=MAX_DATA_BLOCKS)
    for name, block in (("P", p), ("Q", q)):
        if block is not None and not isinstance(block, (bytes, bytearray)):
            raise ValueError(f"{name} must be bytes or None (lost), got {type(block).__name__}")
    sizes = {f"data block {i}": len(b) for i, b in enumerate(blocks) if b is not None}
    sizes.update({name: len(b) for name, b in (("P", p), ("Q", q)) if b is not None})
    if not sizes:
        raise ValueError("nothing left to rebuild from: every block of the stripe is lost")
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{name} {n} B" for name, n in list(sizes.items())[:6])
        raise ValueError(f"all blocks of a stripe must have the same length (got {shown}"
                         f"{', ...' if len(sizes) > 6 else ''})")
    return next(iter(sizes.values()))


# --8<-- [start:xor]
def xor_parity(blocks: Sequence[bytes]) -> bytes:
    """RAID 4/5 parity: P = D0 xor D1 xor ... (byte by byte, done here block by block).

    >>> d = [bytes([1, 2, 3]), bytes([4, 5, 6]), bytes([7, 8, 9])]
    >>> p = xor_parity(d)
    >>> list(p)
    [2, 15, 12]
    >>> xor_parity([d[0], d[2], p]) == d[1]      # lose D1, rebuild it from the rest
    True
    """
    n = _check_stripe(blocks)
    acc = 0
    for block in blocks:
        acc ^= int.from_bytes(block, "little")   # one XOR for the whole block
    return acc.to_bytes(n, "little")
# --8<-- [end:xor]


# --8<-- [start:gf]
POLY = 0x11D        # x^8 + x^4 + x^3 + x^2 + 1, the field of Linux md and ISA-L
GENERATOR = 2       # g = {02}: every non-zero byte is a power of g

# EXP[i] = g^i and LOG[g^i] = i; EXP is doubled so EXP[a + b] needs no "mod 255".
EXP = [0] * 510
LOG = [0] * 256
_x = 1
for _i in range(255):
    EXP[_i] = EXP[_i + 255] = _x
    LOG[_x] = _i
    _x <<= 1                     # multiply by 2 ...
    if _x & 0x100:
        _x ^= POLY               # ... and reduce modulo the polynomial
del _x, _i


def gf_mul(a: int, b: int) -> int:
    """Multiply two bytes in GF(2^8).

    >>> gf_mul(2, 0x80)             # 0x100 reduced by 0x11d
    29
    >>> gf_mul(0x53, gf_inv(0x53))
    1
    """
    _check_bytes(a=a, b=b)
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def gf_inv(a: int) -> int:
    """Multiplicative inverse in GF(2^8); 0 has none."""
    if type(a) is not int or not 0 < a < 256:
        raise ValueError(f"only bytes 1..255 have an inverse in GF(2^8) (got {a!r})")
    return EXP[255 - LOG[a]]


@functools.cache
def _mul_table(c: int) -> bytes:
    """256-byte table x -> c*x, for bytes.translate (multiply a block by a constant)."""
    return bytes(gf_mul(c, x) for x in range(256))


def gf_mul_block(c: int, block: bytes) -> bytes:
    """Multiply every byte of block by the constant c (one table lookup per byte, in C)."""
    _check_block_product(c, block)
    return block.translate(_mul_table(c))


@functools.lru_cache(maxsize=64)
def _low_bits(n: int) -> int:
    return int.from_bytes(b"\x01" * n, "little")


def _div_g(x: int, low: int) -> int:
    """Divide every byte packed in the integer x by g = 2, all bytes at once.

    An even byte is shifted right by one.  An odd byte is first made even by
    adding 0x11d (which is 0 in the field), so it becomes (byte >> 1) ^ 0x8e:
    the bit 0 that the shift drops is the lowest bit of the byte that 0x8e goes
    into, so one multiplication writes 0x8e into every odd byte.
    """
    odd = x & low                          # 0x01 where a byte is odd
    return ((x ^ odd) >> 1) ^ (odd * 0x8E)
# --8<-- [end:gf]


# --8<-- [start:pq]
SLICE = 16 * 1024    # bytes of each block per pass: the temporaries stay in the CPU cache


def raid6_pq(blocks: Sequence[bytes]) -> tuple[bytearray, bytearray]:
    """RAID 6 syndromes: P = sum(Di), Q = sum(g^i * Di) in GF(2^8).

    Horner's rule, dividing by g (one shift cheaper than multiplying, see _div_g):
    R = ((D0/g + D1)/g + ...)/g + D(k-1) = sum(g^(i-k+1) * Di), so Q = g^(k-1) * R.

    >>> p, q = raid6_pq([b"\\x01", b"\\x01", b"\\x01"])
    >>> p.hex(), q.hex()                 # P = 1^1^1, Q = 1 + 2 + 4
    ('01', '07')
    >>> raid6_pq([])
    Traceback (most recent call last):
    ...
    ValueError: need at least 1 data block in blocks (got 0)
    """
    n = _check_stripe(blocks, most=MAX_DATA_BLOCKS)   # k <= 255: g^0..g^254 all differ
    first, rest = blocks[0], blocks[1:]
    p_out, r_out = bytearray(n), bytearray(n)         # filled slice by slice, never joined
    for start in range(0, n, SLICE):
        end = min(start + SLICE, n)
        low = _low_bits(end - start)
        p = r = int.from_bytes(first[start:end], "little")
        for block in rest:               # one block at a time: few big integers alive at once
            d = int.from_bytes(block[start:end], "little")
            r = _div_g(r, low) ^ d
            p ^= d
        p_out[start:end] = p.to_bytes(end - start, "little")
        r_out[start:end] = r.to_bytes(end - start, "little")
    return p_out, r_out.translate(_mul_table(EXP[len(blocks) - 1]))   # Q = g^(k-1) * R
# --8<-- [end:pq]


def _xor2(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


# --8<-- [start:recover]
def raid6_recover(blocks: Sequence[bytes | None], p: bytes | None,
                  q: bytes | None) -> list[bytes]:
    """Return all data blocks of a RAID 6 stripe; lost blocks (data, P or Q) are None.

    At most two of the k + 2 blocks may be missing (H. P. Anvin, "The
    mathematics of RAID-6"; two lost data blocks: equations (17)-(20)).

    >>> d = [b"disk0", b"disk1", b"disk2", b"disk3"]
    >>> p, q = raid6_pq(d)
    >>> raid6_recover([d[0], None, d[2], None], p, q) == d      # two data disks lost
    True
    >>> raid6_recover([None, d[1], d[2], d[3]], None, q) == d   # data + P lost
    True
    >>> raid6_recover([None, None, d[2], d[3]], None, q)
    Traceback (most recent call last):
    ...
    ValueError: RAID 6 rebuilds at most 2 lost blocks per stripe (got 3 lost: data [0, 1], P)
    """
    n = _check_recover(blocks, p, q)         # 1..255 data blocks, one length
    lost = [i for i, b in enumerate(blocks) if b is None]
    missing = len(lost) + (p is None) + (q is None)
    if missing > 2:
        names = ([f"data {lost}"] if lost else []) + (["P"] if p is None else []) + (["Q"] if q is None else [])
        raise ValueError(f"RAID 6 rebuilds at most 2 lost blocks per stripe (got {missing} lost: {', '.join(names)})")
    if not lost:
        return list(blocks)  # only P and/or Q were lost: the data is all there
    # Syndromes of the surviving data alone (lost blocks counted as zero).
    zero = bytes(n)
    p_rest, q_rest = raid6_pq([b if b is not None else zero for b in blocks])
    out = list(blocks)
    if len(lost) == 1:
        x = lost[0]
        if p is not None:                    # like RAID 5: Dx = P + P_rest
            out[x] = _xor2(p, p_rest)
        else:                                # P lost too: Dx = (Q + Q_rest) * g^-x
            out[x] = gf_mul_block(EXP[(255 - x) % 255], _xor2(q, q_rest))
        return out
    x, y = lost                              # two data blocks, x < y; P and Q present
    pxy = _xor2(p, p_rest)                   # = Dx + Dy
    qxy = _xor2(q, q_rest)                   # = g^x*Dx + g^y*Dy
    gyx = EXP[y - x]
    denom = gf_inv(gyx ^ 1)                  # (g^(y-x) + 1)^-1
    a = gf_mul(gyx, denom)
    b = gf_mul(EXP[(255 - x) % 255], denom)
    dx = _xor2(gf_mul_block(a, pxy), gf_mul_block(b, qxy))
    out[x] = dx
    out[y] = _xor2(pxy, dx)
    return out
# --8<-- [end:recover]


# ---------------------------------------------------------------------------
# md layout (drivers/md/raid5.c, raid5_compute_sector)
# ---------------------------------------------------------------------------

# --8<-- [start:layout]
def md_map_chunk(chunk: int, level: int, disks: int) -> tuple[int, int, tuple[int, ...]]:
    """Map a logical chunk number to (member disk, stripe, parity disks of the stripe).

    RAID 4: parity on the last disk.  RAID 5 and RAID 6: md's default
    left-symmetric layout, as in raid5_compute_sector():

    * RAID 5: pd = (n-1) - stripe % n; data i goes to (pd + 1 + i) % n
    * RAID 6: pd = (n-1) - stripe % n; qd = (pd + 1) % n; data i to (pd + 2 + i) % n

    >>> [md_map_chunk(c, 5, 4)[:2] for c in range(4)]
    [(0, 0), (1, 0), (2, 0), (3, 1)]
    >>> md_map_chunk(3, 5, 4)[2]       # stripe 1 keeps its parity on disk 2
    (2,)
    >>> md_map_chunk(0, 6, 3)
    Traceback (most recent call last):
    ...
    ValueError: RAID 6 needs at least 4 member disks (got 3)
    """
    _check_members(level, disks)
    if type(chunk) is not int or chunk < 0:
        raise ValueError(f"chunk number must be a whole number >= 0 (got {chunk!r})")
    parity = 2 if level == 6 else 1
    data_disks = disks - parity
    stripe, index = divmod(chunk, data_disks)   # index: position among the data chunks
    if level == 4:
        return index, stripe, (data_disks,)
    pd = disks - 1 - stripe % disks              # parity moves one disk left per stripe
    if level == 5:
        return (pd + 1 + index) % disks, stripe, (pd,)
    qd = (pd + 1) % disks                        # RAID 6: Q right after P
    return (pd + 2 + index) % disks, stripe, (pd, qd)


def md_layout_table(level: int, disks: int, stripes: int) -> list[list[str]]:
    """Rows = stripes, columns = member disks; cells 'D<chunk>', 'P' or 'Q'.

    >>> for row in md_layout_table(5, 4, 4): print(" ".join(f"{c:>3}" for c in row))
     D0  D1  D2   P
     D4  D5   P  D3
     D8   P  D6  D7
      P  D9 D10 D11
    """
    _check_members(level, disks)
    if disks > 64 or type(stripes) is not int or not 1 <= stripes <= 10_000:
        raise ValueError(f"table too large or empty: accepted up to 64 disks and 1..10000 stripes "
                         f"(got {disks} disks, {stripes} stripes)")
    parity = 2 if level == 6 else 1
    rows = [[""] * disks for _ in range(stripes)]
    for chunk in range(stripes * (disks - parity)):
        disk, stripe, pq = md_map_chunk(chunk, level, disks)
        rows[stripe][disk] = f"D{chunk}"
        for name, where in zip("PQ", pq):
            rows[stripe][where] = name
    return rows
# --8<-- [end:layout]


def _check_members(level: int, disks: int) -> None:
    need = {4: 3, 5: 3, 6: 4}
    if type(level) is not int or level not in need:
        raise ValueError(f"md parity layout is defined for RAID levels 4, 5 and 6 (got {level})")
    if type(disks) is not int:
        raise ValueError(f"member disks must be a whole number (got {_short(disks)})")
    if disks < need[level]:
        raise ValueError(f"RAID {level} needs at least {need[level]} member disks (got {disks})")


# ---------------------------------------------------------------------------
# Calculator
# ---------------------------------------------------------------------------

# --8<-- [start:calc]
LEVELS = ("0", "1", "4", "5", "6", "10", "50", "60")


@dataclass(frozen=True)
class RaidPlan:
    """What a RAID level gives you on a given set of disks."""
    level: str
    disks: int
    usable_bytes: int
    fault_tolerance: int          # disk failures survived whichever disks fail
    fault_tolerance_best: int     # failures survived if they land in the best places
    min_disks: int
    write_penalty: int            # back-end I/Os per small random front-end write
    read_iops: float
    write_iops: float
    rebuild_hours: float | None        # None: nothing to rebuild from (RAID 0)
    rebuild_read_bytes: int | None     # read from the survivors to rebuild one disk
    p_ure_during_rebuild: float | None  # P(at least one URE while reading that)


def plan(level: str, sizes: Sequence[int], *, disk_iops: float = 150.0,
         rebuild_bytes_per_s: float = 100e6, ure_per_bit: float = 1e-14,
         groups: int = 2) -> RaidPlan:
    """Capacity, fault tolerance, IOPS and rebuild risk of a RAID level on these disks.

    sizes: one size in bytes per member disk (mixed sizes are allowed; striped
    and mirrored levels use the smallest member's size on every disk, md RAID 0
    uses every byte).  groups: number of RAID 5/6 sub-arrays for RAID 50/60.

    >>> r = plan("5", [8 * 10**12] * 4)            # 4 x 8 TB, RAID 5
    >>> r.usable_bytes // 10**12, r.fault_tolerance, r.write_penalty
    (24, 1, 4)
    >>> round(1 - r.p_ure_during_rebuild, 3)       # P(no URE) reading 24 TB at 1e-14
    0.147
    >>> plan("10", [10**12] * 5)
    Traceback (most recent call last):
    ...
    ValueError: RAID 10 (striped 2-way mirrors) needs an even number of disks, at least 4 (got 5)
    """
    level = str(level).upper().removeprefix("RAID")
    if level not in LEVELS:
        raise ValueError(f"unknown RAID level {level!r}: accepted levels are {', '.join(LEVELS)}")
    n = len(sizes)
    _check_plan(sizes, disk_iops, rebuild_bytes_per_s, ure_per_bit, groups)   # numbers in range
    smallest = min(sizes) if sizes else 0

    def need(minimum: int, rule: str = "") -> None:
        if n < minimum:
            raise ValueError(f"RAID {level} needs at least {minimum} disks{rule} (got {n})")

    survivors_read = None        # disks read to rebuild one failed member
    if level == "0":
        need(2)
        usable, ft, ft_best, minimum, penalty, readers = sum(sizes), 0, 0, 2, 1, n
    elif level == "1":
        need(2)
        usable, ft, ft_best, minimum, penalty, readers = smallest, n - 1, n - 1, 2, n, n
        survivors_read = 1       # copy from any one surviving mirror
    elif level in ("4", "5", "6"):
        parity = 2 if level == "6" else 1
        minimum = parity + 2
        need(minimum)
        usable = (n - parity) * smallest
        ft = ft_best = parity
        penalty = 6 if level == "6" else 4
        readers = n - 1 if level == "4" else n     # RAID 4's parity disk serves no reads
        survivors_read = n - 1
    elif level == "10":
        if n < 4 or n % 2:
            raise ValueError(
                f"RAID 10 (striped 2-way mirrors) needs an even number of disks, at least 4 (got {n})")
        usable, ft, ft_best, minimum, penalty, readers = n // 2 * smallest, 1, n // 2, 4, 2, n
        survivors_read = 1       # the failed disk's mirror partner
    else:                        # 50, 60: RAID 0 over `groups` RAID 5/6 sets
        parity = 2 if level == "60" else 1
        per_group_min = parity + 2
        minimum = 2 * per_group_min
        if groups < 2:
            raise ValueError(f"RAID {level} stripes over at least 2 groups (got groups={groups})")
        if n % groups or n // groups < per_group_min:
            raise ValueError(
                f"RAID {level} needs the disks split evenly into {groups} groups of at least "
                f"{per_group_min} (got {n} disks)")
        per_group = n // groups
        usable = groups * (per_group - parity) * smallest
        ft, ft_best = parity, parity * groups
        penalty = 6 if level == "60" else 4
        readers = n
        survivors_read = per_group - 1

    read_iops = readers * disk_iops
    write_iops = n * disk_iops / penalty
    if survivors_read is None:
        hours = read_bytes = p_ure = None
    else:
        hours = smallest / rebuild_bytes_per_s / 3600
        read_bytes = survivors_read * smallest
        # P(no URE) = (1 - p)^bits, computed as exp(bits * log1p(-p)) to stay exact for tiny p
        p_ure = -math.expm1(read_bytes * 8 * math.log1p(-ure_per_bit))
    return RaidPlan(level, n, usable, ft, ft_best, minimum, penalty, read_iops, write_iops,
                    hours, read_bytes, p_ure)
# --8<-- [end:calc]


# --8<-- [start:mttdl]
def mttdl_hours(level: str, disks: int, mttf_hours: float, mttr_hours: float) -> float:
    """Mean time to data loss from independent disk failures (Markov chain, no UREs).

    RAID 5: MTTF^2 / (n (n-1) MTTR); RAID 6: MTTF^3 / (n (n-1) (n-2) MTTR^2)
    (Patterson, Gibson, Katz 1988, extended to two parities).

    >>> round(mttdl_hours("5", 8, 1e6, 24) / 8766)     # years
    84879
    >>> mttdl_hours("0", 8, 1e6, 24)
    Traceback (most recent call last):
    ...
    ValueError: MTTDL here covers RAID 5 and RAID 6 (got '0')
    """
    level = str(level).upper().removeprefix("RAID")
    if level not in ("5", "6"):
        raise ValueError(f"MTTDL here covers RAID 5 and RAID 6 (got {level!r})")
    minimum = 3 if level == "5" else 4
    _check_mttdl(disks, mttf_hours, mttr_hours)       # whole disks, hours in range
    if disks < minimum:
        raise ValueError(f"RAID {level} needs at least {minimum} disks (got {disks})")
    if level == "5":
        return mttf_hours ** 2 / (disks * (disks - 1) * mttr_hours)
    return mttf_hours ** 3 / (disks * (disks - 1) * (disks - 2) * mttr_hours ** 2)
# --8<-- [end:mttdl]


MAX_DISK_BYTES = 2**64       # bounds of this calculator (16 EiB per disk; hours up to 10^12)
MAX_HOURS = 1e12


def _positive_number(name: str, value: float, most: float) -> None:
    """A finite number above 0 and at most `most` (int, float or Fraction; not bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) \
            or not 0 < value <= most:                     # also refuses nan
        raise ValueError(f"{name} must be > 0 and at most {most:g} (a bound of this calculator), "
                         f"got {_short(value)}")


def _check_plan(sizes: Sequence[int], disk_iops: float, rebuild_bytes_per_s: float,
                ure_per_bit: float, groups: int) -> None:
    """plan()'s numbers: whole positive disk sizes, finite rates, a probability, whole groups."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise ValueError(f"sizes must be a list of byte counts, got {type(sizes).__name__}")
    if len(sizes) > MAX_DISKS:
        raise ValueError(f"too many disks: accepted up to {MAX_DISKS} (got {len(sizes)})")
    for s in sizes:
        if type(s) is not int or not 0 < s <= MAX_DISK_BYTES:
            raise ValueError(f"disk sizes must be positive whole byte counts up to 2**64 (16 EiB, a "
                             f"bound of this calculator); got {_short(s)}")
    _positive_number("disk_iops (random IOPS of one disk)", disk_iops, 1e9)
    _positive_number("rebuild_bytes_per_s (rebuild rate)", rebuild_bytes_per_s, 1e15)
    if isinstance(ure_per_bit, bool) or not isinstance(ure_per_bit, (int, float, Fraction)) \
            or not 0 <= ure_per_bit < 1:
        raise ValueError(f"ure_per_bit must be in [0, 1) (got {_short(ure_per_bit)})")
    if type(groups) is not int or groups > MAX_DISKS:
        raise ValueError(f"groups must be a whole number of sub-arrays, at most {MAX_DISKS} "
                         f"(got {_short(groups)})")


def _check_mttdl(disks: int, mttf_hours: float, mttr_hours: float) -> None:
    if type(disks) is not int or disks > MAX_DISKS:
        raise ValueError(f"disks must be a whole number up to {MAX_DISKS} (got {_short(disks)})")
    _positive_number("MTTF hours", mttf_hours, MAX_HOURS)
    _positive_number("MTTR hours", mttr_hours, MAX_HOURS)
    if mttr_hours < 1e-3:
        raise ValueError(f"MTTR hours must be at least 0.001 (3.6 s, a bound of this calculator), "
                         f"got {mttr_hours!r}")


def xfs_stripe_geometry(level: str, disks: int, chunk_bytes: int) -> tuple[int, int]:
    """mkfs.xfs -d su=,sw= for an md array: su = chunk size, sw = number of data disks.

    >>> xfs_stripe_geometry("5", 4, 512 * 1024)     # 4-disk RAID 5, md's default 512 KiB chunk
    (524288, 3)
    >>> xfs_stripe_geometry("1", 2, 512 * 1024)
    Traceback (most recent call last):
    ...
    ValueError: stripe geometry applies to striped levels 0, 4, 5, 6, 10 (got '1')
    """
    level = str(level).upper().removeprefix("RAID")
    for name, value in (("disks", disks), ("chunk size", chunk_bytes)):
        if type(value) is not int or not 0 < value <= MAX_DISK_BYTES:
            raise ValueError(f"{name} must be a whole number 1..2**64 (got {_short(value)})")
    data = {"0": disks, "4": disks - 1, "5": disks - 1, "6": disks - 2, "10": disks // 2}
    if level not in data:
        raise ValueError(f"stripe geometry applies to striped levels 0, 4, 5, 6, 10 (got {level!r})")
    if chunk_bytes <= 0 or chunk_bytes % 4096:
        raise ValueError(f"chunk size must be a positive multiple of 4096 bytes (got {chunk_bytes})")
    if data[level] < 1 or (level == "10" and disks % 2):
        raise ValueError(f"RAID {level} with {disks} disks has no whole number of data disks")
    return chunk_bytes, data[level]


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
          "T": 10**12, "TB": 10**12, "P": 10**15, "PB": 10**15,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "PIB": 2**50}


def parse_size(text: str) -> int:
    """'8TB' -> 8*10**12, '4TiB' -> 4*2**40.

    >>> parse_size("8TB"), parse_size("1.5TiB")
    (8000000000000, 1649267441664)
    >>> parse_size("-1TB")
    Traceback (most recent call last):
    ...
    ValueError: bad size '-1TB': use a positive number with an optional unit (B, KB..PB, KiB..PiB)
    """
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _UNITS or Fraction(m.group(1)) <= 0:
        raise ValueError(f"bad size {text[:40]!r}: use a positive number with an optional unit (B, KB..PB, KiB..PiB)")
    if len(m.group(1).split(".")[0].lstrip("0")) > 20:     # more digits than 2**64 has: stop early
        raise ValueError(f"size {text[:30]!r}... too large: accepted up to 2**64 bytes (16 EiB, a bound "
                         "of this calculator)")
    size = int(Fraction(m.group(1)[:60]) * _UNITS[m.group(2).upper()])
    if not 0 < size <= MAX_DISK_BYTES:
        raise ValueError(f"size {text!r} is {size} bytes: accepted 1 byte up to 2**64 bytes (16 EiB, a "
                         "bound of this calculator)")
    return size


def _expand_sizes(items: Sequence[str]) -> list[int]:
    """'4x8TB' means four 8 TB disks."""
    sizes: list[int] = []
    for item in items:
        count, sep, size = item.partition("x")
        if sep and count.isdigit():
            if len(sizes) + int(count) > MAX_DISKS:
                raise ValueError(f"too many disks: accepted up to {MAX_DISKS} (got {item!r})")
            sizes += [parse_size(size)] * int(count)
        else:
            sizes.append(parse_size(item))
    if len(sizes) > MAX_DISKS:
        raise ValueError(f"too many disks: accepted up to {MAX_DISKS} (got {len(sizes)})")
    return sizes


MAX_DISKS = 1024            # a limit of this calculator, not of md


def _format_plan(r: RaidPlan) -> str:
    lines = [
        f"RAID {r.level}, {r.disks} disks",
        f"usable capacity     {r.usable_bytes} B = {r.usable_bytes / 1e12:.3f} TB = {r.usable_bytes / 2**40:.3f} TiB",
        f"fault tolerance     {r.fault_tolerance} disk(s) guaranteed, up to {r.fault_tolerance_best} if they fail in the right places",
        f"minimum disks       {r.min_disks}",
        f"write penalty       {r.write_penalty}",
        f"random read IOPS    {r.read_iops:g}",
        f"random write IOPS   {r.write_iops:g}",
    ]
    if r.rebuild_hours is None:
        lines.append("rebuild             impossible: no redundancy")
    else:
        lines.append(f"rebuild time        {r.rebuild_hours:.1f} h (one member at the given rate)")
        lines.append(f"rebuild reads       {r.rebuild_read_bytes} B from the survivors")
        lines.append(f"P(URE in rebuild)   {r.p_ure_during_rebuild:.1%}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("calc", help="capacity, fault tolerance, IOPS and rebuild risk")
    c.add_argument("--level", required=True, help="0, 1, 4, 5, 6, 10, 50 or 60")
    c.add_argument("sizes", nargs="+", help="member sizes, e.g. 8TB 8TB 4TB or 6x4TiB")
    c.add_argument("--disk-iops", type=float, default=150.0)
    c.add_argument("--rebuild-mb-s", type=float, default=100.0, help="rebuild rate in MB/s (10^6 B/s)")
    c.add_argument("--ure", type=float, default=1e-14, help="unrecoverable read errors per bit read")
    c.add_argument("--groups", type=int, default=2, help="sub-arrays for RAID 50/60")
    lay = sub.add_parser("layout", help="print md's chunk layout (RAID 4, 5, 6)")
    lay.add_argument("--level", type=int, required=True)
    lay.add_argument("--disks", type=int, required=True)
    lay.add_argument("--stripes", type=int, default=0, help="default: one full rotation")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "calc":
            r = plan(args.level, _expand_sizes(args.sizes), disk_iops=args.disk_iops,
                     rebuild_bytes_per_s=args.rebuild_mb_s * 1e6, ure_per_bit=args.ure,
                     groups=args.groups)
            print(_format_plan(r))
        else:
            rows = md_layout_table(args.level, args.disks, args.stripes or args.disks)
            print("stripe " + " ".join(f"{'disk' + str(i):>6}" for i in range(args.disks)))
            for s, row in enumerate(rows):
                print(f"{s:>6} " + " ".join(f"{cell:>6}" for cell in row))
    except ValueError as err:
        print(f"raid.py: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
