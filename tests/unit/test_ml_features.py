"""Features: the hot path's snapshot is the training row of the same bar, on real data."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from adapters.files.market_files import read_market_file
from domain.instruments import fx_major
from domain.market import Bar
from domain.market_data import SeriesKind, Timeframe
from domain.messages import DecisionCandidate
from domain.paper import PaperBroker
from domain.risk import RiskGate, RiskLimits
from domain.strategies import MaCross
from engine.core import Engine
from engine.outbox import Outbox
from ml.features import (
    FEATURE_NAMES,
    FEATURES_HASH,
    WARMUP,
    FeatureState,
    feature_vector,
    frame_features,
)

pytestmark = pytest.mark.shared_data


def gbpusd(shared_data: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    fx = shared_data / "fx"
    bid = read_market_file(fx / "GBPUSD-M1-bid-2012-02.csv", SeriesKind.BARS).frame
    ask = read_market_file(fx / "GBPUSD-M1-ask-2012-02.csv", SeriesKind.BARS).frame
    return bid, ask


def with_spread(bid: pl.DataFrame, ask: pl.DataFrame) -> pl.DataFrame:
    return bid.with_columns((ask["close"] - bid["close"]).alias("spread"))


def assert_same_row(batch: dict[str, float | None], served: dict[str, float | None]) -> None:
    for name in FEATURE_NAMES:
        a, b = batch[name], served[name]
        assert (a is None) == (b is None), f"{name}: batch {a}, served {b}"
        if a is not None and b is not None:
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{name}: {a} != {b}"


def test_the_bar_by_bar_state_equals_the_batch_row_at_every_bar(shared_data: Path) -> None:
    bid, ask = gbpusd(shared_data)
    bars = with_spread(bid, ask)
    batch = frame_features(bars)
    state = FeatureState()
    ts = bars["ts"].dt.epoch("ns").to_list()
    rows = bars.select("high", "low", "close", "spread").rows()
    for i, (high, low, close, spread) in enumerate(rows[:5000]):
        state.update(ts[i], high, low, close, spread)
        assert_same_row(batch.row(i, named=True), state.snapshot())
    # every feature has a value from WARMUP on (a real series: no flat Bollinger band)
    complete = batch.slice(WARMUP).null_count().row(0, named=True)
    assert {name: n for name, n in complete.items() if n} == {}
    assert batch.slice(0, WARMUP - 1)["ret_60"].null_count() == WARMUP - 1


def test_the_hot_paths_decision_snapshot_is_the_batch_row_of_its_bar(shared_data: Path) -> None:
    bid, ask = gbpusd(shared_data)
    bars = with_spread(bid, ask).head(3000)
    batch = frame_features(bars)
    instruments = {"GBPUSD": fx_major("GBPUSD")}
    outbox = Outbox()
    engine = Engine(
        "demo",
        instruments,
        [MaCross("GBPUSD", fast=5, slow=20, allow_short=True, volume=Decimal("0.1"))],
        PaperBroker(instruments),
        RiskGate("demo", RiskLimits(quote_max_age_ns=10**18, max_repeats=10**6)),
        outbox,
        balance=Decimal(100_000),
    )
    index = {}
    for i, (ts, o, h, lo, c, a) in enumerate(
        bars.select(
            pl.col("ts").dt.epoch("ns"),
            "open",
            "high",
            "low",
            "close",
            ask["close"].head(3000).alias("ask_close"),
        ).rows()
    ):
        index[ts] = i
        engine.on_bar(
            Bar("GBPUSD", Timeframe.M1, ts, o, h, lo, c),
            Bar("GBPUSD", Timeframe.M1, ts, o, h, lo, a),
        )
    candidates = [e for e in outbox.take(100_000) if isinstance(e, DecisionCandidate)]
    assert len(candidates) > 20
    for candidate in candidates:
        assert_same_row(batch.row(index[candidate.bar_ts], named=True), candidate.features)


def test_the_model_row_follows_the_feature_names_with_nan_for_unknowns() -> None:
    state = FeatureState()
    state.update(1_328_054_400 * 10**9, 1.58, 1.57, 1.575, None)  # 2012-02-01 00:00 UTC
    row = feature_vector(state.snapshot())
    assert row.shape == (len(FEATURE_NAMES),)
    named = dict(zip(FEATURE_NAMES, row, strict=True))
    assert np.isnan(named["ret_1"])
    assert np.isnan(named["spread"])
    assert named["range"] == pytest.approx(0.01 / 1.575)
    # a Wednesday at midnight UTC: the Asian session, day fraction 0
    assert (named["session_asia"], named["session_london"]) == (1.0, 0.0)
    assert named["tod_sin"] == pytest.approx(0.0)
    assert named["tod_cos"] == pytest.approx(1.0)
    assert named["dow_sin"] == pytest.approx(math.sin(2 * math.pi * 2 / 7))
    assert len(FEATURES_HASH) == 16


def test_batch_features_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match="spread"):
        frame_features(pl.DataFrame({"ts": [1], "high": [1.0], "low": [1.0], "close": [1.0]}))
