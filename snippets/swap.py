"""Red Hat's recommended swap size, as a function, with its boundaries made explicit.

The table is "Recommended system swap space" of the RHEL 8 and RHEL 9 guide
*Managing storage devices* (chapter "Getting started with swap"), the same
table as Table 15.1 of the RHEL 7 *Storage Administration Guide*:

=================  ===========================  ===========================
RAM                recommended swap             if allowing for hibernation
=================  ===========================  ===========================
<= 2 GB            2 x RAM                      3 x RAM
> 2 GB - 8 GB      = RAM                        2 x RAM
> 8 GB - 64 GB     at least 4 GB                1.5 x RAM
> 64 GB            at least 4 GB                hibernation not recommended
=================  ===========================  ===========================

The guide adds that at the borders (2, 8 and 64 GB) "discretion can be
exercised": `at_border` flags those inputs.  The function takes GiB, the way
`free -g` and the installer count memory.

>>> swap_size(8)
Advice(ram_gib=8.0, swap_gib=8.0, minimum_only=False, hibernate=False, at_border=True)
>>> swap_size(8, hibernate=True).swap_gib
16.0
>>> swap_size(0)
Traceback (most recent call last):
...
ValueError: RAM must be > 0 GiB and <= 1048576 GiB, got 0
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# --8<-- [start:imports]
from dataclasses import dataclass

MAX_RAM_GIB = 1024 * 1024      # 1 PiB: far beyond any machine, rejects typos
# --8<-- [end:imports]


# --8<-- [start:advice]
@dataclass(frozen=True)
class Advice:
    ram_gib: float
    swap_gib: float | None   # None: hibernation not recommended (> 64 GB)
    minimum_only: bool          # True where the table says "at least"
    hibernate: bool
    at_border: bool             # 2, 8 or 64 GB: the guide leaves it to judgement


BORDERS = (2, 8, 64)


def swap_size(ram_gib: float, hibernate: bool = False) -> Advice:
    """The RHEL 8/9 recommendation for ram_gib of RAM."""
    if isinstance(ram_gib, bool) or not isinstance(ram_gib, (int, float)) or not 0 < ram_gib <= MAX_RAM_GIB:
        raise ValueError(f"RAM must be > 0 GiB and <= {MAX_RAM_GIB} GiB, got {ram_gib}")
    ram = float(ram_gib)
    minimum_only = False
    swap: float | None
    if ram <= 2:                       # "<= 2 GB"
        swap = ram * (3 if hibernate else 2)
    elif ram <= 8:                     # "> 2 GB - 8 GB": 8 belongs here
        swap = ram * (2 if hibernate else 1)
    elif ram <= 64:                    # "> 8 GB - 64 GB"
        if hibernate:
            swap = ram * 1.5
        else:
            swap, minimum_only = 4.0, True
    else:                              # "> 64 GB"
        if hibernate:
            swap = None
        else:
            swap, minimum_only = 4.0, True
    return Advice(ram, swap, minimum_only, hibernate, ram in BORDERS)
# --8<-- [end:advice]


def describe(a: Advice) -> str:
    """One line of text for the CLI.

    >>> describe(swap_size(16))
    'RAM 16 GiB: swap at least 4 GiB'
    >>> describe(swap_size(128, hibernate=True))
    'RAM 128 GiB with hibernation: hibernation not recommended'
    """
    ram = f"{a.ram_gib:g}"
    head = f"RAM {ram} GiB" + (" with hibernation" if a.hibernate else "")
    if a.swap_gib is None:
        return f"{head}: hibernation not recommended"
    text = f"{head}: swap {'at least ' if a.minimum_only else ''}{a.swap_gib:g} GiB"
    if a.at_border:
        text += " (border of the table: the guide leaves the choice to you)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="RHEL 8/9 recommended swap size")
    parser.add_argument("ram_gib", type=float, help="installed RAM in GiB")
    parser.add_argument("--hibernate", action="store_true", help="allow for hibernation")
    args = parser.parse_args(argv)
    try:
        print(describe(swap_size(args.ram_gib, args.hibernate)))
    except ValueError as exc:
        print(f"swap.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
