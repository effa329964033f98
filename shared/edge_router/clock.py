"""Time as an injected dependency.

Logic never calls `time.time()`: it takes a `Clock` (or a plain `now` float). `wall()` is epoch
seconds, for anything shared across processes (the health table, `open_until`); `monotonic()` is
for durations. `FakeClock` moves only when a test says so.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...
    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.perf_counter()


class FakeClock:
    """A clock for tests: starts at `start` and moves only with `advance`."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def wall(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
