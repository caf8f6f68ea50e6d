"""A run's shape and its combined results: the walk-forward windows over the bars there are,
and a batch's metrics averaged over its symbols."""

from __future__ import annotations

from typing import Any

import numpy as np

from domain.periods import Span, walk_forward


def mean_metrics(
    parts: list[dict[int, tuple[dict[str, Any], dict[str, Any]]]],
) -> list[tuple[int, dict[str, Any], dict[str, float | int | None]]]:
    """Each set present in every part, each metric averaged (missing where any part lacks
    it), `symbols` counting the parts."""
    if not parts:
        return []
    shared = set(parts[0]).intersection(*parts[1:])
    out = []
    for index in sorted(shared):
        rows = [part[index][1] for part in parts]
        metrics: dict[str, float | int | None] = {"symbols": len(parts)}
        for name in rows[0]:
            values = [row.get(name) for row in rows]
            numbers = [v for v in values if isinstance(v, int | float)]
            metrics[name] = sum(numbers) / len(numbers) if len(numbers) == len(values) else None
        out.append((index, parts[0][index][0], metrics))
    return out


def bar_windows(
    ts: np.ndarray, start_ns: int, end_ns: int, train: Span, test: Span, anchored: bool
) -> list[tuple[int, int, int]]:
    """The walk-forward steps (train start, test start, test end) over the bars there are:
    the range ends after the last bar, and a step whose train or test part holds fewer than
    two bars is left out."""
    end = min(end_ns, int(ts[-1]) + 1)
    out = []
    for w in walk_forward(start_ns, end, train, test, anchored):
        a, b, c = np.searchsorted(ts, [w.train_start, w.test_start, w.test_end])
        if b - a >= 2 and c - b >= 2:
            out.append((w.train_start, w.test_start, w.test_end))
    return out
