"""One contract for the market-data store, run on every ClickHouse backend available:
chDB in this process, chDB served over HTTP by the embedded platform, and a ClickHouse server
when AITP_CLICKHOUSE__URL names one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from domain.market_data import PriceSide, SeriesKind, Timeframe
from tests.conftest import RunningPlatform, backends
from tests.contract.stores import clickhouse_executor

MINUTE = 60 * 1_000_000_000
T0 = 1_700_000_000 // 60 * 60 * 1_000_000_000  # a minute boundary in 2023


@pytest.fixture(params=backends("chdb", "chdb_http", server="AITP_CLICKHOUSE__URL"))
def store(
    request: pytest.FixtureRequest, tmp_path: Path, platform: RunningPlatform
) -> Iterator[ClickHouseMarketDataStore]:
    executor = clickhouse_executor(request.param, tmp_path, platform)
    database = f"t_{uuid.uuid4().hex[:12]}"  # each test its own database
    store = ClickHouseMarketDataStore(executor, database)
    store.ensure_schema()
    try:
        yield store
    finally:
        executor.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


def bars(n: int, start: int = T0, step: int = MINUTE, base: float = 1.1) -> pl.DataFrame:
    opens = [base + i * 1e-4 for i in range(n)]
    return pl.DataFrame(
        {
            "ts": pl.Series([start + i * step for i in range(n)]).cast(pl.Datetime("ns", "UTC")),
            "open": opens,
            "high": [o + 5e-4 for o in opens],
            "low": [o - 5e-4 for o in opens],
            "close": [o + 1e-4 for o in opens],
            "volume": [float(i) for i in range(n)],
        }
    )


def test_bars_read_back_exactly_as_written(store: ClickHouseMarketDataStore) -> None:
    written = bars(500)
    assert store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, written) == 500
    got = store.read_bars("EURUSD", Timeframe.M1, PriceSide.BID, 0, 2**62)
    assert got.equals(written)


def test_writing_the_same_bars_twice_keeps_one_copy(store: ClickHouseMarketDataStore) -> None:
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, bars(100))
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, bars(100))
    assert store.read_bars("EURUSD", Timeframe.M1, PriceSide.BID, 0, 2**62).height == 100


def test_overlapping_writes_merge_and_the_later_value_wins(
    store: ClickHouseMarketDataStore,
) -> None:
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, bars(60))
    store.write_bars(
        "EURUSD", Timeframe.M1, PriceSide.BID, bars(60, start=T0 + 30 * MINUTE, base=2.0)
    )
    got = store.read_bars("EURUSD", Timeframe.M1, PriceSide.BID, 0, 2**62)
    assert got.height == 90
    assert got["open"][29] == pytest.approx(1.1 + 29e-4)
    assert got["open"][30] == 2.0


def test_range_is_half_open_and_series_are_kept_apart(store: ClickHouseMarketDataStore) -> None:
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, bars(10))
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.ASK, bars(10, base=1.2))
    store.write_bars("GBPUSD", Timeframe.M1, PriceSide.BID, bars(10, base=1.3))
    got = store.read_bars("EURUSD", Timeframe.M1, PriceSide.ASK, T0 + 2 * MINUTE, T0 + 5 * MINUTE)
    assert got["ts"].dt.epoch("ns").to_list() == [T0 + k * MINUTE for k in (2, 3, 4)]
    assert got["open"][0] == pytest.approx(1.2 + 2e-4)


def test_higher_timeframes_are_aggregated_from_m1(store: ClickHouseMarketDataStore) -> None:
    hour = 60 * MINUTE
    start = T0 - T0 % hour
    m1 = bars(120, start=start)
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, m1)
    h1 = store.read_bars("EURUSD", Timeframe.H1, PriceSide.BID, 0, 2**62)
    first = m1.head(60)
    assert h1.height == 2
    assert h1.row(0) == (
        h1["ts"][0],
        first["open"][0],
        first["high"].max(),
        first["low"].min(),
        first["close"][-1],
        first["volume"].sum(),
    )
    assert h1["ts"].dt.epoch("ns").to_list() == [start, start + hour]


def test_stored_higher_timeframes_are_read_as_stored(store: ClickHouseMarketDataStore) -> None:
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, bars(120))
    daily = bars(3, step=86_400 * 1_000_000_000, base=5.0)
    store.write_bars("EURUSD", Timeframe.D1, PriceSide.BID, daily)
    assert store.read_bars("EURUSD", Timeframe.D1, PriceSide.BID, 0, 2**62).equals(daily)


def test_ticks_sharing_a_timestamp_are_all_kept_in_order(store: ClickHouseMarketDataStore) -> None:
    ticks = pl.DataFrame(
        {
            "ts": pl.Series([T0, T0, T0 + 1, T0 + 1]).cast(pl.Datetime("ns", "UTC")),
            "bid": [1.0, 1.1, 1.2, 1.3],
            "ask": [1.5, 1.6, 1.7, 1.8],
            "bid_volume": [0.0] * 4,
            "ask_volume": [0.0] * 4,
        }
    )
    store.write_ticks("EURUSD", ticks)
    store.write_ticks("EURUSD", ticks)
    assert store.read_ticks("EURUSD", 0, 2**62).equals(ticks)


def test_a_limit_gives_the_first_bars_of_the_range_stored_or_aggregated(
    store: ClickHouseMarketDataStore,
) -> None:
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, bars(600))
    first = store.read_bars("EURUSD", Timeframe.M1, PriceSide.BID, T0 + MINUTE, 2**62, limit=3)
    assert first["ts"].dt.epoch("ns").to_list() == [T0 + k * MINUTE for k in (1, 2, 3)]
    five = store.read_bars("EURUSD", Timeframe.M5, PriceSide.BID, 0, 2**62, limit=2)
    everything = store.read_bars("EURUSD", Timeframe.M5, PriceSide.BID, 0, 2**62)
    assert everything.height > 2
    assert five.equals(everything.head(2))


def test_the_last_tick_is_the_newest_one_written_last(store: ClickHouseMarketDataStore) -> None:
    assert store.last_tick("EURUSD") is None
    ticks = pl.DataFrame(
        {
            "ts": pl.Series([T0, T0 + 5, T0 + 5]).cast(pl.Datetime("ns", "UTC")),
            "bid": [1.0, 1.1, 1.2],
            "ask": [1.5, 1.6, 1.7],
            "bid_volume": [0.0] * 3,
            "ask_volume": [0.0] * 3,
        }
    )
    store.write_ticks("EURUSD", ticks)
    store.write_ticks("GBPUSD", ticks.with_columns(pl.col("ts") + pl.duration(seconds=1)))
    assert store.last_tick("EURUSD") == (T0 + 5, 1.2, 1.7)


def test_series_lists_what_is_stored(store: ClickHouseMarketDataStore) -> None:
    store.write_bars("EURUSD", Timeframe.M1, PriceSide.BID, bars(10))
    store.write_ticks(
        "USDJPY",
        pl.DataFrame(
            {
                "ts": pl.Series([T0]).cast(pl.Datetime("ns", "UTC")),
                "bid": [150.0],
                "ask": [150.1],
                "bid_volume": [0.0],
                "ask_volume": [0.0],
            }
        ),
    )
    listed = {(s.symbol, s.kind, s.timeframe, s.side, s.rows, s.first_ts) for s in store.series()}
    assert listed == {
        ("EURUSD", SeriesKind.BARS, Timeframe.M1, PriceSide.BID, 10, T0),
        ("USDJPY", SeriesKind.TICKS, None, None, 1, T0),
    }


def test_an_empty_range_is_an_empty_frame_with_the_columns(
    store: ClickHouseMarketDataStore,
) -> None:
    got = store.read_bars("NOPE", Timeframe.H1, PriceSide.BID, 0, 2**62)
    assert got.height == 0
    assert got.columns == ["ts", "open", "high", "low", "close", "volume"]
