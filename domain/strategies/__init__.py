"""Strategies: they read bars and ticks and emit order intents; they never call a broker."""

from __future__ import annotations

from collections.abc import Mapping

from domain.strategies.base import OrderIntent, Strategy, StrategyError
from domain.strategies.ma_cross import MaCross
from domain.strategies.rsi_reversion import RsiReversion

REGISTRY: dict[str, type[MaCross] | type[RsiReversion]] = {
    MaCross.kind: MaCross,
    RsiReversion.kind: RsiReversion,
}


def create(kind: str, symbol: str, params: Mapping[str, object] | None = None) -> Strategy:
    """A strategy by its registered name, with parameters checked by the strategy itself."""
    try:
        cls = REGISTRY[kind]
    except KeyError:
        raise StrategyError(
            f"unknown strategy {kind!r}; known: {', '.join(sorted(REGISTRY))}"
        ) from None
    return cls.from_params(symbol, dict(params or {}))


__all__ = [
    "REGISTRY",
    "MaCross",
    "OrderIntent",
    "RsiReversion",
    "Strategy",
    "StrategyError",
    "create",
]
