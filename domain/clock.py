"""Time, injected: the domain never reads a clock of its own.

Live processes pass a clock that reads the system time; replays and tests pass a
`ManualClock` that moves only when told, so the same code runs at any speed.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def ns_of(moment: datetime) -> int:
    """UTC nanoseconds of a moment, exactly (no float on the way); a naive moment is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MICRO * 1_000


def moment_of(ns: int) -> datetime:
    """The UTC moment of nanoseconds (to the microsecond a datetime holds)."""
    return EPOCH + timedelta(microseconds=ns // 1_000)


def parse_instant(text: str) -> int:
    """An ISO-8601 date or time as UTC nanoseconds: `2024-01-31`, `2024-01-31T13:45`,
    `...Z` or with an offset; naive times are UTC. ValueError when it is neither."""
    try:
        return ns_of(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return ns_of(datetime.combine(date.fromisoformat(text), datetime.min.time()))


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    """The system's time: what live processes pass."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()


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
