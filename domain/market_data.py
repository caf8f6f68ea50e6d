"""Names for series of market data: timeframes, price sides, and what a store holds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NANOS_PER_SECOND = 1_000_000_000


class Timeframe(StrEnum):
    M1 = "M1"
    M5 = "M5"
    M15 = "M15"
    M30 = "M30"
    H1 = "H1"
    H4 = "H4"
    D1 = "D1"

    @property
    def seconds(self) -> int:
        return _SECONDS[self]

    @property
    def nanos(self) -> int:
        return _SECONDS[self] * NANOS_PER_SECOND


_SECONDS = {
    Timeframe.M1: 60,
    Timeframe.M5: 300,
    Timeframe.M15: 900,
    Timeframe.M30: 1800,
    Timeframe.H1: 3600,
    Timeframe.H4: 14400,
    Timeframe.D1: 86400,
}


class PriceSide(StrEnum):
    """Which quote a bar was built from; FX data comes as separate bid and ask series."""

    BID = "bid"
    ASK = "ask"
    MID = "mid"


class SeriesKind(StrEnum):
    BARS = "bars"
    TICKS = "ticks"


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    symbol: str
    kind: SeriesKind
    timeframe: Timeframe | None
    side: PriceSide | None
    rows: int
    first_ts: int
    last_ts: int
