"""Shared by the bench scripts: how many times per second a call runs."""
from __future__ import annotations

import time
from collections.abc import Callable


def calls_per_second(fn: Callable[[], object], min_time: float = 0.5) -> float:
    """Call fn repeatedly for at least min_time seconds; return calls per second."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return calls / elapsed
