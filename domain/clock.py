"""Time, injected: the domain never reads a clock of its own.

Live processes pass a clock that reads the system time; replays and tests pass a
`ManualClock` that moves only when told, so the same code runs at any speed.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...


class ManualClock:
    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def set(self, ns: int) -> None:
        if ns < self._now:
            raise ValueError(f"time does not go backwards: {ns} < {self._now}")
        self._now = ns

    def advance(self, ns: int) -> None:
        self.set(self._now + ns)
