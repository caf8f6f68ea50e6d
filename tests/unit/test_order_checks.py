"""What the broker would refuse, named by field, before anything is sent."""

from __future__ import annotations

from decimal import Decimal as Dec

import pytest

from domain.instruments import fx_major
from domain.order_checks import Refusal, refusals
from domain.orders import Order, OrderType, Side, TimeInForce

NOW = 1_700_000_000 * 10**9
EURUSD = fx_major("EURUSD")
MARKET = (Dec("1.10000"), Dec("1.10010"))


def check(**fields: object) -> list[Refusal]:
    values: dict[str, object] = {"volume": Dec("0.10"), "side": Side.BUY, **fields}
    return refusals(
        Order("c-1", "EURUSD", **values),  # type: ignore[arg-type]
        EURUSD,
        MARKET,
        NOW,
    )


def test_a_plain_order_is_fine() -> None:
    assert check() == []
    assert check(stop_loss=Dec("1.09000"), take_profit=Dec("1.11000")) == []


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        (
            {"volume": Dec("0.015")},
            Refusal("volume", "volume 0.015 is not a multiple of the step 0.01"),
        ),
        (
            {"volume": Dec("0.001")},
            Refusal("volume", "volume 0.001 is not a multiple of the step 0.01"),
        ),
        ({"volume": Dec("101")}, Refusal("volume", "volume 101 is above the maximum 100")),
        (
            {"order_type": OrderType.LIMIT, "price": Dec("1.099995")},
            Refusal("price", "1.099995 is not on the tick of 0.00001"),
        ),
        (
            {"stop_loss": Dec("1.10010")},
            Refusal("stop_loss", "a buy's stop-loss must be below 1.10010"),
        ),
        (
            {"side": Side.SELL, "take_profit": Dec("1.10000")},
            Refusal("take_profit", "a sell's take-profit must be below 1.10000"),
        ),
        (
            {"order_type": OrderType.LIMIT, "price": Dec("1.09000"), "take_profit": Dec("1.08900")},
            Refusal("take_profit", "a buy's take-profit must be above 1.09000"),
        ),
        (
            {"time_in_force": TimeInForce.GTD, "expire_at": NOW - 1},
            Refusal("expire_at", "expire_at is in the past"),
        ),
        (
            {"time_in_force": TimeInForce.GTD, "expire_at": NOW + 400 * 86_400 * 10**9},
            Refusal("expire_at", "expire_at is more than a year ahead"),
        ),
        ({"expire_at": NOW + 10**9}, Refusal("expire_at", "only a gtd order expires at a time")),
    ],
)
def test_each_refusal_names_its_field(fields: dict[str, object], refusal: Refusal) -> None:
    assert check(**fields) == [refusal]


def test_a_market_orders_stops_wait_for_a_quote_to_be_judged() -> None:
    order = Order("c-2", "EURUSD", Side.BUY, Dec("0.10"), stop_loss=Dec("1.20000"))
    assert refusals(order, EURUSD, None, NOW) == []


def test_a_price_no_tick_grid_can_hold_is_refused_not_a_crash() -> None:
    assert check(order_type=OrderType.LIMIT, price=Dec("1e30")) == [
        Refusal("price", "1E+30 is not on the tick of 0.00001")
    ]
