"""Market data: what is stored, the latest quote, and bars, read from the market-data store
(ClickHouse) and from the live quotes the WebSocket fan-out already follows.

The store's client is synchronous, so reads run in a worker thread and the event loop keeps
serving while ClickHouse answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.guards import Reader, Res
from api.problems import invalid
from api.schemas.base import Page
from api.schemas.market import Bar, Quote, Series, SymbolData
from domain.clock import moment_of, ns_of
from domain.market_data import PriceSide, Timeframe

router = APIRouter(prefix="/v1", tags=["market data"])

SymbolPath = Annotated[str, Path(min_length=1, max_length=32, examples=["EURUSD"])]
NANOS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime, field: str) -> int:
    if moment.tzinfo is None:
        raise invalid(field, "give a time zone (2024-01-02T00:00:00Z)", "query")
    return ns_of(moment)


@router.get(
    "/symbols",
    summary="Symbols with stored market data, and what is stored of each (up to 30 s old)",
)
async def list_symbols(principal: Reader, res: Res) -> list[SymbolData]:
    stored = await res.stored_series()
    symbols: dict[str, list[Series]] = {}
    for s in stored:
        symbols.setdefault(s.symbol, []).append(
            Series(
                kind=s.kind.value,
                timeframe=s.timeframe.value if s.timeframe else None,
                side=s.side.value if s.side else None,
                rows=s.rows,
                first=moment_of(s.first_ts),
                last=moment_of(s.last_ts),
            )
        )
    return [SymbolData(symbol=name, series=series) for name, series in symbols.items()]


@router.get(
    "/quotes/{symbol}",
    summary="The latest quote of a symbol",
    responses={404: {"description": "no quote of the symbol, live or stored"}},
)
async def latest_quote(symbol: SymbolPath, principal: Reader, res: Res) -> Quote:
    live = res.fanout.last_quote(principal.tenant_id, symbol)
    if live is not None:
        return Quote(
            symbol=symbol,
            bid=live["bid"],
            ask=live["ask"],
            time=moment_of(live["ts"]),
            source="live",
        )
    stored = await asyncio.to_thread(res.market.last_tick, symbol)
    if stored is None:
        raise HTTPException(404, f"no quote of {symbol!r}: no hot path streams it, none stored")
    ts, bid, ask = stored
    return Quote(symbol=symbol, bid=bid, ask=ask, time=moment_of(ts), source="stored")


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        kind, _, at = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        if kind != "bars":
            raise ValueError(kind)
        return int(at)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("cursor", "not a cursor this API gave out", "query") from None


@router.get(
    "/bars/{symbol}",
    summary="Bars of a symbol, oldest first; higher timeframes are built from M1 when not stored",
)
async def list_bars(
    symbol: SymbolPath,
    principal: Reader,
    res: Res,
    timeframe: Timeframe = Timeframe.M1,
    side: PriceSide = PriceSide.BID,
    start: Annotated[
        datetime | None,
        Query(description="first bar's time (included); default: `limit` bars before `end`"),
    ] = None,
    end: Annotated[datetime | None, Query(description="excluded; default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=5_000, description="bars per page")] = 500,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> Page[Bar]:
    end_ns = _ns(end, "end") if end is not None else time.time_ns()
    start_ns = _ns(start, "start") if start is not None else end_ns - limit * timeframe.nanos
    after = _cursor(cursor)
    if after is not None:
        start_ns = max(start_ns, after)
    if start_ns >= end_ns:
        raise invalid("start", "must be before end", "query")
    frame = await asyncio.to_thread(
        res.market.read_bars, symbol, timeframe, side, start_ns, end_ns, limit + 1
    )
    rows = frame.head(limit).iter_rows(named=True)
    items = [
        Bar(
            time=r["ts"],
            open=r["open"],
            high=r["high"],
            low=r["low"],
            close=r["close"],
            volume=r["volume"],
        )
        for r in rows
    ]
    next_cursor = None
    if frame.height > limit:
        following = frame["ts"].dt.epoch("ns")[limit]
        next_cursor = base64.urlsafe_b64encode(f"bars|{following}".encode()).decode()
    return Page[Bar](items=items, next_cursor=next_cursor)
