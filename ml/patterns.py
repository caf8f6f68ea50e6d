"""Pattern validation: has the market looked like this before, and what came next?

A window is the last `WINDOW` one-bar log returns, z-scored, so cosine distance between two
windows is one minus the correlation of their shapes, whatever the price level or volatility.
History is indexed once (every bar's window with its forward return over `horizon` bars, in
the vectors port: pgvector's HNSW by default, Weaviate when configured); a candidate's window
is then compared with its k nearest, and their forward moves are the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from domain.ports import (
    CollectionNotFoundError,
    Nearest,
    Opinion,
    VectorItem,
    VectorMatch,
    VectorStore,
)

WINDOW = 32  # one-bar returns per window (WINDOW + 1 closes)
BATCH = 2_000  # vectors per upsert


def collection(symbol: str, timeframe: str) -> str:
    """The vector collection of one symbol and timeframe (lower-case, as pgvector names)."""
    cleaned = "".join(c if c.isalnum() else "_" for c in f"{symbol}_{timeframe}".lower())
    return f"patterns_{cleaned}"


def embed(closes: Sequence[float] | np.ndarray) -> np.ndarray | None:
    """The window of the last WINDOW + 1 closes; None when there are fewer, or the prices
    did not move (a flat window has no shape)."""
    prices = np.asarray(closes, dtype=np.float64)
    if len(prices) < WINDOW + 1 or np.any(prices[-(WINDOW + 1) :] <= 0):
        return None
    returns = np.diff(np.log(prices[-(WINDOW + 1) :]))
    spread = returns.std()
    if not spread > 0:
        return None
    return np.asarray((returns - returns.mean()) / spread, np.float64)


@dataclass(frozen=True, eq=False)
class History:
    ts: np.ndarray  # int64 ns: each window's last bar
    vectors: np.ndarray  # rows x WINDOW
    forward: np.ndarray  # log return over the horizon after each window


def history(ts: np.ndarray, close: np.ndarray, horizon: int, step: int = 1) -> History:
    """Every `step`-th bar's window whose forward return the data can tell."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 bar, not {horizon}")
    log_close = np.log(np.asarray(close, np.float64))
    returns = np.diff(log_close)
    ends = np.arange(WINDOW, len(close) - horizon, step)  # index of each window's last close
    if len(ends) == 0:
        return History(np.empty(0, np.int64), np.empty((0, WINDOW)), np.empty(0))
    windows = np.lib.stride_tricks.sliding_window_view(returns, WINDOW)[ends - WINDOW]
    spread = windows.std(axis=1)
    moving = spread > 0
    vectors = (windows - windows.mean(axis=1, keepdims=True))[moving] / spread[moving, None]
    kept = ends[moving]
    forward = log_close[kept + horizon] - log_close[kept]
    return History(np.asarray(ts)[kept].astype(np.int64), vectors, forward)


async def index_history(
    store: VectorStore,
    name: str,
    found: History,
    horizon: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Upserts the windows (id: their last bar's time, so re-indexing a range replaces it);
    `progress` hears the count stored before each batch."""
    await store.ensure_collection(name, WINDOW)
    for start in range(0, len(found.ts), BATCH):
        if progress is not None:
            progress(start)
        part = slice(start, start + BATCH)
        await store.upsert(
            name,
            [
                VectorItem(
                    str(int(t)),
                    v.tolist(),
                    {"ts": int(t), "forward": float(f), "horizon": horizon},
                )
                for t, v, f in zip(
                    found.ts[part], found.vectors[part], found.forward[part], strict=True
                )
            ],
        )
    return len(found.ts)


@dataclass(frozen=True)
class PatternSettings:
    k: int = 20  # neighbours asked for
    min_matches: int = 10  # fewer close enough: not enough history
    max_distance: float = 0.9  # cosine distance; 1.0 is uncorrelated
    agree: float = 0.6  # share of neighbours moving the candidate's way to agree
    disagree: float = 0.4  # at most this share: disagrees


def verdict(side: str, matches: Sequence[VectorMatch], settings: PatternSettings) -> Opinion:
    """Agrees, disagrees, or has no opinion (mixed evidence or not enough history); the
    reasons carry the evidence."""
    close = [m for m in matches if m.distance <= settings.max_distance]
    if len(close) < settings.min_matches:
        return Opinion(
            None,
            None,
            (
                f"not enough history: {len(close)} of {len(matches)} similar windows within "
                f"distance {settings.max_distance:g}, {settings.min_matches} needed",
            ),
        )
    forward = np.array([float(m.metadata["forward"]) for m in close])
    sign = 1.0 if side == "buy" else -1.0
    share = float(np.mean(sign * forward > 0))
    nearest = close[0]
    when = datetime.fromtimestamp(int(nearest.metadata["ts"]) / 1e9, UTC)
    evidence = (
        f"{len(close)} similar windows: {share:.0%} moved the {side}'s way, mean forward "
        f"{forward.mean() * 1e4:+.1f} bp; the nearest ended {when:%Y-%m-%d %H:%M} UTC "
        f"(distance {nearest.distance:.3f}, then {forward[0] * 1e4:+.1f} bp)"
    )
    if share >= settings.agree:
        return Opinion(True, share, ("agrees: " + evidence,))
    if share <= settings.disagree:
        return Opinion(False, share, ("disagrees: " + evidence,))
    return Opinion(None, share, ("mixed: " + evidence,))


class VectorPatternValidator:
    """The decision path's pattern step (`domain.ports.PatternValidator`) over the vectors
    port, for bars of one timeframe."""

    def __init__(
        self,
        store: VectorStore,
        timeframe: str = "M1",
        settings: PatternSettings | None = None,
        source: str = "pgvector",
    ) -> None:
        self._store = store
        self._timeframe = timeframe
        self._settings = settings or PatternSettings()
        self._source = source

    async def validate(self, symbol: str, side: str, closes: Sequence[float]) -> Opinion:
        window = embed(closes)
        if window is None:
            reason = (
                f"not enough history: the candidate sent {len(closes)} closes, "
                f"{WINDOW + 1} moving ones needed"
            )
            return Opinion(None, None, (reason,), self._source)
        name = collection(symbol, self._timeframe)
        try:
            matches = await self._store.search(name, Nearest(window.tolist(), self._settings.k))
        except CollectionNotFoundError:
            matches = []  # nothing indexed for this symbol yet
        opinion = verdict(side, matches, self._settings)
        return Opinion(opinion.approve, opinion.score, opinion.reasons, self._source)
