"""Building bars from ticks, or higher bars from lower ones, as data arrives.

A bar closes when the first tick (or lower bar) of a later period arrives, or when the clock
says its period is over (`close_until`), so a quiet market still closes its bars on time.
Periods are aligned to multiples of the timeframe since the epoch, in UTC.
"""

from __future__ import annotations

from domain.market import Bar
from domain.market_data import Timeframe


class BarBuilder:
    __slots__ = ("_bar", "_closed_until", "_nanos", "late", "symbol", "timeframe")

    def __init__(self, symbol: str, timeframe: Timeframe) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self._nanos = timeframe.nanos
        self._bar: Bar | None = None
        self._closed_until = 0  # a period that closed on the clock never opens again
        self.late = 0  # prices that came after their bar had closed

    @property
    def current(self) -> Bar | None:
        """The bar being built, still open."""
        return self._bar

    def on_price(self, ts: int, price: float, volume: float = 0.0) -> Bar | None:
        """Add one traded or quoted price; return the bar this closed, if any."""
        bar = self._bar
        start = ts - ts % self._nanos
        if start < self._closed_until:
            self.late += 1
            return None
        if bar is not None and start == bar.ts:
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
            bar.volume += volume
            bar.ticks += 1
            return None
        if bar is not None and start < bar.ts:
            raise ValueError(f"{self.symbol}: price at {ts} is older than the open bar {bar.ts}")
        self._bar = Bar(self.symbol, self.timeframe, start, price, price, price, price, volume, 1)
        return bar

    def on_bar(self, lower: Bar) -> Bar | None:
        """Add a bar of a lower timeframe; return the bar this closed, if any."""
        if lower.timeframe.nanos >= self._nanos or self._nanos % lower.timeframe.nanos:
            raise ValueError(f"cannot build {self.timeframe} bars from {lower.timeframe} bars")
        bar = self._bar
        start = lower.ts - lower.ts % self._nanos
        if bar is not None and start == bar.ts:
            if lower.high > bar.high:
                bar.high = lower.high
            if lower.low < bar.low:
                bar.low = lower.low
            bar.close = lower.close
            bar.volume += lower.volume
            bar.ticks += lower.ticks
            return None
        if bar is not None and start < bar.ts:
            raise ValueError(
                f"{self.symbol}: bar at {lower.ts} is older than the open bar {bar.ts}"
            )
        self._bar = Bar(
            self.symbol,
            self.timeframe,
            start,
            lower.open,
            lower.high,
            lower.low,
            lower.close,
            lower.volume,
            lower.ticks,
        )
        return bar

    def close_until(self, now: int) -> Bar | None:
        """Close the open bar if its period ended before `now` (a timer, not a price)."""
        bar = self._bar
        if bar is not None and now >= bar.ts + self._nanos:
            self._bar = None
            self._closed_until = bar.ts + self._nanos
            return bar
        return None

    def flush(self) -> Bar | None:
        """Close whatever is open (end of data)."""
        bar, self._bar = self._bar, None
        return bar
