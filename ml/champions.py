"""The decision path's model step: each candidate scored by the champion of its model
(symbol and timeframe), loaded on first use and again as soon as the champion changes.

`invalidate` is what the registry's change notification calls (the trading worker listens for
it), so a promotion or rollback reaches running workers without a restart; the next decision
loads the new champion's files. Should a notification be lost (the listening connection
dropped), the champion is looked up again after `recheck_s` anyway. Every opinion names the
version that gave it.
"""

from __future__ import annotations

import asyncio
import time
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
        recheck_s: float = 60.0,
    ) -> None:
        self._registry = registry
        self._timeframe = timeframe
        self._load = load
        self._recheck_s = recheck_s
        # model name -> (the champion's tag or None, its scorer, when it was looked up)
        self._scorers: dict[str, tuple[str | None, EnsembleScorer | None, float]] = {}
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
        cached = self._scorers.get(name)
        now = time.monotonic()
        if cached is not None and now - cached[2] < self._recheck_s:
            return cached[1]
        generation = self._generation
        champion = await self._registry.champion(name)
        tag = None if champion is None else champion.tag
        if cached is not None and cached[0] == tag:
            scorer = cached[1]  # the same champion: keep what is loaded
        elif champion is None:
            scorer = None
        else:
            ensemble = await asyncio.to_thread(self._load, Path(champion.artifact))
            scorer = EnsembleScorer(ensemble, champion.tag)
        if generation == self._generation:
            self._scorers[name] = (tag, scorer, now)
        return scorer
