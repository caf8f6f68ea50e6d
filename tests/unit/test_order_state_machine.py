"""The order state machine: legal paths, refused ones, and invariants under random events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.orders import (
    TERMINAL,
    TRANSITIONS,
    Fill,
    IllegalTransition,
    Order,
    OrderError,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)


def order(volume: str = "1.00") -> Order:
    return Order("c-1", "EURUSD", Side.BUY, Decimal(volume))


def fill(n: int, volume: str, price: str = "1.1") -> Fill:
    return Fill(f"d{n}", "c-1", Side.BUY, Decimal(volume), Decimal(price), ts=n)


def test_a_limit_order_fills_in_parts_and_averages_its_price() -> None:
    o = Order("c-1", "EURUSD", Side.BUY, Decimal("1.00"), OrderType.LIMIT, price=Decimal("1.1"))
    o.submit()
    o.accept("T100")
    assert o.apply_fill(fill(1, "0.40", "1.10"))
    assert o.state is OrderState.PARTIALLY_FILLED
    assert o.apply_fill(fill(2, "0.60", "1.20"))
    assert o.state is OrderState.FILLED
    assert o.avg_fill_price == Decimal("1.16")
    assert o.broker_order_id == "T100"
    assert o.history == [
        OrderState.NEW,
        OrderState.SUBMITTED,
        OrderState.ACCEPTED,
        OrderState.PARTIALLY_FILLED,
    ]


def test_the_same_deal_twice_changes_nothing() -> None:
    o = order()
    o.submit()
    assert o.apply_fill(fill(1, "0.50"))
    assert not o.apply_fill(fill(1, "0.50"))
    assert o.filled == Decimal("0.50")


def test_a_fill_beyond_the_order_is_refused() -> None:
    o = order("0.10")
    o.submit()
    with pytest.raises(OrderError, match=r"exceeds the 0\.10 left"):
        o.apply_fill(fill(1, "0.20"))


def test_a_cancel_of_a_filled_order_is_refused() -> None:
    o = order()
    o.submit()
    o.apply_fill(fill(1, "1.00"))
    with pytest.raises(IllegalTransition, match=r"filled -> cancel_requested is not allowed"):
        o.request_cancel()


def test_a_fill_may_overtake_a_cancel_and_a_refused_cancel_restores_the_state() -> None:
    o = order()
    o.submit()
    o.accept()
    o.request_cancel()
    o.apply_fill(fill(1, "0.30"))
    assert o.state is OrderState.PARTIALLY_FILLED
    o.request_cancel()
    o.cancel_refused()
    assert o.state is OrderState.PARTIALLY_FILLED


def test_an_unknown_outcome_is_unresolved_then_found_or_resent() -> None:
    found = order()
    found.submit()
    found.mark_unresolved("retcode 10012 (timeout)")
    found.accept("T7")
    assert found.state is OrderState.ACCEPTED
    lost = order()
    lost.submit()
    lost.mark_unresolved("reply lost")
    lost.submit()  # not found at the broker: sent again, once
    assert lost.state is OrderState.SUBMITTED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client_order_id": "x" * 25}, "1 to 24 characters"),
        ({"client_order_id": "has space"}, "printable ASCII"),
        ({"client_order_id": "é"}, "printable ASCII"),
        ({"volume": Decimal(0)}, "volume must be positive"),
        ({"order_type": OrderType.LIMIT}, "needs a price"),
        ({"order_type": OrderType.STOP}, "needs a stop price"),
        ({"time_in_force": TimeInForce.GTD}, "GTD needs an expiry"),
    ],
)
def test_malformed_orders_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "client_order_id": "c-1",
        "symbol": "EURUSD",
        "side": Side.BUY,
        "volume": Decimal(1),
    }
    with pytest.raises(OrderError, match=message):
        Order(**{**args, **kwargs})  # type: ignore[arg-type]


def test_terminal_states_have_no_way_out() -> None:
    assert all(TRANSITIONS[state] == frozenset() for state in TERMINAL)
    assert set(TRANSITIONS) == set(OrderState)


EVENTS = st.sampled_from(
    [
        "submit",
        "accept",
        "reject",
        "request_cancel",
        "cancel_refused",
        "cancel",
        "expire",
        "unresolved",
        "fill",
        "fill_again",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(EVENTS, st.integers(1, 100)), max_size=40),
    st.integers(1, 300),
)
def test_random_event_sequences_keep_the_invariants(
    events: list[tuple[str, int]], hundredths: int
) -> None:
    o = order(str(Decimal(hundredths) / 100))
    n = 0
    for name, amount in events:
        before = (o.state, o.filled)
        was_terminal = o.state.terminal
        try:
            if name in ("fill", "fill_again"):
                if name == "fill" or n == 0:  # fill_again replays the last deal
                    n += 1
                size = min(Decimal(amount) / 100, o.leaves) or Decimal("0.01")
                o.apply_fill(fill(n, str(size)))
            elif name == "unresolved":
                o.mark_unresolved("timeout")
            elif name == "reject":
                o.reject("risk")
            elif name == "cancel":
                o.cancel()
            else:
                getattr(o, name)()
        except (IllegalTransition, OrderError):
            assert (o.state, o.filled) == before  # a refused event changes nothing
        if was_terminal:
            assert (o.state, o.filled) == before  # terminal states are terminal
        assert Decimal(0) <= o.filled <= o.volume
        assert o.leaves >= 0
        assert (o.state is OrderState.FILLED) == (o.filled == o.volume)
        assert len(o.fill_ids) <= n


def test_amend_changes_a_working_order_and_never_below_what_is_filled() -> None:
    o = Order("c-1", "EURUSD", Side.BUY, Decimal("1.00"), OrderType.LIMIT, price=Decimal("1.1"))
    with pytest.raises(IllegalTransition, match="only a working order can be amended"):
        o.amend(price=Decimal("1.2"))
    o.submit()
    o.accept()
    o.apply_fill(fill(1, "0.40"))
    o.amend(price=Decimal("1.05"), volume=Decimal("0.60"))
    assert (o.price, o.volume, o.leaves, o.state) == (
        Decimal("1.05"),
        Decimal("0.60"),
        Decimal("0.20"),
        OrderState.PARTIALLY_FILLED,
    )
    with pytest.raises(OrderError, match="must stay above"):
        o.amend(volume=Decimal("0.40"))


def test_an_amend_the_venue_took_stands_while_a_cancel_is_on_its_way() -> None:
    o = Order("c-2", "EURUSD", Side.BUY, Decimal("1.00"), OrderType.LIMIT, price=Decimal("1.1"))
    o.submit()
    o.accept()
    o.request_cancel()
    o.amend(price=Decimal("1.09"))  # confirmed by the venue before the cancel reached it
    assert (o.price, o.state) == (Decimal("1.09"), OrderState.CANCEL_REQUESTED)
    o.cancel()
    with pytest.raises(IllegalTransition, match="only a working order can be amended"):
        o.amend(price=Decimal("1.08"))
