"""Soft limit, hard limit and grace period of Linux disk quotas, as the kernel checks them.

The rules are those of `check_bdq()` in the kernel's `fs/quota/dquot.c`
(the same for inodes in `check_idq()`):

1. a write that would take usage above the **hard** limit fails (EDQUOT,
   "block limit reached");
2. above the **soft** limit with the grace timer already expired: fails
   (EDQUOT, "block quota exceeded too long");
3. first time above the soft limit: allowed, a warning is issued and the
   grace timer starts (now + grace period, 7 days by default);
4. when usage drops back to the soft limit or below, the timer is cleared.

A limit of 0 means "no limit".  Sizes are in KiB, as setquota(8) takes them.

>>> q = Quota(soft=2048, hard=4096, grace=7 * DAY)
>>> q.write(3000, now=0)
'ok, warning: block quota exceeded (grace until 604800)'
>>> q.write(2000, now=10)
'EDQUOT: block limit reached'
>>> q.write(500, now=8 * DAY)
'EDQUOT: block quota exceeded too long'
>>> Quota(soft=10, hard=5, grace=DAY)
Traceback (most recent call last):
...
ValueError: soft limit 10 above hard limit 5; accepted: 0 <= soft <= hard, or hard = 0 (no limit)
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# --8<-- [start:imports]
from dataclasses import dataclass

DAY = 24 * 3600
# --8<-- [end:imports]


# --8<-- [start:rules]
@dataclass
class Quota:
    soft: int                 # KiB; 0 = no soft limit
    hard: int                 # KiB; 0 = no hard limit
    grace: int                # seconds (setquota -t / edquota -t)
    used: int = 0             # KiB
    grace_until: int = 0      # 0 = timer not running (the kernel's dqb_btime)

    def __post_init__(self) -> None:
        for name in ("soft", "hard", "grace", "used"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.grace > 2**53:
            raise ValueError(f"grace must be at most 2**53 seconds (a bound of this model), got {self.grace}")
        if min(self.soft, self.hard, self.grace, self.used) < 0:
            raise ValueError("limits, grace and usage must be >= 0")
        if max(self.soft, self.hard, self.used) > 2**53:
            raise ValueError("limits and usage must be at most 2**53 KiB (8 EiB, a bound of this model)")
        if self.hard and self.soft > self.hard:
            raise ValueError(f"soft limit {self.soft} above hard limit {self.hard}; "
                             "accepted: 0 <= soft <= hard, or hard = 0 (no limit)")

    def write(self, kib: int, now: int) -> str:
        """Try to allocate kib more; return what the kernel would do."""
        new = self.used + kib
        if self.hard and new > self.hard:
            return "EDQUOT: block limit reached"
        if self.soft and new > self.soft:
            if self.grace_until and now >= self.grace_until:
                return "EDQUOT: block quota exceeded too long"
            if not self.grace_until:
                self.grace_until = now + self.grace
                self.used = new
                return f"ok, warning: block quota exceeded (grace until {self.grace_until})"
        self.used = new
        return "ok"

    def free(self, kib: int) -> None:
        """Delete kib of data; back at or below the soft limit clears the timer."""
        self.used = max(0, self.used - kib)
        if self.used <= self.soft:
            self.grace_until = 0
# --8<-- [end:rules]


def replay(q: Quota, events: Sequence[tuple[int, str, int]]) -> list[str]:
    """Run (time, "write"|"free", KiB) events in order; one line per event.

    >>> q = Quota(soft=2048, hard=4096, grace=7 * DAY)
    >>> for line in replay(q, [(0, "write", 3000), (3 * DAY, "free", 1000),
    ...                        (4 * DAY, "write", 100), (12 * DAY, "write", 100)]):
    ...     print(line)
    t=0 write 3000 -> ok, warning: block quota exceeded (grace until 604800) [used 3000]
    t=259200 free 1000 -> ok [used 2000]
    t=345600 write 100 -> ok, warning: block quota exceeded (grace until 950400) [used 2100]
    t=1036800 write 100 -> EDQUOT: block quota exceeded too long [used 2100]
    """
    out = []
    for t, op, kib in events:
        if op == "write":
            result = q.write(kib, t)
        elif op == "free":
            q.free(kib)
            result = "ok"
        else:
            raise ValueError(f"event {op!r}: accepted 'write' or 'free'")
        out.append(f"t={t} {op} {kib} -> {result} [used {q.used}]")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="replay writes against a soft/hard block quota")
    parser.add_argument("--soft", type=int, required=True, help="soft limit, KiB (0 = none)")
    parser.add_argument("--hard", type=int, required=True, help="hard limit, KiB (0 = none)")
    parser.add_argument("--grace-days", type=float, default=7.0)
    parser.add_argument("events", nargs="+", metavar="T:OP:KIB",
                        help="e.g. 0:write:3000 259200:free:1000 (T in seconds)")
    args = parser.parse_args(argv)
    try:
        if not 0 <= args.grace_days <= 2**53 / DAY:       # also refuses inf and nan
            raise ValueError(f"--grace-days must be 0 to {2**53 / DAY:.0f} (a bound of this model), "
                             f"got {args.grace_days}")
        q = Quota(args.soft, args.hard, int(args.grace_days * DAY))
        events = []
        for e in args.events:
            parts = e.split(":")
            if len(parts) != 3:
                raise ValueError(f"event {e!r}: accepted T:OP:KIB, e.g. 0:write:100")
            if not (parts[0].isdigit() and parts[2].isdigit()):
                raise ValueError(f"event {e!r}: T and KIB must be whole numbers, e.g. 0:write:100")
            t, kib = int(parts[0]), int(parts[2])
            if not (t <= 2**53 and kib <= 2**53):
                raise ValueError(f"event {e!r}: T and KIB must be 0..2**53 (a bound of this model)")
            events.append((t, parts[1], kib))
        for line in replay(q, events):
            print(line)
    except ValueError as exc:
        print(f"quota.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
