"""Quote ticks and bars: timestamps are int nanoseconds since the epoch, UTC.

Plain classes with __slots__: the hot path builds one per tick and reads them field by field.
A bar's `ts` is its open time, as in MT5.
"""

from __future__ import annotations

from domain.market_data import Timeframe


class QuoteTick:
    __slots__ = ("ask", "ask_volume", "bid", "bid_volume", "symbol", "ts")

    def __init__(
        self,
        symbol: str,
        ts: int,
        bid: float,
        ask: float,
        bid_volume: float = 0.0,
        ask_volume: float = 0.0,
    ) -> None:
        self.symbol = symbol
        self.ts = ts
        self.bid = bid
        self.ask = ask
        self.bid_volume = bid_volume
        self.ask_volume = ask_volume

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5

    @property
    def spread(self) -> float:
        return self.ask - self.bid

    def __repr__(self) -> str:
        return f"QuoteTick({self.symbol} {self.ts} {self.bid}/{self.ask})"


class Bar:
    __slots__ = ("close", "high", "low", "open", "symbol", "ticks", "timeframe", "ts", "volume")

    def __init__(
        self,
        symbol: str,
        timeframe: Timeframe,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        ticks: int = 0,
    ) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self.ts = ts
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.ticks = ticks

    @property
    def end_ts(self) -> int:
        return self.ts + self.timeframe.nanos

    def as_tuple(self) -> tuple[int, float, float, float, float, float]:
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Bar)
            and self.symbol == other.symbol
            and self.timeframe == other.timeframe
            and self.as_tuple() == other.as_tuple()
        )

    # mutable while it is being built, so never a dict key
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Bar({self.symbol} {self.timeframe} {self.ts} "
            f"o={self.open} h={self.high} l={self.low} c={self.close} v={self.volume})"
        )
