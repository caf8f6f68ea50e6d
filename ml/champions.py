"""The decision path's model step: each candidate scored by the champion of its model
(symbol and timeframe), loaded on first use and again as soon as the champion changes.

`invalidate` is what the registry's change notification calls (the trading worker listens for
it), so a promotion or rollback reaches running workers without a restart; the next decision
loads the new champion's files. Every opinion names the version that gave it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

from domain.ports import ModelRegistry, Opinion
from ml.inference import Ensemble, EnsembleScorer


class ChampionScorer:
    def __init__(
        self,
        registry: ModelRegistry,
        timeframe: str = "M1",
        load: Callable[[Path], Ensemble] = Ensemble.load,
    ) -> None:
        self._registry = registry
        self._timeframe = timeframe
        self._load = load
        self._scorers: dict[str, EnsembleScorer | None] = {}
        self._generation = 0  # bumped by every change: a load racing one is not kept

    def invalidate(self, name: str | None = None) -> None:
        """The champion of `name` (every model: None) changed."""
        self._generation += 1
        if name is None:
            self._scorers.clear()
        else:
            self._scorers.pop(name, None)

    async def score(self, symbol: str, side: str, features: Mapping[str, float | None]) -> Opinion:
        name = f"{symbol}-{self._timeframe}"
        scorer = await self._champion(name)
        if scorer is None:
            return Opinion(None, None, (f"no champion for {name}: the signal passes",), None)
        return await scorer.score(symbol, side, features)

    async def _champion(self, name: str) -> EnsembleScorer | None:
        if name in self._scorers:
            return self._scorers[name]
        generation = self._generation
        champion = await self._registry.champion(name)
        scorer = None
        if champion is not None:
            ensemble = await asyncio.to_thread(self._load, Path(champion.artifact))
            scorer = EnsembleScorer(ensemble, champion.tag)
        if generation == self._generation:
            self._scorers[name] = scorer
        return scorer
