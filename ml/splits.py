"""Walk-forward splits that keep the future out of training.

A label is known only once its last bar has closed. A training row whose label ends inside
the test window has seen that window's prices (purged here), and one whose label ends just
before it shares the window's opening moves through serially correlated prices (embargoed:
a gap of `embargo` bars between the last training label and the first test bar).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Split:
    train: np.ndarray  # row positions, ascending
    test: np.ndarray

    @property
    def test_start(self) -> int:
        return int(self.test[0])


def purged_walk_forward(
    at: np.ndarray, end: np.ndarray, folds: int, embargo: int, min_train: int = 1
) -> list[Split]:
    """`at[i]` is row i's bar index (ascending), `end[i]` the bar its label ends on. The rows
    are cut into folds + 1 consecutive blocks; each of the last `folds` blocks is a test
    window, trained on the rows before it whose labels end more than `embargo` bars before
    the window's first bar. A window left with fewer than `min_train` training rows is
    skipped."""
    if folds < 1:
        raise ValueError(f"folds must be at least 1, not {folds}")
    if embargo < 0:
        raise ValueError(f"embargo is a number of bars, 0 or more, not {embargo}")
    n = len(at)
    if len(end) != n:
        raise ValueError("at and end must have one entry per row")
    if n < folds + 1:
        raise ValueError(f"{n} rows cannot make {folds} test windows after a training block")
    if np.any(end < at):
        raise ValueError("a label cannot end before its own bar")
    bounds = np.linspace(0, n, folds + 2).astype(np.int64)
    rows = np.arange(n)
    splits = []
    for k in range(1, folds + 1):
        first, stop = int(bounds[k]), int(bounds[k + 1])
        opens = at[first]
        train = rows[:first][end[:first] < opens - embargo]
        if len(train) >= min_train and stop > first:
            splits.append(Split(train, rows[first:stop]))
    return splits
