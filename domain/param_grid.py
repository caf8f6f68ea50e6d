"""A parameter grid as axes of values, addressed by the index of each combination.

A grid of millions of points is never listed: its size is a product, and the set at any index
is decoded from it (mixed radix, the last axis fastest, the order of `itertools.product`), so
a workflow can hand each activity a range of indices and the activity expands only its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any


def size(axes: Mapping[str, Sequence[Any]]) -> int:
    """How many parameter sets the axes make (1 for no axes: the fixed parameters alone)."""
    return math.prod(len(values) for values in axes.values())


def param_set(
    axes: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any], index: int
) -> dict[str, Any]:
    """The set at `index`, with the fixed parameters beside the axes' values."""
    if not 0 <= index < size(axes):
        raise IndexError(f"set {index} is outside a grid of {size(axes)}")
    chosen: dict[str, Any] = {}
    for name in reversed(list(axes)):
        values = axes[name]
        index, at = divmod(index, len(values))
        chosen[name] = values[at]
    return {**fixed, **{name: chosen[name] for name in axes}}


def param_sets(
    axes: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any] | None = None,
    first: int = 0,
    count: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The sets at indices first, first + 1, ... (all the rest when `count` is None)."""
    end = size(axes) if count is None else min(size(axes), first + count)
    for index in range(first, end):
        yield param_set(axes, fixed or {}, index)
