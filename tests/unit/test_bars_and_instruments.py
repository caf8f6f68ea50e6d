"""Bars built from ticks and from lower bars; prices and volumes on the instrument's grid."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from domain.bars import BarBuilder
from domain.instruments import InstrumentError, fx_major
from domain.market import Bar
from domain.market_data import Timeframe

MIN = 60 * 1_000_000_000


def test_ticks_make_m1_bars_that_close_on_the_next_period() -> None:
    builder = BarBuilder("EURUSD", Timeframe.M1)
    assert builder.on_price(0, 1.10, 1) is None
    assert builder.on_price(10 * 10**9, 1.12, 2) is None
    assert builder.on_price(20 * 10**9, 1.09, 1) is None
    assert builder.on_price(59 * 10**9, 1.11, 1) is None
    closed = builder.on_price(MIN + 1, 1.2, 1)
    assert closed == Bar("EURUSD", Timeframe.M1, 0, 1.10, 1.12, 1.09, 1.11, 5.0)
    assert closed is not None
    assert closed.ticks == 4
    assert builder.current is not None
    assert builder.current.ts == MIN


def test_a_quiet_market_closes_its_bar_on_the_clock() -> None:
    builder = BarBuilder("EURUSD", Timeframe.M5)
    builder.on_price(30 * 10**9, 1.1)
    assert builder.close_until(5 * MIN - 1) is None
    closed = builder.close_until(5 * MIN)
    assert closed is not None
    assert closed.ts == 0
    assert builder.current is None


def test_a_price_older_than_the_open_bar_is_refused() -> None:
    builder = BarBuilder("EURUSD", Timeframe.M1)
    builder.on_price(2 * MIN, 1.1)
    with pytest.raises(ValueError, match="older than the open bar"):
        builder.on_price(MIN, 1.1)


@pytest.mark.shared_data
@pytest.mark.parametrize("timeframe", [Timeframe.M5, Timeframe.H1, Timeframe.D1])
def test_higher_bars_from_real_m1_equal_a_group_by(shared_data: Path, timeframe: Timeframe) -> None:
    frame = pl.read_csv(shared_data / "crypto/BTCPERP-M1-2022-01.csv").with_columns(
        pl.col("timestamp")
        .str.to_datetime(time_unit="ns", time_zone="UTC")
        .dt.epoch("ns")
        .alias("ts")
    )
    builder = BarBuilder("BTC", timeframe)
    built = []
    for ts, o, h, lo, c, v in frame.select(
        "ts", "open", "high", "low", "close", "volume"
    ).iter_rows():
        closed = builder.on_bar(Bar("BTC", Timeframe.M1, ts, o, h, lo, c, v))
        if closed is not None:
            built.append(closed.as_tuple())
    last = builder.flush()
    assert last is not None
    built.append(last.as_tuple())
    want = (
        frame.with_columns((pl.col("ts") - pl.col("ts") % timeframe.nanos).alias("bucket"))
        .group_by("bucket", maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
    )
    assert len(built) == want.height
    for ours, theirs in zip(built, want.iter_rows(), strict=True):
        assert ours[:5] == theirs[:5]
        assert ours[5] == pytest.approx(theirs[5], rel=1e-12)


def test_bars_cannot_be_built_from_a_timeframe_that_does_not_divide() -> None:
    builder = BarBuilder("X", Timeframe.M15)
    with pytest.raises(ValueError, match="cannot build M15 bars from H1"):
        builder.on_bar(Bar("X", Timeframe.H1, 0, 1, 1, 1, 1))


def test_prices_round_to_the_tick_grid_in_decimal() -> None:
    eurusd = fx_major("EURUSD")
    assert eurusd.round_price(1.1 + 0.2 - 0.2) == Decimal("1.10000")
    assert eurusd.round_price(1.123455) == Decimal("1.12346")
    assert eurusd.round_price(1.123465) == Decimal("1.12346")  # ties to even
    usdjpy = fx_major("USDJPY", digits=3)
    assert usdjpy.round_price(151.12345) == Decimal("151.123")
    assert usdjpy.price_in_points(0.5) == 500


def test_volumes_round_down_to_the_step_and_respect_the_limits() -> None:
    eurusd = fx_major("EURUSD")
    assert eurusd.normalise_volume(0.129) == Decimal("0.12")
    assert eurusd.normalise_volume(0.1 + 0.2) == Decimal("0.30")
    with pytest.raises(InstrumentError, match=r"below the minimum 0\.01"):
        eurusd.normalise_volume(0.009)
    with pytest.raises(InstrumentError, match="above the maximum 100"):
        eurusd.normalise_volume(150)
    with pytest.raises(InstrumentError, match="not a multiple of the step"):
        eurusd.check_volume(Decimal("0.125"))


def test_profit_is_in_the_profit_currency() -> None:
    eurusd = fx_major("EURUSD")
    assert eurusd.profit(Decimal("1"), Decimal("1.10000"), Decimal("1.10100"), long=True) == 100
    assert eurusd.profit(Decimal("0.5"), Decimal("1.10000"), Decimal("1.10100"), long=False) == -50
    assert eurusd.notional(Decimal("2"), Decimal("1.1")) == Decimal("220000.0")


def test_a_price_for_a_bar_already_closed_on_the_clock_opens_no_second_bar() -> None:
    builder = BarBuilder("EURUSD", Timeframe.M1)
    builder.on_price(10 * 10**9, 1.1)
    closed = builder.close_until(MIN)
    assert closed is not None
    assert builder.on_price(59 * 10**9, 1.2) is None  # late: its minute is over
    assert builder.current is None
    assert builder.late == 1
    builder.on_price(MIN + 1, 1.3)
    assert builder.current is not None
    assert builder.current.ts == MIN
