"""How many identical VMs fit on a host when vCPUs and RAM are overcommitted.

A scheduler (OpenStack Nova's placement, oVirt, Proxmox's admission checks)
treats a host as  (physical amount - reserved for the host) x allocation ratio
of each resource and places VMs while every resource still has room.  The
resource that runs out first limits the count.

Usage: ``python snippets/overcommit.py --cores 32 --ram-gib 256 --vm-vcpus 4 --vm-ram-gib 16 --cpu-ratio 4``
"""
from __future__ import annotations

import argparse
import math
import re
import sys

# --8<-- [start:capacity]
from fractions import Fraction


def capacity(cores: int, ram_gib: int, vm_vcpus: int, vm_ram_gib: int, *,
             cpu_ratio: Fraction | float = 1, ram_ratio: Fraction | float = 1,
             reserved_cores: int = 0, reserved_ram_gib: int = 0) -> tuple[int, str]:
    """Return (number of VMs that fit, the resource that limits it).

    32 cores and 256 GiB, 4 GiB kept for the host, VMs of 4 vCPU / 16 GiB:
    without overcommit CPU limits at 32 / 4 = 8 VMs; with 4:1 vCPUs the CPU
    allows 32; memory allows (256 - 4) / 16 = 15.75, so 15 VMs, memory-bound.

    >>> capacity(32, 256, 4, 16, reserved_ram_gib=4)
    (8, 'vcpu')
    >>> capacity(32, 256, 4, 16, cpu_ratio=4, reserved_ram_gib=4)
    (15, 'ram')
    >>> capacity(32, 256, 4, 16, cpu_ratio=4, ram_ratio=1.5, reserved_ram_gib=4)
    (23, 'ram')
    >>> capacity(32, 256, 0, 16)
    Traceback (most recent call last):
        ...
    ValueError: vm_vcpus must be 1 to 4096, got 0
    """
    for name, value, low, high in [("cores", cores, 1, 1 << 16), ("ram_gib", ram_gib, 1, 1 << 24),
                                   ("vm_vcpus", vm_vcpus, 1, 4096), ("vm_ram_gib", vm_ram_gib, 1, 1 << 20),
                                   ("reserved_cores", reserved_cores, 0, 1 << 16),
                                   ("reserved_ram_gib", reserved_ram_gib, 0, 1 << 24)]:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name} must be {low} to {high}, got {value!r}")
    ratios = []
    for name, ratio in [("cpu_ratio", cpu_ratio), ("ram_ratio", ram_ratio)]:
        # checked before Fraction: Fraction(inf) and Fraction(nan) raise, float(huge) overflows
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float, Fraction)) \
                or not 0 < ratio <= 64 or (isinstance(ratio, float) and math.isnan(ratio)):
            raise ValueError(f"{name} must be > 0 and <= 64, got {ratio!r}")
        ratios.append(Fraction(ratio))
    cpu_ratio, ram_ratio = ratios
    if not 0 <= reserved_cores < cores or not 0 <= reserved_ram_gib < ram_gib:
        raise ValueError(f"reserved resources must be >= 0 and below the host's "
                         f"({cores} cores, {ram_gib} GiB), got {reserved_cores} cores, {reserved_ram_gib} GiB")
    by_cpu = int((cores - reserved_cores) * cpu_ratio / vm_vcpus)
    by_ram = int((ram_gib - reserved_ram_gib) * ram_ratio / vm_ram_gib)
    return (by_cpu, "vcpu") if by_cpu <= by_ram else (by_ram, "ram")
# --8<-- [end:capacity]


RATIO = re.compile(r"(\d{1,9}(?:\.\d{1,9})?(?:[eE][+-]?\d{1,2})?)(?:/(\d{1,9}))?")


def ratio_arg(text: str) -> Fraction:
    """An allocation ratio on the command line: 16, 1.5, 3/2 or 1.5e1, at most 64.

    The text is bounded before Fraction reads it: Fraction("1e999999999") would build a
    billion-digit number, and Fraction("1/0") raises ZeroDivisionError, which argparse
    does not turn into a usage error.
    """
    m = RATIO.fullmatch(text.strip())
    value = None
    if m and (m.group(2) is None or int(m.group(2)) > 0):
        value = Fraction(m.group(1)) / int(m.group(2) or 1)
    if value is None or not 0 < value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ratio above 0 and at most 64 "
                                         "(accepted e.g. 16, 1.5 or 3/2)")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, required=True, help="physical cores (or threads) of the host")
    parser.add_argument("--ram-gib", type=int, required=True, help="host RAM in GiB")
    parser.add_argument("--vm-vcpus", type=int, required=True)
    parser.add_argument("--vm-ram-gib", type=int, required=True)
    parser.add_argument("--cpu-ratio", type=ratio_arg, default=Fraction(1), help="vCPU allocation ratio")
    parser.add_argument("--ram-ratio", type=ratio_arg, default=Fraction(1), help="RAM allocation ratio")
    parser.add_argument("--reserved-cores", type=int, default=0)
    parser.add_argument("--reserved-ram-gib", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        n, limit = capacity(args.cores, args.ram_gib, args.vm_vcpus, args.vm_ram_gib,
                            cpu_ratio=args.cpu_ratio, ram_ratio=args.ram_ratio,
                            reserved_cores=args.reserved_cores, reserved_ram_gib=args.reserved_ram_gib)
    except ValueError as err:
        print(f"overcommit.py: {err}", file=sys.stderr)
        return 2
    print(f"{n} VMs fit, limited by {limit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
