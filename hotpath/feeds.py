"""Where ticks come from: a synthetic demo market, a replay of stored history, or MT5.

Feeds yield batches of ticks, so the loop awaits once per batch rather than once per tick.
A paced feed sleeps until each tick's time (scaled by `speed`); `speed=None` replays as fast
as the engine can take it.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from domain.market import QuoteTick
from domain.ports import MarketDataStore

Batch = list[QuoteTick]


class Feed(Protocol):
    # True where ticks come every few seconds for as long as the feed runs, so that silence
    # means the feed is stuck (the synthetic market); False where a market may be quiet for
    # hours and silence says nothing (a venue over the weekend, a replay that has ended).
    continuous: bool

    def batches(self) -> AsyncIterator[Batch]: ...


class SyntheticFeed:
    """A seeded random market with volatility that clusters, for demos and tests.

    Returns are drawn around a GARCH(1,1)-like variance, so quiet and busy stretches
    alternate as in real FX; spreads widen with volatility.
    """

    continuous = True

    def __init__(
        self,
        start_prices: Mapping[str, float],
        seed: int = 7,
        ticks_per_second: float = 20.0,
        spread_points: int = 8,
        point: float = 1e-5,
        realtime: bool = True,
        start_ns: int | None = None,
        limit: int | None = None,
    ) -> None:
        self._prices = dict(start_prices)
        self._rng = random.Random(seed)
        self._interval_ns = int(1e9 / ticks_per_second)
        self._spread = spread_points * point
        self._realtime = realtime
        self._now = start_ns if start_ns is not None else time.time_ns()
        self._limit = limit
        self._variance = dict.fromkeys(start_prices, 1e-10)

    def _next(self, symbol: str) -> QuoteTick:
        var = self._variance[symbol]
        shock = self._rng.gauss(0.0, math.sqrt(var))
        self._variance[symbol] = 2e-12 + 0.05 * shock * shock + 0.93 * var
        mid = self._prices[symbol] * math.exp(shock)
        self._prices[symbol] = mid
        half = self._spread * (0.5 + 50_000.0 * math.sqrt(var)) * 0.5
        return QuoteTick(symbol, self._now, round(mid - half, 6), round(mid + half, 6), 1.0, 1.0)

    async def batches(self) -> AsyncIterator[Batch]:
        produced = 0
        symbols = list(self._prices)
        while self._limit is None or produced < self._limit:
            if self._realtime:
                self._now = time.time_ns()
            batch = []
            for _ in range(max(1, int(0.1e9 // self._interval_ns)) if self._realtime else 1000):
                for symbol in symbols:
                    batch.append(self._next(symbol))
                self._now += self._interval_ns // max(1, len(symbols))
            produced += len(batch)
            yield batch
            await asyncio.sleep(0.1 if self._realtime else 0)


class ReplayFeed:
    """Stored ticks of one symbol between two instants, as fast as possible or paced."""

    continuous = False

    def __init__(
        self,
        store: MarketDataStore,
        symbol: str,
        start_ns: int,
        end_ns: int,
        speed: float | None = None,
        batch_size: int = 1000,
    ) -> None:
        self._store = store
        self._symbol = symbol
        self._range = (start_ns, end_ns)
        self._speed = speed
        self._batch = batch_size

    async def batches(self) -> AsyncIterator[Batch]:
        frame = await asyncio.to_thread(self._store.read_ticks, self._symbol, *self._range)
        rows = frame.select(
            frame["ts"].dt.epoch("ns").alias("ts"), "bid", "ask", "bid_volume", "ask_volume"
        ).rows()
        if not rows:
            return
        wall_start, data_start = time.monotonic_ns(), rows[0][0]
        for i in range(0, len(rows), self._batch):
            chunk = rows[i : i + self._batch]
            if self._speed is not None:
                due = wall_start + (chunk[0][0] - data_start) / self._speed
                delay = (due - time.monotonic_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
            yield [QuoteTick(self._symbol, ts, b, a, bv, av) for ts, b, a, bv, av in chunk]
            if self._speed is None:
                await asyncio.sleep(0)


class Mt5Feed:
    """Polls MT5 for the ticks since the last one seen (copy_ticks_from), per symbol."""

    COPY_TICKS_INFO = 1  # bid/ask changes only

    continuous = False  # markets close

    def __init__(self, mt5: Any, symbols: Sequence[str], poll_seconds: float = 0.05) -> None:
        self._mt5 = mt5
        self._symbols = list(symbols)
        self._poll = poll_seconds
        self._since_ms = {s: int(time.time() * 1000) for s in symbols}

    async def batches(self) -> AsyncIterator[Batch]:
        while True:
            batch: Batch = []
            for symbol in self._symbols:
                ticks = await asyncio.to_thread(
                    self._mt5.copy_ticks_from,
                    symbol,
                    self._since_ms[symbol] / 1000.0,
                    10_000,
                    self.COPY_TICKS_INFO,
                )
                for tick in ticks if ticks is not None else ():
                    msc = int(tick["time_msc"])
                    if msc <= self._since_ms[symbol]:
                        continue
                    self._since_ms[symbol] = msc
                    batch.append(
                        QuoteTick(symbol, msc * 1_000_000, float(tick["bid"]), float(tick["ask"]))
                    )
            if batch:
                yield batch
            await asyncio.sleep(self._poll)
