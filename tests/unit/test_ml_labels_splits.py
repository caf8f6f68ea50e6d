"""Labels say when they became known; walk-forward splits keep those ends out of the test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.labels import forward_sign, triple_barrier
from ml.splits import purged_walk_forward


def test_forward_sign_is_known_horizon_bars_later() -> None:
    labels = forward_sign(np.array([1.0, 2.0, 1.5, 1.5, 3.0]), 2)
    np.testing.assert_array_equal(labels.y[:3], [1.0, 0.0, 1.0])
    assert np.isnan(labels.y[3:]).all()
    np.testing.assert_array_equal(labels.end, [2, 3, 4, 4, 4])


def test_triple_barrier_takes_the_first_barrier_touched_and_when() -> None:
    close = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    high = np.array([100, 101, 103, 100, 100, 100, 100, 100], dtype=float)
    low = np.array([100, 99.5, 99.5, 98, 100, 100, 100, 100], dtype=float)
    labels = triple_barrier(high, low, close, np.full(8, 1.0), 3, take_profit=2, stop_loss=1)
    # bar 0: high 103 >= 102 at bar 2 before the low of 98 at bar 3
    assert (labels.y[0], labels.end[0]) == (1.0, 2)
    # bar 2: the stop at 99 is hit by the low of 98 at bar 3
    assert (labels.y[2], labels.end[2]) == (0.0, 3)
    # bar 4: nothing touched in 3 bars: time ran out, not a win
    assert (labels.y[4], labels.end[4]) == (0.0, 7)
    # bar 5: the data ends before its horizon
    assert np.isnan(labels.y[5])


def test_a_bar_touching_both_barriers_counts_as_the_stop() -> None:
    close = np.array([100.0, 100.0, 100.0])
    labels = triple_barrier(
        np.array([100.0, 105.0, 100.0]), np.array([100.0, 95.0, 100.0]), close, np.ones(3), 2
    )
    assert (labels.y[0], labels.end[0]) == (0.0, 1)


def test_triple_barrier_without_a_width_has_no_label() -> None:
    flat = np.ones(5)
    labels = triple_barrier(flat, flat, flat, np.array([np.nan, 0.0, 1, 1, 1]), 1)
    assert np.isnan(labels.y[:2]).all()
    assert labels.y[2] == 0.0
    with pytest.raises(ValueError, match="horizon"):
        triple_barrier(flat, flat, flat, flat, 0)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(20, 400),
    horizon=st.integers(1, 30),
    folds=st.integers(1, 8),
    embargo=st.integers(0, 50),
    seed=st.integers(0, 2**31),
)
def test_no_training_label_ends_within_the_embargo_of_its_test_window(
    n: int, horizon: int, folds: int, embargo: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    at = np.sort(rng.choice(n * 2, n, replace=False)).astype(np.int64)
    end = at + rng.integers(0, horizon + 1, n)
    splits = purged_walk_forward(at, end, folds, embargo)
    assert len(splits) <= folds
    previous_stop = None
    for split in splits:
        opens = at[split.test[0]]
        assert (end[split.train] < opens - embargo).all()
        assert (split.train < split.test[0]).all()
        assert np.all(np.diff(split.test) == 1)
        if previous_stop is not None:
            assert split.test[0] == previous_stop  # windows follow each other
        previous_stop = split.test[-1] + 1


def regime_labels(n: int, horizon: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prices whose drift keeps its sign for 100-300 bars, then flips a coin: labels near
    each other agree, labels a few regimes apart do not."""
    rng = np.random.default_rng(seed)
    drift = np.empty(n)
    i = 0
    while i < n:
        length = int(rng.integers(100, 300))
        drift[i : i + length] = rng.choice([-1.0, 1.0]) * 0.5
        i += length
    close = 100 + np.cumsum(drift + rng.normal(0, 1, n))
    labels = forward_sign(close, horizon)
    rows = np.flatnonzero(~np.isnan(labels.y))
    return rows, labels.end[rows], labels.y[rows]


def persistence_accuracy(embargo: int) -> float:
    """The laziest model there is: a test window's first label is the last training label.
    It scores by leakage alone."""
    at, end, y = regime_labels(200_000, 20, seed=7)
    hits = [
        y[split.test[0]] == y[split.train[-1]]
        for split in purged_walk_forward(at, end, folds=400, embargo=embargo)
    ]
    return float(np.mean(hits))


def test_the_embargo_stops_serially_correlated_labels_leaking_into_the_test() -> None:
    purged_only = persistence_accuracy(embargo=0)
    embargoed = persistence_accuracy(embargo=1000)
    assert purged_only > 0.75  # the last training label still shares the test's regime
    assert 0.4 < embargoed < 0.6  # several regimes apart: a coin flip


def test_splits_refuse_what_cannot_be_split() -> None:
    at = np.arange(10)
    with pytest.raises(ValueError, match="folds"):
        purged_walk_forward(at, at, 0, 0)
    with pytest.raises(ValueError, match="embargo"):
        purged_walk_forward(at, at, 2, -1)
    with pytest.raises(ValueError, match="cannot make"):
        purged_walk_forward(at, at, 10, 0)
    with pytest.raises(ValueError, match="before its own bar"):
        purged_walk_forward(at, at - 1, 2, 0)
