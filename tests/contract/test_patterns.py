"""Pattern validation over the vectors port (pgvector here; Weaviate too when
AITP_WEAVIATE__URL is set): known neighbours come back first, and their forward moves are the
verdict's evidence."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from domain.ports import Nearest, VectorMatch, VectorStore
from ml.patterns import (
    WINDOW,
    History,
    PatternSettings,
    VectorPatternValidator,
    collection,
    embed,
    history,
    index_history,
    verdict,
)
from tests.contract.stores import any_vector_store  # noqa: F401  (the `store` fixture)

T0 = 1_328_054_400 * 10**9  # 2012-02-01
MINUTE = 60 * 10**9


def closes_of(returns: np.ndarray, start: float = 1.3) -> np.ndarray:
    return start * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))


def test_a_window_is_its_shape_whatever_the_level_or_scale() -> None:
    rng = np.random.default_rng(3)
    shape = rng.normal(0, 1e-4, WINDOW)
    a = embed(closes_of(shape, 1.3))
    b = embed(closes_of(shape * 3, 145.0))  # three times as volatile, another price level
    assert a is not None
    assert b is not None
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert embed(closes_of(shape)[:WINDOW]) is None  # one close short
    assert embed(np.full(WINDOW + 1, 1.3)) is None  # flat: no shape


def test_history_pairs_each_window_with_what_came_after() -> None:
    rng = np.random.default_rng(4)
    close = closes_of(rng.normal(0, 1e-4, 200))
    ts = T0 + np.arange(len(close)) * MINUTE
    found = history(ts, close, horizon=10)
    assert len(found.ts) == len(close) - WINDOW - 10
    first = WINDOW  # the first window ends at this close
    assert found.ts[0] == ts[first]
    assert found.forward[0] == pytest.approx(np.log(close[first + 10] / close[first]))
    np.testing.assert_allclose(found.vectors[0], embed(close[: first + 1]), atol=1e-9)


async def test_the_nearest_windows_are_the_planted_ones_and_their_moves_decide(
    store: VectorStore,
) -> None:
    rng = np.random.default_rng(5)
    shape = rng.normal(0, 1, WINDOW)
    noise = rng.normal(0, 1, (300, WINDOW))
    planted = np.stack([shape * s + rng.normal(0, 0.05, WINDOW) for s in np.linspace(1, 2, 15)])
    vectors = np.concatenate([noise, planted])
    vectors = (vectors - vectors.mean(axis=1, keepdims=True)) / vectors.std(axis=1, keepdims=True)
    ts = T0 + np.arange(len(vectors)) * MINUTE
    forward = np.concatenate([rng.normal(0, 1e-4, 300), np.full(15, 5e-4)])  # planted: rose
    name = f"patterns_t{uuid.uuid4().hex[:8]}"
    try:
        assert await index_history(store, name, History(ts, vectors, forward), 10) == 315
        query = embed(closes_of(shape * 1e-4))
        assert query is not None
        matches = await store.search(name, Nearest(query.tolist(), 15))
        assert {m.id for m in matches} == {str(int(t)) for t in ts[300:]}
        assert all(m.distance < 0.05 for m in matches)
        settings = PatternSettings(k=15, min_matches=10, max_distance=0.5)
        bought = verdict("buy", matches, settings)
        assert bought.approve is True
        assert bought.score == 1.0
        assert bought.reasons[0].startswith("agrees: 15 similar windows: 100% moved the buy's")
        assert verdict("sell", matches, settings).approve is False
    finally:
        await store.delete_collection(name)


def test_far_or_few_neighbours_are_not_enough_history() -> None:
    far = [VectorMatch(str(i), 0.95, {"ts": T0, "forward": 1e-4}) for i in range(20)]
    opinion = verdict("buy", far, PatternSettings())
    assert opinion.approve is None
    assert "not enough history: 0 of 20 similar windows within distance 0.9" in opinion.reasons[0]
    mixed = [
        VectorMatch(str(i), 0.1, {"ts": T0, "forward": 1e-4 if i % 2 else -1e-4}) for i in range(20)
    ]
    assert verdict("buy", mixed, PatternSettings()).reasons[0].startswith("mixed: ")


async def test_a_symbol_never_indexed_has_no_opinion(store: VectorStore) -> None:
    validator = VectorPatternValidator(store, source="tests")
    rng = np.random.default_rng(6)
    opinion = await validator.validate(
        f"X{uuid.uuid4().hex[:6]}", "buy", closes_of(rng.normal(0, 1e-4, 60)).tolist()
    )
    assert (opinion.approve, opinion.source) == (None, "tests")
    assert opinion.reasons[0].startswith("not enough history: 0 of 0")
    short = await validator.validate("GBPUSD", "buy", [1.3, 1.31])
    assert "the candidate sent 2 closes, 33 moving ones needed" in short.reasons[0]
    assert collection("GBPUSD", "M1") == "patterns_gbpusd_m1"
