"""Strategies: they read bars and ticks and emit order intents; they never call a broker."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.strategies.base import OrderIntent, Strategy, StrategyError, no_leftovers
from domain.strategies.ma_cross import MaCross
from domain.strategies.rsi_reversion import RsiReversion

REGISTRY: dict[str, type[MaCross] | type[RsiReversion]] = {
    MaCross.kind: MaCross,
    RsiReversion.kind: RsiReversion,
}


def create(kind: str, symbol: str, params: Mapping[str, object] | None = None) -> Strategy:
    """A strategy by its registered name, with parameters checked by the strategy itself."""
    check_names(kind, ())
    return REGISTRY[kind].from_params(symbol, dict(params or {}))


def check_names(kind: str, names: Iterable[str]) -> None:
    """Refuse an unknown strategy or parameter name before any work starts, listing what is
    known; values and their combinations are the strategy's own to judge."""
    cls = REGISTRY.get(kind)
    if cls is None:
        raise StrategyError(f"unknown strategy {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    known = tuple(cls.parameters())
    no_leftovers(kind, dict.fromkeys(set(names) - set(known)), known)


__all__ = [
    "REGISTRY",
    "MaCross",
    "OrderIntent",
    "RsiReversion",
    "Strategy",
    "StrategyError",
    "check_names",
    "create",
]
