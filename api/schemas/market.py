"""Market data as clients see it. Prices here are numbers, not decimal strings: they are the
doubles the feed and the store hold, sent as they are for charts and signals."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas.base import Output


class Series(Output):
    kind: Literal["bars", "ticks"]
    timeframe: str | None = Field(description="bars only", examples=["M1"])
    side: str | None = Field(description="bars only: bid, ask or mid", examples=["bid"])
    rows: int
    first: datetime
    last: datetime


class SymbolData(Output):
    symbol: str
    series: list[Series]


class Quote(Output):
    symbol: str
    bid: float
    ask: float
    time: datetime
    source: Literal["live", "stored"] = Field(
        description="live: the latest quote a hot path of your tenant streamed; "
        "stored: the newest tick in the market-data store"
    )


class Bar(Output):
    time: datetime = Field(description="the bar's opening instant, UTC")
    open: float
    high: float
    low: float
    close: float
    volume: float
