"""A backtest's results as the stores keep them: trades and equity curves as frames with
times (the archive's columns), metrics as JSON can hold them, and back again."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import polars as pl

from research.simulate import Metrics, Trade

TRADE_COLUMNS = {
    "side": pl.String,
    "volume": pl.Float64,
    "entry_ts": pl.Int64,
    "entry_price": pl.Float64,
    "exit_ts": pl.Int64,
    "exit_price": pl.Float64,
    "pnl": pl.Float64,
}


def equity_frame(ts: np.ndarray, equity: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"ts": pl.Series(ts).cast(pl.Datetime("ns", "UTC")), "equity": equity})


def metrics_json(metrics: Metrics) -> dict[str, float | int | None]:
    """Metrics as JSON can hold them: a value that is not finite is missing."""
    out: dict[str, float | int | None] = {}
    for name, value in dataclasses.asdict(metrics).items():
        if isinstance(value, float | np.floating):
            out[name] = float(value) if math.isfinite(value) else None
        else:
            out[name] = value
    return out


def trades_frame(trades: list[Trade], ts: np.ndarray) -> pl.DataFrame:
    """Trades with times instead of bar indices, as the archive keeps them."""
    return pl.DataFrame(
        [
            (
                t.side,
                t.volume,
                int(ts[t.entry_index]),
                t.entry_price,
                None if t.exit_index is None else int(ts[t.exit_index]),
                t.exit_price,
                t.pnl,
            )
            for t in trades
        ],
        schema=TRADE_COLUMNS,
        orient="row",
    ).with_columns(pl.col("entry_ts", "exit_ts").cast(pl.Datetime("ns", "UTC")))


def trades_from_frame(frame: pl.DataFrame, ts: np.ndarray) -> list[Trade]:
    entry = np.searchsorted(ts, frame["entry_ts"].dt.epoch("ns").to_numpy())
    exits = frame["exit_ts"].dt.epoch("ns").to_list()
    return [
        Trade(
            side,
            volume,
            int(at),
            entry_price,
            None if out is None else int(np.searchsorted(ts, out)),
            exit_price,
            pnl,
        )
        for side, volume, at, entry_price, out, exit_price, pnl in zip(
            frame["side"].to_list(),
            frame["volume"].to_list(),
            entry.tolist(),
            frame["entry_price"].to_list(),
            exits,
            frame["exit_price"].to_list(),
            frame["pnl"].to_list(),
            strict=True,
        )
    ]
