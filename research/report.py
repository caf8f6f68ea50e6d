"""A backtest run as one self-contained HTML page (plotly, its script inlined): the equity
curve and its drawdown, the trades on the price chart, monthly returns, and the ranking metric
over the grid. Curves are thinned to a few thousand points, so a year of minutes stays a page
a browser opens at once; the drawdown is measured on the full curve before thinning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

MAX_POINTS = 4_000
MAX_TRADES = 2_000


@dataclass(frozen=True)
class ReportData:
    title: str
    subtitle: str
    metric: str
    equity: pl.DataFrame  # ts, equity of the set shown
    prices: pl.DataFrame  # ts, close of the symbol over the range
    trades: pl.DataFrame  # side, entry_ts, entry_price, exit_ts, exit_price, pnl
    results: Sequence[Mapping[str, Any]]  # params, metrics of every set evaluated
    axes: Sequence[str]  # the swept parameters, in grid order
    summary: Mapping[str, Any]  # metrics of the set shown


def thin(frame: pl.DataFrame, limit: int = MAX_POINTS) -> pl.DataFrame:
    """Every k-th row, and the last, so at most about `limit` rows remain."""
    if frame.height <= limit:
        return frame
    step = -(-frame.height // limit)
    return pl.concat([frame.gather_every(step), frame.tail(1)]).unique("ts", keep="last").sort("ts")


def with_drawdown(equity: pl.DataFrame) -> pl.DataFrame:
    return equity.with_columns((pl.col("equity") / pl.col("equity").cum_max() - 1.0).alias("dd"))


def monthly_returns(equity: pl.DataFrame) -> pl.DataFrame:
    """year, month, return: each calendar month's change of the month-end equity."""
    if equity.height == 0:
        return pl.DataFrame(schema={"year": pl.Int32, "month": pl.Int8, "ret": pl.Float64})
    first = equity["equity"][0]
    ends = (
        equity.sort("ts")
        .group_by_dynamic("ts", every="1mo")
        .agg(pl.col("equity").last())
        .with_columns(
            (pl.col("equity") / pl.col("equity").shift(1, fill_value=first) - 1.0).alias("ret")
        )
    )
    return ends.select(
        pl.col("ts").dt.year().alias("year"), pl.col("ts").dt.month().alias("month"), "ret"
    )


def metric_grid(
    results: Sequence[Mapping[str, Any]], axes: Sequence[str], metric: str
) -> pl.DataFrame | None:
    """The metric over the first two swept axes (the best value over any others), or None
    when fewer than one axis was swept."""
    if not axes or not results:
        return None
    shown = list(axes[:2])
    rows = [
        {**{a: r["params"].get(a) for a in shown}, "value": r["metrics"].get(metric)}
        for r in results
    ]
    frame = pl.DataFrame(rows, infer_schema_length=None).drop_nulls("value")
    if frame.height == 0:
        return None
    descending = metric != "max_drawdown"
    best = pl.col("value").max() if descending else pl.col("value").min()
    return frame.group_by(shown).agg(best).sort(shown)


def render(data: ReportData) -> str:
    fig = make_subplots(
        rows=5,
        cols=1,
        row_heights=[0.26, 0.12, 0.26, 0.16, 0.2],
        vertical_spacing=0.06,
        subplot_titles=(
            "Equity",
            "Drawdown",
            "Price and trades",
            "Monthly returns",
            f"{data.metric} over the grid",
        ),
    )
    curve = thin(with_drawdown(data.equity))
    fig.add_trace(go.Scattergl(x=curve["ts"], y=curve["equity"], name="equity"), 1, 1)
    fig.add_trace(
        go.Scattergl(x=curve["ts"], y=curve["dd"] * 100, name="drawdown %", fill="tozeroy"), 2, 1
    )
    prices = thin(data.prices)
    fig.add_trace(go.Scattergl(x=prices["ts"], y=prices["close"], name="close"), 3, 1)
    trades = data.trades.head(MAX_TRADES)
    for side, colour, symbol in (("buy", "green", "triangle-up"), ("sell", "red", "triangle-down")):
        entries = trades.filter(pl.col("side") == side)
        fig.add_trace(
            go.Scattergl(
                x=entries["entry_ts"],
                y=entries["entry_price"],
                mode="markers",
                marker={"color": colour, "symbol": symbol, "size": 8},
                name=f"{side} entry",
            ),
            3,
            1,
        )
    exits = trades.drop_nulls("exit_ts")
    fig.add_trace(
        go.Scattergl(
            x=exits["exit_ts"],
            y=exits["exit_price"],
            mode="markers",
            marker={"color": "black", "symbol": "x", "size": 6},
            name="exit",
            text=[f"pnl {p:,.2f}" for p in exits["pnl"]],
        ),
        3,
        1,
    )
    months = monthly_returns(data.equity)
    labels = [f"{y}-{m:02d}" for y, m in zip(months["year"], months["month"], strict=True)]
    fig.add_trace(
        go.Bar(
            x=labels,
            y=months["ret"] * 100,
            name="month %",
            marker_color=["green" if r >= 0 else "red" for r in months["ret"]],
        ),
        4,
        1,
    )
    surface = metric_grid(data.results, data.axes, data.metric)
    if surface is not None and len(data.axes) >= 2:
        x_axis, y_axis = data.axes[0], data.axes[1]
        pivot = surface.pivot(on=x_axis, index=y_axis, values="value").sort(y_axis)
        columns = [c for c in pivot.columns if c != y_axis]
        fig.add_trace(
            go.Heatmap(
                z=pivot.select(columns).to_numpy(),
                x=columns,
                y=pivot[y_axis].to_list(),
                colorbar={"title": data.metric, "len": 0.2, "y": 0.1},
                hovertemplate=f"{x_axis}=%{{x}}<br>{y_axis}=%{{y}}<br>{data.metric}=%{{z}}",
                name=data.metric,
            ),
            5,
            1,
        )
        fig.update_xaxes(title_text=x_axis, type="category", row=5, col=1)
        fig.update_yaxes(title_text=y_axis, row=5, col=1)
    elif surface is not None:
        axis = data.axes[0]
        fig.add_trace(
            go.Scatter(x=surface[axis], y=surface["value"], mode="lines+markers", name=data.metric),
            5,
            1,
        )
        fig.update_xaxes(title_text=axis, row=5, col=1)
    fig.update_layout(
        title={"text": f"{data.title}<br><sup>{data.subtitle}</sup>"},
        height=1_600,
        template="plotly_white",
        showlegend=False,
    )
    summary = " · ".join(f"{k}: {fmt_metric(k, v)}" for k, v in data.summary.items())
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{data.title}</title></head><body style='font-family:sans-serif'>"
        f"<p>{summary}</p>{body}</body></html>"
    )


def fmt_metric(name: str, value: Any) -> str:
    """A metric as people read it: ratios of money as percentages, counts whole."""
    if value is None:
        return "-"
    if name in ("total_return", "max_drawdown", "win_rate", "cagr", "exposure"):
        return f"{value * 100:.2f}%"
    if name == "trades":
        return f"{int(value):,}"
    return f"{value:,.3f}" if isinstance(value, float) else str(value)
