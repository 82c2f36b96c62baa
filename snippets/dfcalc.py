"""The figures of `df`, computed from `statvfs(3)` the way coreutils df does it.

`df` does not measure anything itself: it asks the kernel for the six
counters of `statvfs` and does arithmetic on them.  This module repeats that
arithmetic (coreutils `src/df.c`, functions `get_field_values` and
`get_dev`) so that the reader can see where Size, Used, Avail and Use% come
from, why Used + Avail is smaller than Size (blocks reserved for root), and
why Use% is rounded *up*.  Run as a script it prints the same table as
`df -B1 --output=size,used,avail,pcent,itotal,iused,iavail,ipcent PATH...`.

It also shows the two classic surprises of `df`:

* inode exhaustion: a filesystem with free blocks but no free inodes refuses
  new files (`No space left on device` while `df -h` shows space);
* sparse files: `ls -l` shows `st_size`, `du` shows the blocks really
  allocated (`st_blocks * 512`).

>>> f = df_figures(f_blocks=56037, f_bfree=56023, f_bavail=51437, f_frsize=1024,
...                f_files=16384, f_ffree=16373)
>>> f.size, f.used, f.avail, f.use_pct
(57381888, 14336, 52671488, 1)
>>> f.reserved
4696064
>>> df_figures(f_blocks=10, f_bfree=11, f_bavail=0, f_frsize=4096,
...            f_files=0, f_ffree=0)
Traceback (most recent call last):
...
ValueError: f_bfree (11) exceeds f_blocks (10); accepted: 0 <= f_bavail <= f_bfree <= f_blocks
"""
from __future__ import annotations

import argparse
import sys

# --8<-- [start:imports]
import math
import os
from dataclasses import dataclass
from collections.abc import Sequence
# --8<-- [end:imports]


# --8<-- [start:figures]
@dataclass(frozen=True)
class DfFigures:
    """One line of `df -B1`: bytes for blocks, counts for inodes."""
    size: int            # f_blocks * f_frsize
    used: int            # (f_blocks - f_bfree) * f_frsize
    avail: int           # f_bavail * f_frsize (what a non-root user may still use)
    use_pct: int | None   # None is printed as "-"
    itotal: int          # f_files
    iused: int           # f_files - f_ffree
    iavail: int          # f_ffree
    iuse_pct: int | None

    @property
    def reserved(self) -> int:
        """Bytes neither Used nor Avail: free blocks only root may take."""
        return self.size - self.used - self.avail


def ceil_percent(used: int, avail: int) -> int | None:
    """Use% as df computes it: used / (used + avail), rounded UP.

    The denominator is used + avail, not size: reserved blocks are left out,
    so a filesystem reads 100% when ordinary users cannot write any more.

    >>> ceil_percent(1, 999)      # 0.1 % is shown as 1 %
    1
    >>> ceil_percent(0, 0) is None
    True
    """
    total = used + avail
    if total == 0:
        return None
    return -(-used * 100 // total)          # integer ceiling, as in df.c


def df_figures(f_blocks: int, f_bfree: int, f_bavail: int, f_frsize: int,
               f_files: int, f_ffree: int) -> DfFigures:
    """Turn statvfs counters into the numbers df prints with -B1."""
    if f_frsize <= 0:
        raise ValueError(f"f_frsize must be positive, got {f_frsize}")
    if min(f_blocks, f_bfree, f_bavail, f_files, f_ffree) < 0:
        raise ValueError("statvfs counters must be >= 0")
    if f_bfree > f_blocks:
        raise ValueError(f"f_bfree ({f_bfree}) exceeds f_blocks ({f_blocks}); "
                         "accepted: 0 <= f_bavail <= f_bfree <= f_blocks")
    if f_bavail > f_bfree:
        raise ValueError(f"f_bavail ({f_bavail}) exceeds f_bfree ({f_bfree}); "
                         "accepted: 0 <= f_bavail <= f_bfree <= f_blocks")
    used_blocks = f_blocks - f_bfree
    iused = f_files - f_ffree
    return DfFigures(
        size=f_blocks * f_frsize,
        used=used_blocks * f_frsize,
        avail=f_bavail * f_frsize,
        use_pct=ceil_percent(used_blocks, f_bavail),
        itotal=f_files,
        iused=iused,
        iavail=f_ffree,
        iuse_pct=ceil_percent(iused, f_ffree) if f_files else None,
    )


def figures_of(path: str) -> DfFigures:
    """statvfs(path) and the df arithmetic on it."""
    s = os.statvfs(path)
    return df_figures(s.f_blocks, s.f_bfree, s.f_bavail, s.f_frsize,
                      s.f_files, s.f_ffree)
# --8<-- [end:figures]


# --8<-- [start:table]
HEADERS = ("1B-blocks", "Used", "Avail", "Use%", "Inodes", "IUsed", "IFree", "IUse%")
MIN_WIDTHS = (5, 5, 5, 4, 5, 5, 5, 4)      # field_data[] in df.c: "Used" is padded to 5


def _pct(p: int | None) -> str:
    return "-" if p is None else f"{p}%"


def format_table(rows: Sequence[DfFigures]) -> str:
    """The table of `df -B1 --output=size,used,avail,pcent,itotal,iused,iavail,ipcent`.

    Every column is right-aligned to its widest cell (header included, and
    at least df's minimum width) and columns are separated by one space, as
    df's print_table does.

    >>> print(format_table([df_figures(0, 0, 0, 4096, 0, 0)]))
    1B-blocks  Used Avail Use% Inodes IUsed IFree IUse%
            0     0     0    -      0     0     0     -
    """
    cells = [list(HEADERS)]
    for r in rows:
        cells.append([str(r.size), str(r.used), str(r.avail), _pct(r.use_pct),
                      str(r.itotal), str(r.iused), str(r.iavail), _pct(r.iuse_pct)])
    widths = [max([MIN_WIDTHS[c]] + [len(row[c]) for row in cells]) for c in range(len(HEADERS))]
    return "\n".join(" ".join(cell.rjust(w) for cell, w in zip(row, widths))
                     for row in cells)
# --8<-- [end:table]


# --8<-- [start:inodes]
@dataclass(frozen=True)
class FillResult:
    files: int           # files created before the first failure
    stopped_by: str      # "inodes" or "blocks"
    blocks_left: int
    inodes_left: int


def fill_small_files(free_inodes: int, free_blocks: int, block_size: int,
                     file_size: int) -> FillResult:
    """Create files of file_size bytes until the filesystem refuses one.

    Each file takes one inode and ceil(file_size / block_size) data blocks
    (an empty file takes no data block).  Whichever runs out first stops the
    writer with ENOSPC, and df -h may still show plenty of free space.

    >>> r = fill_small_files(free_inodes=16373, free_blocks=51437,
    ...                      block_size=1024, file_size=100)
    >>> r.files, r.stopped_by, r.blocks_left
    (16373, 'inodes', 35064)
    """
    _check_counts(free_inodes=free_inodes, free_blocks=free_blocks, block_size=block_size, file_size=file_size)
    per_file = math.ceil(file_size / block_size)
    by_blocks = free_blocks // per_file if per_file else free_inodes
    files = min(free_inodes, by_blocks)
    stopped_by = "inodes" if free_inodes <= by_blocks else "blocks"
    return FillResult(files, stopped_by, free_blocks - files * per_file,
                      free_inodes - files)
# --8<-- [end:inodes]


def _check_counts(**counts: int) -> None:
    """fill_small_files()'s counts: whole numbers 0..2**64 (block_size above 0), as statvfs gives them."""
    for name, value in counts.items():
        low = 1 if name == "block_size" else 0
        if type(value) is not int or not low <= value <= 2**64:
            raise ValueError(f"need block_size > 0 and file_size, free_inodes, free_blocks >= 0, whole "
                             f"numbers up to 2**64 (got {name} = {value!r:.40})")


# --8<-- [start:sparse]
def apparent_and_allocated(path: str) -> tuple[int, int]:
    """(st_size, st_blocks * 512): what `ls -l` and `du` report for a file.

    st_blocks counts 512-byte units whatever the filesystem block size
    (stat(2)), so a sparse file has allocated < apparent.
    """
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512
# --8<-- [end:sparse]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="df -B1 --output=size,used,avail,pcent,itotal,iused,iavail,ipcent, from os.statvfs")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    args = parser.parse_args(argv)
    try:
        rows = [figures_of(p) for p in args.paths]
    except (OSError, ValueError) as exc:
        print(f"dfcalc.py: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
