"""Every incremental indicator equals TA-Lib on real market data, from its first value on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from domain import indicators as ind

talib = pytest.importorskip("talib")

pytestmark = pytest.mark.shared_data

FILES = [
    "fx/GBPUSD-M1-bid-2012-02.csv",
    "crypto/BTCPERP-M1-2022-01.csv",
    "fx/USDJPY-M1-ask-2013.csv",
]
RTOL = 1e-9


@pytest.fixture(scope="module", params=FILES)
def bars(request: pytest.FixtureRequest, shared_data: Path) -> dict[str, np.ndarray]:
    frame = pl.read_csv(shared_data / request.param)
    return {c: frame[c].to_numpy().astype(np.float64) for c in ("open", "high", "low", "close")}


def run(update: Callable[..., float | None], *series: np.ndarray) -> np.ndarray:
    out = np.full(len(series[0]), np.nan)
    for i, row in enumerate(zip(*series, strict=True)):
        value = update(*row)
        if value is not None:
            out[i] = value
    return out


def assert_equals_talib(ours: np.ndarray, theirs: np.ndarray) -> None:
    # the same bars are warm (TA-Lib's lookback is ours), and the values agree
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    ready = ~np.isnan(theirs)
    assert ready.sum() > 1000
    np.testing.assert_allclose(ours[ready], theirs[ready], rtol=RTOL, atol=0)


@pytest.mark.parametrize("period", [2, 20, 200])
def test_sma(bars: dict[str, np.ndarray], period: int) -> None:
    assert_equals_talib(
        run(ind.SMA(period).update, bars["close"]), talib.SMA(bars["close"], period)
    )


@pytest.mark.parametrize("period", [2, 20, 200])
def test_ema(bars: dict[str, np.ndarray], period: int) -> None:
    assert_equals_talib(
        run(ind.EMA(period).update, bars["close"]), talib.EMA(bars["close"], period)
    )


@pytest.mark.parametrize("period", [2, 20])
def test_wma(bars: dict[str, np.ndarray], period: int) -> None:
    assert_equals_talib(
        run(ind.WMA(period).update, bars["close"]), talib.WMA(bars["close"], period)
    )


@pytest.mark.parametrize("period", [2, 14])
def test_rsi_wilder(bars: dict[str, np.ndarray], period: int) -> None:
    assert_equals_talib(
        run(ind.RSI(period).update, bars["close"]), talib.RSI(bars["close"], period)
    )


def test_macd_line_signal_and_histogram(bars: dict[str, np.ndarray]) -> None:
    macd = ind.MACD(12, 26, 9)
    line, signal, hist = (np.full(len(bars["close"]), np.nan) for _ in range(3))
    for i, x in enumerate(bars["close"]):
        if macd.update(x) is not None:
            line[i], signal[i], hist[i] = macd.value, macd.signal, macd.histogram
    want = talib.MACD(bars["close"], 12, 26, 9)
    for ours, theirs in zip((line, signal, hist), want, strict=True):
        ready = ~np.isnan(theirs)
        np.testing.assert_array_equal(np.isnan(ours), ~ready)
        # the histogram crosses zero, where a relative bound means nothing: scale by the line
        np.testing.assert_allclose(
            ours[ready], theirs[ready], rtol=RTOL, atol=RTOL * np.abs(want[0][ready]).mean()
        )


@pytest.mark.parametrize("period", [5, 20])
def test_rolling_stdev(bars: dict[str, np.ndarray], period: int) -> None:
    assert_equals_talib(
        run(ind.RollingStdev(period).update, bars["close"]), talib.STDDEV(bars["close"], period, 1)
    )


def test_bollinger_bands(bars: dict[str, np.ndarray]) -> None:
    bands = ind.Bollinger(20, 2.0, 2.0)
    upper, middle, lower = (np.full(len(bars["close"]), np.nan) for _ in range(3))
    for i, x in enumerate(bars["close"]):
        if bands.update(x) is not None:
            upper[i], middle[i], lower[i] = bands.upper, bands.middle, bands.lower
    for ours, theirs in zip(
        (upper, middle, lower), talib.BBANDS(bars["close"], 20, 2, 2), strict=True
    ):
        assert_equals_talib(ours, theirs)


def test_atr(bars: dict[str, np.ndarray]) -> None:
    assert_equals_talib(
        run(ind.ATR(14).update, bars["high"], bars["low"], bars["close"]),
        talib.ATR(bars["high"], bars["low"], bars["close"], 14),
    )


def test_stochastic(bars: dict[str, np.ndarray]) -> None:
    stoch = ind.Stochastic(5, 3, 3)
    k, d = np.full(len(bars["close"]), np.nan), np.full(len(bars["close"]), np.nan)
    for i, row in enumerate(zip(bars["high"], bars["low"], bars["close"], strict=True)):
        if stoch.update(*row) is not None:
            k[i], d[i] = stoch.k, stoch.d
    want_k, want_d = talib.STOCH(bars["high"], bars["low"], bars["close"], 5, 3, 0, 3, 0)
    assert_equals_talib(k, want_k)
    assert_equals_talib(d, want_d)


def test_adx(bars: dict[str, np.ndarray]) -> None:
    assert_equals_talib(
        run(ind.ADX(14).update, bars["high"], bars["low"], bars["close"]),
        talib.ADX(bars["high"], bars["low"], bars["close"], 14),
    )


def test_vwap_restarts_each_session_and_weights_by_volume(shared_data: Path) -> None:
    frame = pl.read_csv(shared_data / "crypto/BTCPERP-M1-2022-01.csv").with_columns(
        pl.col("timestamp").str.to_datetime(time_unit="ns", time_zone="UTC").alias("ts")
    )
    vwap = ind.VWAP()
    ours = run(
        lambda t, h, lo, c, v: vwap.update(int(t), h, lo, c, v),
        frame["ts"].dt.epoch("ns").to_numpy(),
        *(frame[c].to_numpy() for c in ("high", "low", "close", "volume")),
    )
    want = (
        frame.with_columns(
            ((pl.col("high") + pl.col("low") + pl.col("close")) / 3 * pl.col("volume")).alias("pv"),
            pl.col("ts").dt.date().alias("day"),
        )
        .with_columns(
            (pl.col("pv").cum_sum().over("day") / pl.col("volume").cum_sum().over("day")).alias("w")
        )["w"]
        .to_numpy()
    )
    np.testing.assert_allclose(ours, want, rtol=1e-9)


def test_periods_below_the_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="period must be at least 1"):
        ind.SMA(0)
    with pytest.raises(ValueError, match="period must be at least 2"):
        ind.RSI(1)


def test_extremes_follow_a_sliding_window() -> None:
    stoch = ind.Stochastic(3, 1, 1)
    highs = [5.0, 4.0, 3.0, 2.0, 6.0]
    lows = [1.0, 2.0, 1.5, 1.8, 1.9]
    closes = [3.0, 3.0, 2.0, 2.0, 6.0]
    got = [stoch.update(h, lo, c) for h, lo, c in zip(highs, lows, closes, strict=True)]
    # window [5,4,3]/[1,2,1.5]: (2-1)/(5-1); then [4,3,2]/[2,1.5,1.8]: (2-1.5)/(4-1.5); ...
    assert got[:2] == [None, None]
    assert got[2] == pytest.approx(25.0)
    assert got[3] == pytest.approx(20.0)
    assert got[4] == pytest.approx((6 - 1.5) / (6 - 1.5) * 100)
