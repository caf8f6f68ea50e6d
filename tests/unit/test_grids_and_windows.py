"""Parameter grids addressed by index, calendar spans, and walk-forward windows."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.param_grid import param_set, param_sets, size
from domain.periods import Span, SpanError, walk_forward


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def day(value: int) -> str:
    return datetime.fromtimestamp(value / 1e9, UTC).strftime("%Y-%m-%d")


@given(
    st.lists(st.integers(1, 4), min_size=0, max_size=4),
    st.data(),
)
def test_the_set_at_an_index_is_the_product_order(lengths: list[int], data: st.DataObject) -> None:
    axes = {f"p{i}": list(range(10 * i, 10 * i + n)) for i, n in enumerate(lengths)}
    product = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    assert size(axes) == len(product)
    index = data.draw(st.integers(0, len(product) - 1))
    assert param_set(axes, {"fixed": 1}, index) == {"fixed": 1, **product[index]}
    first = data.draw(st.integers(0, len(product)))
    assert [
        {k: v for k, v in s.items() if k != "f"} for s in param_sets(axes, {"f": 0}, first, 3)
    ] == product[first : first + 3]


def test_an_index_outside_the_grid_is_refused() -> None:
    with pytest.raises(IndexError, match="outside a grid of 2"):
        param_set({"fast": [1, 2]}, {}, 2)


def test_a_grid_of_millions_is_sized_without_being_listed() -> None:
    axes = {name: list(range(100)) for name in ("a", "b", "c", "d")}
    assert size(axes) == 100_000_000
    assert param_set(axes, {}, 99_999_999) == {"a": 99, "b": 99, "c": 99, "d": 99}


@pytest.mark.parametrize(
    ("text", "start", "after"),
    [
        ("1M", "2024-01-31", "2024-02-29"),
        ("6m", "2023-08-31", "2024-02-29"),
        ("1Y", "2024-02-29", "2025-02-28"),
        ("2W", "2024-01-01", "2024-01-15"),
        ("30D", "2024-01-01", "2024-01-31"),
    ],
)
def test_spans_move_by_the_calendar(text: str, start: str, after: str) -> None:
    assert day(Span.parse(text).after(ns(start))) == after


@pytest.mark.parametrize("text", ["", "6", "M", "0M", "6X", "-1M", "1.5M"])
def test_a_span_that_is_not_one_says_how_to_write_it(text: str) -> None:
    with pytest.raises(SpanError, match="positive count and a unit"):
        Span.parse(text)


def test_rolling_windows_tile_the_test_range_without_gaps() -> None:
    windows = walk_forward(ns("2024-01-01"), ns("2024-06-15"), Span(2, "M"), Span(1, "M"), False)
    assert [(day(w.train_start), day(w.test_start), day(w.test_end)) for w in windows] == [
        ("2024-01-01", "2024-03-01", "2024-04-01"),
        ("2024-02-01", "2024-04-01", "2024-05-01"),
        ("2024-03-01", "2024-05-01", "2024-06-01"),
        ("2024-04-01", "2024-06-01", "2024-06-15"),
    ]


def test_anchored_windows_all_train_from_the_start() -> None:
    windows = walk_forward(ns("2024-01-01"), ns("2024-04-01"), Span(1, "M"), Span(1, "M"), True)
    assert [(day(w.train_start), day(w.train_end)) for w in windows] == [
        ("2024-01-01", "2024-02-01"),
        ("2024-01-01", "2024-03-01"),
    ]


def test_a_range_shorter_than_the_train_span_has_no_window() -> None:
    assert walk_forward(ns("2024-01-01"), ns("2024-02-01"), Span(6, "M"), Span(1, "M"), False) == []
