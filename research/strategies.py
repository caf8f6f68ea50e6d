"""The strategies a sweep can evaluate, each built and checked by the domain's own factory (the
same parameter names, defaults and errors as the engine) and run as its kernel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from domain.strategies import MaCross, RsiReversion, StrategyError, create
from research.kernels import ma_cross_targets, price_units, rsi_reversion_targets
from research.series import BarSeries


class ReplayOnlyError(StrategyError):
    """Parameters the vectorised sweep cannot evaluate (stops, take-profits): use replay."""


def targets(kind: str, series: BarSeries, params: Mapping[str, Any]) -> np.ndarray:
    """The position the strategy wants after each bar's close (+1, 0, -1)."""
    strategy = create(kind, series.symbol, params)
    if isinstance(strategy, MaCross):
        if strategy.sl_atr or strategy.tp_atr:
            raise ReplayOnlyError("sl_atr and tp_atr need the replay mode; the sweep has none")
        units = price_units(series.close)
        if int(np.abs(units).max(initial=0)) * strategy.slow**2 >= 2**62:
            raise StrategyError(f"slow={strategy.slow} is too long for prices this large")
        return np.asarray(
            ma_cross_targets(units, strategy.fast, strategy.slow, strategy.allow_short)
        )
    if isinstance(strategy, RsiReversion):
        return np.asarray(
            rsi_reversion_targets(
                series.close,
                strategy.period,
                strategy.lower,
                strategy.upper,
                strategy.exit,
                strategy.allow_short,
            )
        )
    raise StrategyError(f"{kind} has no vectorised form; use replay")  # pragma: no cover


def volume_of(kind: str, series: BarSeries, params: Mapping[str, Any]) -> float:
    strategy = create(kind, series.symbol, params)
    assert isinstance(strategy, MaCross | RsiReversion)
    return float(strategy.volume)
