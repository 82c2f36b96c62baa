"""Pre-copy live migration as a small model: rounds, downtime, and when it never converges.

The model follows QEMU's RAM migration in its simplest form:

* round 1 sends all guest RAM (M bytes) at the migration bandwidth B;
* while a round is being sent the guest keeps writing: it dirties D bytes per
  second, but never more than its writable working set W (at most M);
* each next round resends exactly what the previous round left dirty;
* as soon as the dirty rest could be sent within the downtime limit
  (QEMU's ``downtime-limit``, 300 ms by default), the guest is paused and the
  rest is copied: that pause is the downtime;
* with auto-converge, QEMU slows the guest's vCPUs down: when a round dirties
  more than half of what it sent, for the second time, the throttle starts at
  20 % and grows by 10 % up to 99 % (QEMU ``migration/options.c`` defaults),
  which scales the dirty rate by (1 - throttle).

All sizes are bytes, times are seconds; arithmetic is exact (fractions).

Usage: ``python snippets/precopy.py --memory 8GiB --bandwidth 1GiB --dirty 256MiB``
"""
from __future__ import annotations

import argparse
import re
import sys

# --8<-- [start:model]
from fractions import Fraction

QEMU_DOWNTIME_LIMIT = Fraction(3, 10)       # 300 ms: DEFAULT_MIGRATE_SET_DOWNTIME
THROTTLE_INITIAL = Fraction(20, 100)        # auto-converge defaults in QEMU
THROTTLE_INCREMENT = Fraction(10, 100)
THROTTLE_MAX = Fraction(99, 100)
DIRTY_TRIGGER = Fraction(50, 100)           # throttle-trigger-threshold: 50 %
EIB = 2**60                                 # a bound of this model, far above any real guest


class Migration:
    """Result of precopy(): what was sent live, and how the switch-over went."""

    def __init__(self) -> None:
        self.rounds: list[int] = []          # bytes sent in each live round
        self.converged = False
        self.stop_copy = 0                   # bytes sent while the guest is paused
        self.downtime = Fraction(0)
        self.total_time = Fraction(0)
        self.throttle = Fraction(0)          # vCPU throttle at the end


def precopy(memory: int, bandwidth: int, dirty_rate: int, *,
            working_set: int | None = None, downtime_limit: Fraction = QEMU_DOWNTIME_LIMIT,
            auto_converge: bool = False, max_rounds: int = 30) -> Migration:
    """Simulate pre-copy rounds until the dirty rest fits in the downtime limit.

    8 GiB of RAM over 1 GiB/s while the guest dirties 256 MiB/s: each round is a
    quarter of the previous one (8 GiB, 2 GiB, 512 MiB), then 128 MiB fit in
    300 ms and are sent with the guest paused for 0.125 s.

    >>> GiB, MiB = 1024**3, 1024**2
    >>> m = precopy(8 * GiB, 1 * GiB, 256 * MiB)
    >>> [r // MiB for r in m.rounds], m.stop_copy // MiB, float(m.downtime), float(m.total_time)
    ([8192, 2048, 512], 128, 0.125, 10.625)

    A guest that dirties its 2 GiB working set faster than the link never converges:

    >>> precopy(8 * GiB, 1 * GiB, 2 * GiB, working_set=2 * GiB, max_rounds=5).converged
    False
    >>> precopy(8 * GiB, 0, 1)
    Traceback (most recent call last):
        ...
    ValueError: bandwidth must be > 0 bytes/s, got 0
    """
    for name, value in (("memory", memory), ("bandwidth", bandwidth), ("dirty rate", dirty_rate),
                        ("working set", working_set), ("max_rounds", max_rounds)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not isinstance(downtime_limit, (int, Fraction)) or not 0 < downtime_limit <= 3600:
        raise ValueError(f"downtime limit must be a Fraction of seconds above 0 and at most 3600, "
                         f"got {downtime_limit!r}")
    if memory <= 0:
        raise ValueError(f"memory must be > 0 bytes, got {memory}")
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0 bytes/s, got {bandwidth}")
    if dirty_rate < 0:
        raise ValueError(f"dirty rate must be >= 0 bytes/s, got {dirty_rate}")
    for name, value in (("memory", memory), ("bandwidth", bandwidth), ("dirty rate", dirty_rate)):
        if value > EIB:
            raise ValueError(f"{name} must be at most 1 EiB (a bound of this model), got {value}")
    wss = memory if working_set is None else working_set
    if not 0 < wss <= memory:
        raise ValueError(f"working set must be 1 to {memory} bytes (the memory size), got {wss}")
    if not 1 <= max_rounds <= 10_000:
        raise ValueError(f"max_rounds must be 1 to 10000, got {max_rounds}")

    result = Migration()
    to_send, high_count = memory, 0
    for _ in range(max_rounds):
        seconds = Fraction(to_send, bandwidth)
        result.rounds.append(to_send)
        result.total_time += seconds
        dirtied = min(int(dirty_rate * (1 - result.throttle) * seconds), wss)
        if auto_converge and dirtied > to_send * DIRTY_TRIGGER:
            high_count += 1
            if high_count >= 2:           # the second "too dirty" round starts/raises the throttle
                high_count = 0
                result.throttle = (THROTTLE_INITIAL if result.throttle == 0
                                   else min(result.throttle + THROTTLE_INCREMENT, THROTTLE_MAX))
        to_send = dirtied
        if Fraction(to_send, bandwidth) <= downtime_limit:
            result.converged = True
            result.stop_copy = to_send
            result.downtime = Fraction(to_send, bandwidth)
            result.total_time += result.downtime
            return result
    return result
# --8<-- [end:model]


_UNITS = {"": 1, "B": 1, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4,
          "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}


def parse_size(text: str) -> int:
    """'8GiB' -> 8589934592, '10GB' -> 10**10; binary units need the i.

    >>> parse_size("8GiB"), parse_size("1.5 MiB"), parse_size("10GB")
    (8589934592, 1572864, 10000000000)
    >>> parse_size("8 parsecs")
    Traceback (most recent call last):
        ...
    ValueError: size must be a number with an optional unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), got '8 parsecs'
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError("size must be a number with an optional unit "
                         f"(B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), got {text!r}")
    if len(m.group(1)) > 40:                     # far past 1 EiB, and Fraction would read it all
        raise ValueError(f"size {text[:30]!r}... has more than 40 digits (accepted: up to 1 EiB, "
                         "a bound of this model)")
    return int(Fraction(m.group(1)) * _UNITS[m.group(2).upper()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", required=True, help="guest RAM, e.g. 8GiB")
    parser.add_argument("--bandwidth", required=True, help="migration bandwidth per second, e.g. 1GiB")
    parser.add_argument("--dirty", required=True, help="bytes the guest dirties per second, e.g. 256MiB")
    parser.add_argument("--working-set", help="writable working set (default: all memory)")
    parser.add_argument("--downtime-ms", type=int, default=300, help="downtime limit (QEMU default 300)")
    parser.add_argument("--auto-converge", action="store_true", help="throttle vCPUs like QEMU")
    parser.add_argument("--max-rounds", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        if not 1 <= args.downtime_ms <= 2_000_000:
            raise ValueError(f"downtime must be 1 to 2000000 ms, got {args.downtime_ms}")
        m = precopy(parse_size(args.memory), parse_size(args.bandwidth), parse_size(args.dirty),
                    working_set=parse_size(args.working_set) if args.working_set else None,
                    downtime_limit=Fraction(args.downtime_ms, 1000),
                    auto_converge=args.auto_converge, max_rounds=args.max_rounds)
    except ValueError as err:
        print(f"precopy.py: {err}", file=sys.stderr)
        return 2
    for i, sent in enumerate(m.rounds, 1):
        print(f"round {i}: {sent / 1024**2:.1f} MiB")
    if m.converged:
        print(f"stop-and-copy: {m.stop_copy / 1024**2:.1f} MiB, downtime {float(m.downtime) * 1000:.1f} ms, "
              f"total {float(m.total_time):.3f} s, throttle {float(m.throttle):.0%}")
    else:
        print(f"not converged after {len(m.rounds)} rounds (throttle {float(m.throttle):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
