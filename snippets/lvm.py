"""LVM arithmetic: extents, `lvcreate -L/-l` sizes, COW snapshot fill time, thin-pool overcommit.

LVM hands out space in physical extents (PE, 4 MiB by default).  A PV
holds `(device size - pe_start) // extent_size` of them (pe_start is 1 MiB
by default: label, metadata area, alignment).  `lvcreate -L SIZE` rounds up
to a whole number of extents and says so ("Rounding up size to full
physical extent"); `-l N%VG`, `-l N%FREE` and `-l N%PVS` round *down*
(lvm2 `tools/lvcreate.c` calls `percent_of_extents(..., roundup=0)`) and are
only an upper limit: more than is free is cut to what is free ("Reducing
67%VG to remaining free space").
These rules are checked against lvm2 2.03.16 itself in
tests/labs/test_disks_lvm.py.

>>> vg = VG(extent_size=4 * MiB, pv_sizes=[64 * MiB, 64 * MiB])
>>> vg.extent_count
30
>>> vg.extents_for_size(10 * MiB)        # lvcreate -L 10M: 3 extents = 12 MiB
3
>>> vg.extents_for_percent(50, "VG")
15
>>> vg.extents_for_size(1 * GiB)
Traceback (most recent call last):
...
ValueError: 256 extents requested but only 30 free; accepted: 1..30 extents (120 MiB)
"""
from __future__ import annotations

import argparse
import sys

# --8<-- [start:imports]
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from collections.abc import Sequence

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
SECTOR = 512
DEFAULT_PE_START = 1 * MiB
DEFAULT_EXTENT = 4 * MiB
# --8<-- [end:imports]


# --8<-- [start:extents]
def check_extent_size(extent_size: int) -> int:
    """vgcreate(8): a power of 2 of at least one sector, or at least 128 KiB
    (in whole sectors)."""
    ok = isinstance(extent_size, int) and extent_size >= SECTOR and extent_size % SECTOR == 0 and (
        extent_size & (extent_size - 1) == 0 or extent_size >= 128 * KiB)
    if not ok:
        raise ValueError(f"extent size {extent_size} B: must be a power of 2 >= 512 B, "
                         "or a multiple of 512 B >= 128 KiB")
    return extent_size


def pv_extents(dev_size: int, extent_size: int = DEFAULT_EXTENT,
               pe_start: int = DEFAULT_PE_START) -> int:
    """Extents a PV of dev_size bytes contributes: the tail that does not fill
    a whole extent is lost.

    >>> pv_extents(64 * MiB)          # (64 - 1) MiB // 4 MiB
    15
    """
    check_extent_size(extent_size)
    if not (isinstance(dev_size, int) and isinstance(pe_start, int)):
        raise ValueError(f"device size {dev_size!r} and pe_start {pe_start!r} must be whole bytes")
    if dev_size <= pe_start:
        raise ValueError(f"device of {dev_size} B is not larger than pe_start ({pe_start} B)")
    return (dev_size - pe_start) // extent_size


@dataclass
class VG:
    extent_size: int
    pv_sizes: list[int]
    pe_start: int = DEFAULT_PE_START
    allocated: int = 0                       # extents already given to LVs
    pv_counts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        check_extent_size(self.extent_size)
        self.pv_counts = [pv_extents(s, self.extent_size, self.pe_start)
                          for s in self.pv_sizes]

    @property
    def extent_count(self) -> int:
        return sum(self.pv_counts)

    @property
    def free_count(self) -> int:
        return self.extent_count - self.allocated

    def _check(self, extents: int) -> int:
        if self.free_count == 0:
            raise ValueError(f"{extents} extents requested but the VG has no free extents; "
                             "extend it first (vgextend)")
        if not 1 <= extents <= self.free_count:
            free_mib = self.free_count * self.extent_size // MiB
            raise ValueError(f"{extents} extents requested but only {self.free_count} free; "
                             f"accepted: 1..{self.free_count} extents ({free_mib} MiB)")
        return extents

    def extents_for_size(self, size: int) -> int:
        """lvcreate -L SIZE: round UP to whole extents."""
        _check_lv_size(size)
        return self._check(math.ceil(size / self.extent_size))

    def extents_for_percent(self, percent: int, of: str) -> int:
        """lvcreate -l N%VG / N%FREE: floor(N * base / 100), as percent_of_extents(),
        then cut to the free extents (lvcreate(8): the percentage is an upper limit)."""
        base = {"VG": self.extent_count, "FREE": self.free_count}.get(of)
        if base is None:
            raise ValueError(f"percent of {of!r}: accepted VG or FREE")
        if type(percent) is not int or not 1 <= percent <= 100:
            raise ValueError(f"percent must be 1..100, got {percent!r}")
        return self._check(min(percent * base // 100, self.free_count))

    def lvcreate(self, spec: str) -> int:
        """Allocate an LV from a `-L 10M` / `-l 100%FREE` / `-l 25` style spec;
        return its extent count.

        >>> vg = VG(4 * MiB, [64 * MiB, 64 * MiB])
        >>> [vg.lvcreate(s) for s in ("-L 10M", "-l 50%VG", "-l 100%FREE")]
        [3, 15, 12]
        """
        n = extents_from_spec(self, spec)
        self.allocated += n
        return n


_UNITS = {"": MiB, "b": 1, "s": SECTOR, "k": KiB, "m": MiB, "g": GiB, "t": TiB}


def parse_size(text: str) -> int:
    """An lvm size such as 10M, 1.5g or 2048k (binary units; default MiB)."""
    m = re.fullmatch(r"(\d+)(\.\d+)?([bskmgtBSKMGT]?)", text.strip())
    if not m:
        raise ValueError(f"bad size {text!r}: accepted e.g. 512k, 10M, 1.5G, 2T")
    whole, frac = m.group(1).lstrip("0"), (m.group(2) or ".")[1:19]   # lvm keeps no more digits
    if len(whole) > 20:                           # more than 8 EiB in any unit; a float would overflow
        raise ValueError(f"size {text[:30]!r}... too large: accepted up to 8 EiB (a bound of this model)")
    size = math.ceil(Fraction(f"{whole or 0}.{frac or 0}") * _UNITS[m.group(3).lower()])
    if size > 2**63:
        raise ValueError(f"size {text!r} too large: accepted up to 8 EiB (a bound of this model)")
    return size


def extents_from_spec(vg: VG, spec: str) -> int:
    m = re.fullmatch(r"\s*-L\s*(\S+)\s*", spec)
    if m:
        return vg.extents_for_size(parse_size(m.group(1)))
    m = re.fullmatch(r"\s*-l\s*(\d{1,30})%(VG|FREE)\s*", spec)
    if m:
        return vg.extents_for_percent(int(m.group(1)), m.group(2))
    m = re.fullmatch(r"\s*-l\s*(\d{1,30})\s*", spec)
    if m:
        return vg._check(int(m.group(1)))
    if re.fullmatch(r"\s*-l\s*\d+%?(VG|FREE)?\s*", spec):
        raise ValueError(f"bad spec {spec[:40]!r}...: more than 30 digits (accepted: 1..{vg.free_count} "
                         "extents or 1..100 percent)")
    raise ValueError(f"bad spec {spec!r}: accepted -L SIZE, -l N, -l N%VG, -l N%FREE")
# --8<-- [end:extents]


def _check_lv_size(size: int) -> None:
    """lvcreate -L takes whole bytes (parse_size rounds up), at most 8 EiB like parse_size."""
    if type(size) is not int or not 0 < size <= 2**63:
        raise ValueError(f"size must be > 0 whole bytes, at most 2**63 (8 EiB, a bound of this model), "
                         f"got {size!r:.40}")


# --8<-- [start:snapshot]
def cow_hours_to_full(cow_size: int, changed_per_hour: int, chunk_size: int = 4 * KiB,
                      write_size: int = 4 * KiB, overhead: float = 0.0) -> float:
    """Hours until a classic (COW) snapshot is full and becomes invalid.

    Every first write to a chunk of the origin copies the whole chunk into the
    COW area; later writes to the same chunk cost nothing.  With writes of
    write_size bytes spread over distinct chunks, each write costs
    max(chunk, write) bytes.  `overhead` is the fraction of the COW LV used
    for the exception table (lvcreate(8): "a small amount of the COW snapshot
    LV size is used to track COW block locations").

    >>> round(cow_hours_to_full(20 * GiB, changed_per_hour=2 * GiB), 1)
    10.0
    >>> round(cow_hours_to_full(20 * GiB, 2 * GiB, chunk_size=64 * KiB), 2)
    0.62
    """
    for value in (cow_size, changed_per_hour, chunk_size, write_size):
        if not isinstance(value, (int, float)) or not 0 < value <= 2**63:
            raise ValueError(f"sizes and rate must be > 0 and at most 2**63 (a bound of this model), "
                             f"got {value!r}")
    if not 0 <= overhead < 1:
        raise ValueError(f"overhead must be in [0, 1), got {overhead}")
    amplification = max(chunk_size, write_size) / write_size
    return cow_size * (1 - overhead) / (changed_per_hour * amplification)
# --8<-- [end:snapshot]


# --8<-- [start:thin]
def overcommit_ratio(virtual_sizes: Sequence[int], pool_size: int) -> float:
    """Sum of thin LV virtual sizes over the pool's data size.

    >>> overcommit_ratio([100 * GiB] * 5, 200 * GiB)
    2.5
    """
    for size in [*virtual_sizes, pool_size]:
        if not isinstance(size, (int, float)) or not 0 <= size <= 2**63:
            raise ValueError(f"sizes must be 0..2**63 (a bound of this model), got {size!r}")
    if pool_size <= 0:
        raise ValueError(f"pool size must be > 0, got {pool_size}")
    return sum(virtual_sizes) / pool_size


def autoextend_steps(pool: float, used: float, threshold: int, percent: int,
                     vg_free: float) -> list[float]:
    """Pool sizes after each automatic extension while `used` stays as given.

    lvm.conf activation/thin_pool_autoextend_threshold (values below 50 act
    as 50, 100 disables) and thin_pool_autoextend_percent: once usage exceeds
    threshold % the pool grows by percent % of its size, taken from VG free
    space.  lvm.conf's own example, in MB: a 1000 pool at 70/20 grows to 1200
    once more than 700 is used, and to 1440 past 840.

    >>> autoextend_steps(1000, 701, 70, 20, vg_free=10_000)
    [1200.0]
    >>> autoextend_steps(1000, 841, 70, 20, vg_free=10_000)
    [1200.0, 1440.0]
    """
    for name, value in (("threshold", threshold), ("percent", percent)):
        # lvm.conf holds whole numbers here; a percent near 0 would extend almost forever
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
            raise ValueError(f"{name} must be a whole number 0..10000 (lvm.conf "
                             f"thin_pool_autoextend_{name}), got {value!r}")
    for name, value in (("pool", pool), ("used", used), ("vg_free", vg_free)):
        if not isinstance(value, (int, float)) or not 0 <= value <= 2**63:
            raise ValueError(f"{name} must be 0..2**63 (a bound of this model), got {value!r}")
    if pool <= 0:
        raise ValueError(f"pool must be > 0, got {pool!r}")
    if threshold >= 100 or percent == 0:
        return []
    threshold = max(threshold, 50)
    sizes: list[float] = []
    while used > pool * threshold / 100:
        grow = pool * percent / 100
        if grow <= 0 or grow > vg_free:
            break                     # VG has no room: the pool will fill up
        vg_free -= grow
        pool += grow
        sizes.append(pool)
    return sizes


def hours_until_pool_full(pool_size: float, used: float, write_rate_per_hour: float) -> float:
    """With no autoextend: (free pool space) / (new blocks provisioned per hour).

    >>> hours_until_pool_full(1000, 800, 50)
    4.0
    """
    for value in (pool_size, used, write_rate_per_hour):
        if not isinstance(value, (int, float)) or not -2**63 <= value <= 2**63:
            raise ValueError(f"sizes and rate must be at most 2**63 (a bound of this model), got {value!r}")
    if write_rate_per_hour <= 0 or not 0 <= used <= pool_size:
        raise ValueError("need 0 <= used <= pool_size and a positive write rate")
    return (pool_size - used) / write_rate_per_hour
# --8<-- [end:thin]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Extents lvcreate would allocate, one LV after another, in a VG of given PVs")
    parser.add_argument("--pe-size", default="4M", help="extent size (vgcreate -s), default 4M")
    parser.add_argument("--pv", action="append", required=True, metavar="SIZE",
                        help="size of one PV (repeat for each PV)")
    parser.add_argument("specs", nargs="+", metavar="SPEC",
                        help='"-L 10M", "-l 50%%VG", "-l 100%%FREE" or "-l N"')
    args = parser.parse_args(argv)
    try:
        vg = VG(parse_size(args.pe_size), [parse_size(s) for s in args.pv])
        print(f"VG: {vg.extent_count} extents of {vg.extent_size} B")
        for spec in args.specs:
            n = vg.lvcreate(spec)
            print(f"{spec}: {n} extents = {n * vg.extent_size} B")
    except ValueError as exc:
        print(f"lvm.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
