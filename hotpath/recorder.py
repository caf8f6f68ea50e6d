"""Ticks and closed bars go to the market-data store in batches, off the tick loop.

The loop appends to plain lists (three appends a tick); every `interval` seconds the lists
are swapped out and written from a worker thread. A failed write keeps its rows for the
next attempt, up to a cap, so a store outage costs history, never the trading.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import polars as pl

from domain.market import QuoteTick
from domain.market_data import PriceSide, Timeframe
from domain.messages import BarClosed, Event, fields_of
from domain.ports import MarketDataStore
from hotpath.pacing import wait_or_stop

log = logging.getLogger("aitp.hotpath.recorder")
_TS = pl.Datetime("ns", "UTC")


class MarketDataRecorder:
    def __init__(
        self, store: MarketDataStore, interval_s: float = 1.0, cap: int = 2_000_000
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.cap = cap
        self._ticks: dict[str, list[tuple[int, float, float]]] = {}
        self._bars: list[dict[str, Any]] = []
        self.written_ticks = 0
        self.written_bars = 0
        self.failures = 0

    def tick(self, tick: QuoteTick) -> None:
        rows = self._ticks.get(tick.symbol)
        if rows is None:
            rows = self._ticks[tick.symbol] = []
        rows.append((tick.ts, tick.bid, tick.ask))

    def event(self, event: Event) -> None:
        """Published events pass by here; closed bars are kept."""
        if isinstance(event, BarClosed):
            self._bars.append(fields_of(event))

    async def flush(self) -> None:
        ticks, self._ticks = self._ticks, {}
        bars, self._bars = self._bars, []
        try:
            await asyncio.to_thread(self._write, ticks, bars)
        except Exception as exc:
            self.failures += 1
            log.warning("market-data store unavailable: %s", exc)
            for symbol, rows in ticks.items():  # keep them for the next attempt, within the cap
                self._ticks.setdefault(symbol, [])[:0] = rows[-self.cap :]
            self._bars[:0] = bars[-self.cap :]

    def _write(
        self, ticks: dict[str, list[tuple[int, float, float]]], bars: list[dict[str, Any]]
    ) -> None:
        for symbol, rows in ticks.items():
            frame = pl.DataFrame(
                rows, schema={"ts": pl.Int64, "bid": pl.Float64, "ask": pl.Float64}, orient="row"
            )
            frame = frame.with_columns(
                pl.col("ts").cast(_TS),
                pl.lit(0.0).alias("bid_volume"),
                pl.lit(0.0).alias("ask_volume"),
            )
            self.written_ticks += self.store.write_ticks(symbol, frame)
        by_series: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for bar in bars:
            by_series.setdefault((bar["symbol"], bar["timeframe"]), []).append(bar)
        for (symbol, timeframe), series in by_series.items():
            frame = pl.DataFrame(series).select(
                pl.col("ts").cast(_TS),
                pl.col("o").alias("open"),
                pl.col("h").alias("high"),
                pl.col("l").alias("low"),
                pl.col("c").alias("close"),
                pl.col("v").alias("volume"),
            )
            self.written_bars += self.store.write_bars(
                symbol, Timeframe(timeframe), PriceSide.BID, frame
            )

    async def run(self, stop: asyncio.Event) -> None:
        while not await wait_or_stop(stop, self.interval_s):
            await self.flush()
