"""A strategy over a whole parameter grid, vectorised: the kernel decides every bar of the
series for one parameter set at a time, fills and equity follow in compiled loops, and only
the metrics leave (trades are rebuilt for the sets someone asks to see)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.strategies import StrategyError
from research.series import BarSeries, Costs
from research.simulate import (
    Detail,
    Metrics,
    Prices,
    Trade,
    equity_curve,
    held_positions,
    metrics_of,
    trades_of,
)
from research.strategies import targets, volume_of


@dataclass(frozen=True)
class Evaluation:
    index: int  # position in the sets given
    params: dict[str, Any]
    metrics: Metrics


def evaluate(
    series: BarSeries,
    kind: str,
    param_sets: Iterable[Mapping[str, Any]],
    costs: Costs,
    balance: float,
    progress: Callable[[int], None] | None = None,
    refused: Callable[[int, StrategyError], None] | None = None,
) -> list[Evaluation]:
    """Metrics of each set; a set the strategy refuses (fast >= slow) goes to `refused` with
    its position in `param_sets` when given, else the error is raised."""
    prices = Prices.of(series, costs)
    out: list[Evaluation] = []
    for n, params in enumerate(param_sets, 1):
        try:
            judged = _judged(series, kind, params, prices, costs, balance)
        except StrategyError as exc:
            if refused is None:
                raise
            refused(n - 1, exc)
        else:
            out.append(Evaluation(n - 1, dict(params), judged.metrics))
        if progress is not None:
            progress(n)
    return out


def trades(series: BarSeries, kind: str, params: Mapping[str, Any], costs: Costs) -> list[Trade]:
    """The trades of one parameter set, as the sweep evaluated it."""
    held = held_positions(targets(kind, series, params))
    volume = volume_of(kind, series, params)
    contract = float(series.instrument.contract_size)
    return trades_of(held, Prices.of(series, costs), volume, contract, costs.commission_per_lot)


def detail(
    series: BarSeries, kind: str, params: Mapping[str, Any], costs: Costs, balance: float
) -> Detail:
    """One set's trades, equity curve and metrics, exactly as `evaluate` judged it."""
    return _judged(series, kind, params, Prices.of(series, costs), costs, balance)


def _judged(
    series: BarSeries,
    kind: str,
    params: Mapping[str, Any],
    prices: Prices,
    costs: Costs,
    balance: float,
) -> Detail:
    contract = float(series.instrument.contract_size)
    held = held_positions(targets(kind, series, params))
    volume = volume_of(kind, series, params)
    equity = equity_curve(
        held,
        prices.buy,
        prices.sell,
        prices.mark_long,
        prices.mark_short,
        prices.rate,
        volume * contract / prices.scale,
        costs.commission_per_lot * volume,
        balance,
    )
    made = trades_of(held, prices, volume, contract, costs.commission_per_lot)
    return Detail(made, equity, held, metrics_of(equity, series.ts, held, made, balance))
