"""Feeds: the synthetic market is reproducible, replay gives stored ticks back in order,
the MT5 feed hands over each tick once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import polars as pl

from adapters.clickhouse.executors import ChdbExecutor
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from hotpath.feeds import Mt5Feed, ReplayFeed, SyntheticFeed
from tests.fakes.mt5 import FakeTickSource


async def collect(feed: object, limit: int) -> list[tuple[str, int, float, float]]:
    out: list[tuple[str, int, float, float]] = []
    async for batch in feed.batches():  # type: ignore[attr-defined]
        out.extend((t.symbol, t.ts, t.bid, t.ask) for t in batch)
        if len(out) >= limit:
            break
    return out[:limit]


async def test_the_synthetic_market_is_reproducible_and_never_crossed() -> None:
    def feed(seed: int) -> SyntheticFeed:
        return SyntheticFeed(
            {"EURUSD": 1.08, "USDJPY": 150.0}, seed=seed, realtime=False, start_ns=0
        )

    first = await collect(feed(1), 3000)
    again = await collect(feed(1), 3000)
    other = await collect(feed(2), 3000)
    assert first == again
    assert first != other
    assert all(bid < ask for _, _, bid, ask in first)
    stamps = [ts for _, ts, _, _ in first]
    assert stamps == sorted(stamps)
    assert {s for s, *_ in first} == {"EURUSD", "USDJPY"}


async def test_replay_gives_the_stored_ticks_back_in_order(tmp_path: Path) -> None:
    store = ClickHouseMarketDataStore(ChdbExecutor(tmp_path / "ch"))
    store.ensure_schema()
    ticks = pl.DataFrame(
        {
            "ts": pl.Series([1_000, 2_000, 2_000, 3_000], dtype=pl.Int64).cast(
                pl.Datetime("ns", "UTC")
            ),
            "bid": [1.0, 1.1, 1.2, 1.3],
            "ask": [1.01, 1.11, 1.21, 1.31],
            "bid_volume": [0.0] * 4,
            "ask_volume": [0.0] * 4,
        }
    )
    store.write_ticks("EURUSD", ticks)
    got = await collect(ReplayFeed(store, "EURUSD", 0, 10_000, batch_size=3), 10)
    assert got == [
        ("EURUSD", 1_000, 1.0, 1.01),
        ("EURUSD", 2_000, 1.1, 1.11),
        ("EURUSD", 2_000, 1.2, 1.21),
        ("EURUSD", 3_000, 1.3, 1.31),
    ]
    paced = await collect(ReplayFeed(store, "EURUSD", 0, 10_000, speed=1e6), 10)
    assert paced == got
    store.close()


async def test_the_mt5_feed_hands_over_each_new_tick_once() -> None:
    source = FakeTickSource([])
    feed = Mt5Feed(source, ["EURUSD"], poll_seconds=0.01)
    start = feed._since_ms["EURUSD"]
    source.ticks = [(start - 5, 1.0, 1.1), (start + 1, 1.2, 1.3), (start + 2, 1.4, 1.5)]
    got = await asyncio.wait_for(collect(feed, 2), 5)
    assert got == [
        ("EURUSD", (start + 1) * 1_000_000, 1.2, 1.3),
        ("EURUSD", (start + 2) * 1_000_000, 1.4, 1.5),
    ]
    assert source.calls >= 1
