"""From stored bars to the rows a model trains on: features, labels and when each label ends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from ml.features import FEATURE_NAMES, WARMUP, frame_features
from ml.labels import Labels, forward_sign, triple_barrier


@dataclass(frozen=True)
class LabelSpec:
    """`triple_barrier`: 1 when take_profit x ATR is reached before stop_loss x ATR within
    `horizon` bars; `forward_sign`: 1 when the close `horizon` bars on is higher."""

    kind: Literal["triple_barrier", "forward_sign"] = "triple_barrier"
    horizon: int = 30
    take_profit: float = 2.0
    stop_loss: float = 1.0

    def describe(self) -> str:
        if self.kind == "forward_sign":
            return f"forward_sign h={self.horizon}"
        return f"triple_barrier h={self.horizon} tp={self.take_profit:g} sl={self.stop_loss:g}"


@dataclass(frozen=True, eq=False)
class Dataset:
    x: np.ndarray  # rows x FEATURE_NAMES, float64, NaN where unknown
    y: np.ndarray  # 1.0 or 0.0
    at: np.ndarray  # each row's bar index in the source bars
    end: np.ndarray  # the bar index its label ends on
    ts: np.ndarray  # each row's bar open time, int64 ns

    def __len__(self) -> int:
        return len(self.y)

    def rows(self, index: np.ndarray) -> Dataset:
        x, y, at, end, ts = self.x, self.y, self.at, self.end, self.ts
        return Dataset(x[index], y[index], at[index], end[index], ts[index])


def bars_with_spread(bid: pl.DataFrame, ask: pl.DataFrame | None = None) -> pl.DataFrame:
    """Bid bars with the spread at each close (ask close - bid close) where ask bars exist."""
    if ask is None:
        return bid.with_columns(pl.lit(None, dtype=pl.Float64).alias("spread"))
    asks = ask.select("ts", pl.col("close").alias("ask_close"))
    return (
        bid.join(asks, on="ts", how="left")
        .with_columns((pl.col("ask_close") - pl.col("close")).alias("spread"))
        .drop("ask_close")
    )


def label(bars: pl.DataFrame, features: pl.DataFrame, spec: LabelSpec) -> Labels:
    close = bars["close"].cast(pl.Float64).to_numpy()
    if spec.kind == "forward_sign":
        return forward_sign(close, spec.horizon)
    width = features["atr14"].fill_null(np.nan).to_numpy() * close
    return triple_barrier(
        bars["high"].cast(pl.Float64).to_numpy(),
        bars["low"].cast(pl.Float64).to_numpy(),
        close,
        width,
        spec.horizon,
        spec.take_profit,
        spec.stop_loss,
    )


def build_dataset(bars: pl.DataFrame, spec: LabelSpec) -> Dataset:
    """Rows from the first bar with every feature's history (WARMUP) to the last bar whose
    label the data can tell."""
    features = frame_features(bars)
    labels = label(bars, features, spec)
    keep = np.flatnonzero(~np.isnan(labels.y))
    keep = keep[keep >= WARMUP]
    x = features.select(FEATURE_NAMES).fill_null(np.nan).to_numpy().astype(np.float64)
    ts = features["ts"].to_numpy().astype(np.int64)
    return Dataset(x[keep], labels.y[keep], keep.astype(np.int64), labels.end[keep], ts[keep])
