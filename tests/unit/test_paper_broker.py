"""The paper broker's fills: quote sides, spread, costs, partials, triggers, SL/TP, expiry, swap."""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal as Dec

import pytest

from domain.instruments import fx_major
from domain.market import Bar, QuoteTick
from domain.market_data import Timeframe
from domain.orders import Order, OrderType, Side, TimeInForce
from domain.paper import PaperBroker, PaperConfig
from domain.venue import (
    Accepted,
    Amended,
    Cancelled,
    Expired,
    Filled,
    Rejected,
    SwapCharged,
)

MIN = Timeframe.M1.nanos
DAY = 1440 * MIN
EURUSD = fx_major("EURUSD")
ids = itertools.count()


def broker(**config: object) -> PaperBroker:
    return PaperBroker({"EURUSD": EURUSD}, PaperConfig(**config))  # type: ignore[arg-type]


def order(side: Side = Side.BUY, volume: str = "1", **kw: object) -> Order:
    return Order(f"c{next(ids)}", "EURUSD", side, Dec(volume), **kw)  # type: ignore[arg-type]


def bar(t: int, o: float, h: float, lo: float, c: float, v: float = 0.0) -> Bar:
    return Bar("EURUSD", Timeframe.M1, t * MIN, o, h, lo, c, v)


def fills(events: list[object]) -> list[tuple[str, Dec, Dec]]:
    return [
        (e.fill.side.value, e.fill.volume, e.fill.price) for e in events if isinstance(e, Filled)
    ]


def test_one_sided_bars_without_costs_fill_a_market_order_at_the_next_open() -> None:
    b = broker()
    b.on_bar(bar(0, 1.1, 1.2, 1.0, 1.15))
    o = order()
    assert isinstance(b.submit(o, 1 * MIN)[0], Accepted)
    events = b.on_bar(bar(1, 1.12345, 1.2, 1.0, 1.15))
    assert fills(events) == [("buy", Dec(1), Dec("1.12345"))]
    assert events[0].final  # type: ignore[union-attr]


def test_buys_pay_the_ask_bar_and_sells_get_the_bid() -> None:
    b = broker()
    buy, sell = order(Side.BUY), order(Side.SELL)
    b.submit(buy, 0)
    b.submit(sell, 0)
    bid = bar(1, 1.10000, 1.1, 1.1, 1.1)
    ask = bar(1, 1.10012, 1.1, 1.1, 1.1)
    assert fills(b.on_bar(bid, ask)) == [
        ("buy", Dec(1), Dec("1.10012")),
        ("sell", Dec(1), Dec("1.10000")),
    ]


def test_a_configured_spread_slippage_and_commission_are_charged() -> None:
    b = broker(spread_points=10, slippage_points=2, commission_per_lot=Dec("3.5"))
    b.submit(order(volume="2"), 0)
    events = b.on_bar(bar(1, 1.10000, 1.1, 1.1, 1.1))
    fill = events[0].fill  # type: ignore[union-attr]
    assert fill.price == Dec("1.10012")  # bid + 10 points spread + 2 points slippage
    assert fill.commission == Dec("7.0")


def test_ticks_fill_at_the_quote_side() -> None:
    b = broker()
    b.submit(order(Side.SELL), 0)
    assert fills(b.on_tick(QuoteTick("EURUSD", 1, 1.1, 1.1002))) == [
        ("sell", Dec(1), Dec("1.10000"))
    ]


def test_a_volume_cap_fills_in_parts_across_bars() -> None:
    b = broker(max_fill_lots=Dec(1))
    o = order(volume="2.5")
    b.submit(o, 0)
    got = [fills(b.on_bar(bar(t, 1.1 + t / 1000, 1.2, 1.0, 1.1))) for t in (1, 2, 3)]
    assert [f[0][1] for f in got] == [Dec(1), Dec(1), Dec("0.5")]
    assert not b.has_order(o.client_order_id)


def test_a_fraction_of_volume_caps_each_fill() -> None:
    b = broker(max_fill_fraction=0.1)
    b.submit(order(volume="1"), 0)
    assert fills(b.on_bar(bar(1, 1.1, 1.1, 1.1, 1.1, v=3.0))) == [
        ("buy", Dec("0.3"), Dec("1.10000"))
    ]


def test_ioc_cancels_the_rest_and_fok_refuses_what_cannot_fill_whole() -> None:
    b = broker(max_fill_lots=Dec(1))
    ioc = order(volume="3", time_in_force=TimeInForce.IOC)
    fok = order(volume="3", time_in_force=TimeInForce.FOK)
    b.submit(ioc, 0)
    b.submit(fok, 0)
    events = b.on_bar(bar(1, 1.1, 1.1, 1.1, 1.1))
    assert fills(events) == [("buy", Dec(1), Dec("1.10000"))]
    assert Cancelled(ioc.client_order_id, "IOC: rest cancelled") in events
    assert Rejected(fok.client_order_id, "FOK: cannot fill in full") in events


def test_limits_fill_at_their_price_or_better_on_a_gap() -> None:
    b = broker()
    at_price = order(order_type=OrderType.LIMIT, price=Dec("1.09"))
    b.submit(at_price, 0)
    assert fills(b.on_bar(bar(1, 1.10, 1.11, 1.095, 1.1))) == []
    assert fills(b.on_bar(bar(2, 1.10, 1.11, 1.085, 1.1))) == [("buy", Dec(1), Dec("1.09000"))]
    gap = order(Side.SELL, order_type=OrderType.LIMIT, price=Dec("1.12"))
    b.submit(gap, 0)
    assert fills(b.on_bar(bar(3, 1.13, 1.14, 1.12, 1.13))) == [("sell", Dec(1), Dec("1.13000"))]


def test_stops_and_stop_limits_trigger_on_the_range() -> None:
    b = broker()
    stop = order(Side.SELL, order_type=OrderType.STOP, stop_price=Dec("1.09"))
    stop_limit = order(order_type=OrderType.STOP_LIMIT, stop_price=Dec("1.12"), price=Dec("1.115"))
    b.submit(stop, 0)
    b.submit(stop_limit, 0)
    assert (
        fills(b.on_bar(bar(1, 1.10, 1.121, 1.095, 1.12))) == []
    )  # stop-limit armed, limit not hit
    assert fills(b.on_bar(bar(2, 1.12, 1.12, 1.08, 1.09))) == [
        ("sell", Dec(1), Dec("1.09000")),
        ("buy", Dec(1), Dec("1.11500")),
    ]


def test_stop_loss_and_take_profit_close_the_position() -> None:
    b = broker()
    b.submit(order(stop_loss=Dec("1.095"), take_profit=Dec("1.110")), 0)
    b.on_bar(bar(1, 1.100, 1.101, 1.099, 1.1))
    events = b.on_bar(bar(2, 1.100, 1.112, 1.099, 1.11))
    closing = [e.fill for e in events if isinstance(e, Filled)]
    assert [(f.reason, f.side, f.price) for f in closing] == [("tp", Side.SELL, Dec("1.11000"))]
    assert fills(b.on_bar(bar(3, 1.1, 1.2, 1.0, 1.1))) == []  # closed: nothing left to trigger


def test_a_bar_through_both_brackets_is_read_as_the_stop_loss() -> None:
    b = broker()
    b.submit(order(Side.SELL, stop_loss=Dec("1.105"), take_profit=Dec("1.095")), 0)
    b.on_bar(bar(1, 1.100, 1.101, 1.099, 1.1))
    events = b.on_bar(bar(2, 1.100, 1.110, 1.090, 1.1))
    assert [(e.fill.reason, e.fill.price) for e in events if isinstance(e, Filled)] == [
        ("sl", Dec("1.10500"))
    ]


def test_day_orders_expire_at_rollover_and_gtd_at_their_time() -> None:
    b = broker()
    day = order(order_type=OrderType.LIMIT, price=Dec("1.0"), time_in_force=TimeInForce.DAY)
    gtd = order(
        order_type=OrderType.LIMIT,
        price=Dec("1.0"),
        time_in_force=TimeInForce.GTD,
        expire_at=5 * MIN,
    )
    b.on_bar(bar(0, 1.1, 1.1, 1.1, 1.1))
    b.submit(day, 0)
    b.submit(gtd, 0)
    assert Expired(gtd.client_order_id) in b.on_bar(bar(5, 1.1, 1.1, 1.1, 1.1))
    assert Expired(day.client_order_id) in b.on_bar(bar(DAY // MIN, 1.1, 1.1, 1.1, 1.1))


def test_swap_is_charged_at_rollover_and_tripled_on_wednesday() -> None:
    eurusd = dataclasses.replace(EURUSD, swap_long=Dec("-5.2"))
    b = PaperBroker({"EURUSD": eurusd})
    tuesday = 19_675 * DAY  # 2023-11-14
    b.on_bar(Bar("EURUSD", Timeframe.M1, tuesday, 1.1, 1.1, 1.1, 1.1))
    b.submit(order(volume="2"), tuesday)
    b.on_bar(Bar("EURUSD", Timeframe.M1, tuesday + MIN, 1.1, 1.1, 1.1, 1.1))
    one = b.on_bar(Bar("EURUSD", Timeframe.M1, tuesday + DAY, 1.1, 1.1, 1.1, 1.1))
    three = b.on_bar(Bar("EURUSD", Timeframe.M1, tuesday + 2 * DAY, 1.1, 1.1, 1.1, 1.1))
    assert [e.amount for e in one if isinstance(e, SwapCharged)] == [Dec("-10.40000")]
    assert [e.amount for e in three if isinstance(e, SwapCharged)] == [Dec("-31.20000")]


@pytest.mark.parametrize(
    ("volume", "reason"),
    [("200", "above the maximum"), ("0.015", "not a multiple of the step")],
)
def test_volumes_off_the_grid_are_rejected(volume: str, reason: str) -> None:
    event = broker().submit(order(volume=volume), 0)[0]
    assert isinstance(event, Rejected)
    assert reason in event.reason


def test_cancel_takes_a_working_order_away() -> None:
    b = broker()
    o = order(order_type=OrderType.LIMIT, price=Dec("1.0"))
    b.submit(o, 0)
    assert b.cancel(o.client_order_id) == [Cancelled(o.client_order_id, "cancelled")]
    assert isinstance(b.cancel(o.client_order_id)[0], Rejected)


def test_a_working_order_is_amended_and_fills_at_its_new_price() -> None:
    b = broker()
    o = order(order_type=OrderType.LIMIT, price=Dec("1.09"))
    b.submit(o, 0)
    assert b.amend(o.client_order_id, Dec("1.095"), Dec("2")) == [
        Amended(o.client_order_id, Dec("1.095"), Dec("2"))
    ]
    o.submit()
    o.accept()
    o.amend(Dec("1.095"), Dec("2"))  # the engine applies the broker's acknowledgement
    got = fills(b.on_bar(bar(1, 1.10, 1.11, 1.094, 1.1)))
    assert got == [("buy", Dec(2), Dec("1.09500"))]
    assert isinstance(b.amend(o.client_order_id, Dec("1.0"), None)[0], Rejected)  # gone
