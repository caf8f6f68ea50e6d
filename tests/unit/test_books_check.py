"""At start-up the hot path names every way the books disagree with the broker."""

from __future__ import annotations

from decimal import Decimal

from domain.orders import OrderState
from hotpath.books_check import differences


def test_agreeing_books_raise_nothing() -> None:
    assert (
        differences(
            {"a": OrderState.ACCEPTED, "b": OrderState.FILLED},
            {"EURUSD": Decimal("0.1")},
            {"a": "accepted", "b": "filled"},
            {"EURUSD": Decimal("0.1")},
        )
        == []
    )


def test_each_disagreement_is_named() -> None:
    found = differences(
        {"b": OrderState.CANCELLED},
        {"EURUSD": Decimal("0.3")},
        {"a": "accepted", "b": "accepted", "c": "filled"},
        {"EURUSD": Decimal("0.1"), "USDJPY": Decimal("1")},
    )
    assert found == [
        "order a is accepted in the books but unknown to the broker",
        "order b is accepted in the books but cancelled at the broker",
        "EURUSD: the broker holds 0.3, the books say 0.1",
        "USDJPY: the broker holds 0, the books say 1",
    ]
