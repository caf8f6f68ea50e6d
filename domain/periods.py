"""Calendar spans as quants write them (6M, 2W, 30D, 12H) and the walk-forward windows cut
from a date range with them. Months are calendar months: 1M from 31 January ends on the
last day of February, as a quant reading a report expects, not after 30 days."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_SPAN = re.compile(r"^\s*(\d+)\s*([YMWDH])\s*$", re.IGNORECASE)
UNITS = "Y (years), M (months), W (weeks), D (days), H (hours)"


class SpanError(ValueError):
    """A span that is not a count and a unit; the message shows the form."""


@dataclass(frozen=True)
class Span:
    count: int
    unit: str  # Y, M, W, D or H

    @classmethod
    def parse(cls, text: str) -> Span:
        match = _SPAN.match(text)
        if match is None or int(match.group(1)) == 0:
            raise SpanError(f"{text!r} is not a span: write a positive count and a unit, {UNITS}")
        return cls(int(match.group(1)), match.group(2).upper())

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def after(self, ns: int) -> int:
        """The instant this span after `ns` (UTC, nanoseconds)."""
        return self._shift(ns, 1)

    def before(self, ns: int) -> int:
        return self._shift(ns, -1)

    def _shift(self, ns: int, sign: int) -> int:
        at = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
        rest = ns % 1_000_000_000
        if self.unit in "YM":
            months = sign * self.count * (12 if self.unit == "Y" else 1)
            year, month = divmod(at.month - 1 + months, 12)
            year += at.year
            day = min(at.day, calendar.monthrange(year, month + 1)[1])
            moved = at.replace(year=year, month=month + 1, day=day)
        else:
            hours = {"W": 24 * 7, "D": 24, "H": 1}[self.unit] * self.count
            moved = at + timedelta(hours=sign * hours)
        return int(moved.timestamp()) * 1_000_000_000 + rest


@dataclass(frozen=True)
class Window:
    """One walk-forward step: fit on [train_start, train_end), judge on [train_end, test_end)."""

    index: int
    train_start: int
    train_end: int
    test_end: int

    @property
    def test_start(self) -> int:
        return self.train_end


def walk_forward(start: int, end: int, train: Span, test: Span, anchored: bool) -> list[Window]:
    """Test windows back to back from `start` + train until the data ends (the last one cut
    short by the end of the range), each trained on what precedes it: everything since
    `start` when anchored, else the train span just before it. Their test parts never overlap
    and leave no gap, so the out-of-sample results stitch into one curve."""
    windows: list[Window] = []
    boundary = train.after(start)
    while boundary < end:
        test_end = min(test.after(boundary), end)
        train_start = start if anchored else max(start, train.before(boundary))
        windows.append(Window(len(windows), train_start, boundary, test_end))
        boundary = test_end
    return windows
