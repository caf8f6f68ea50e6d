"""The engine trading through MT5 (the documented API, faked): every outcome class end to end."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

import pytest

from adapters.mt5.broker import Mt5Broker, magic_numbers
from domain.instruments import fx_major
from domain.market import QuoteTick
from domain.messages import FillReported, QueryOrder, SubmitOrder
from domain.orders import Order, OrderState, OrderType, Side
from domain.risk import RiskGate, RiskLimits
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.commands import CommandHandler
from hotpath.mt5_venue import Mt5Venue
from tests.fakes.mt5 import FakeMT5


def setup(threaded: bool = False) -> tuple[FakeMT5, Engine, Mt5Venue]:
    fake = FakeMT5()
    return fake, *engine_at(fake, threaded=threaded)


def engine_at(
    fake: FakeMT5, magics: dict[str, int] | None = None, threaded: bool = False
) -> tuple[Engine, Mt5Venue]:
    """A hot path's engine trading at this terminal: a new process each call."""
    broker = Mt5Broker(
        fake,
        magic_numbers(magics or {}, default=7),
        lambda: datetime.utcfromtimestamp(fake.now_ms / 1000),
    )
    venue = Mt5Venue(broker, backoff_s=0.0, poll_s=0.05, threaded=threaded)
    instruments = {"EURUSD": fx_major("EURUSD")}
    engine = Engine(
        "m", instruments, [], venue, RiskGate("m", RiskLimits()), Outbox(), balance=Decimal(10_000)
    )
    engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000, fake.bid, fake.ask))
    return engine, venue


def order(cid: str = "m-1", **kw: object) -> Order:
    return Order(cid, "EURUSD", Side.BUY, Decimal("0.1"), **kw)  # type: ignore[arg-type]


def kinds(engine: Engine) -> list[str]:
    return [e.TYPE for e in engine.outbox.take(1000) if e.TYPE != "quote"]


def test_a_market_order_fills_with_the_brokers_deal() -> None:
    fake, engine, _ = setup()
    engine.submit(order(), 0)
    o = engine.orders["m-1"]
    assert o.state is OrderState.FILLED
    assert (o.avg_fill_price, o.broker_order_id) == (Decimal("1.1002"), str(fake.orders[0].ticket))
    assert engine.book.net_volume("EURUSD") == Decimal("0.1")
    assert engine.book.balance == Decimal("10000") - Decimal("0.35")
    assert kinds(engine) == ["order_accepted", "fill"]


def test_a_lost_reply_is_reconciled_and_never_resent() -> None:
    fake, engine, _ = setup()
    fake.outcomes.append("reply_lost")
    engine.submit(order(), 0)
    o = engine.orders["m-1"]
    assert o.state is OrderState.FILLED
    assert OrderState.UNRESOLVED in o.history
    assert len(fake.sent) == 1
    assert kinds(engine) == ["order_unresolved", "order_accepted", "fill"]


def test_a_really_lost_order_is_sent_again_once() -> None:
    fake, engine, _ = setup()
    fake.outcomes.extend(["lost", "done"])
    engine.submit(order(), 0)
    assert engine.orders["m-1"].state is OrderState.FILLED
    assert len(fake.sent) == 2
    assert kinds(engine) == ["order_unresolved", "order_resubmitted", "order_accepted", "fill"]


def test_lost_twice_is_not_sent_a_third_time() -> None:
    fake, engine, _ = setup()
    fake.outcomes.extend(["lost", "lost", "done"])
    engine.submit(order(), 0)
    o = engine.orders["m-1"]
    assert o.state is OrderState.REJECTED
    assert "not sent a third time" in (o.reason or "")
    assert len(fake.sent) == 2


def test_a_requote_is_retried_with_a_fresh_price() -> None:
    fake, engine, _ = setup()
    fake.outcomes.extend([10004, "done"])
    engine.submit(order(), 0)
    o = engine.orders["m-1"]
    assert o.state is OrderState.FILLED
    assert OrderState.UNRESOLVED not in o.history
    assert len(fake.sent) == 2


@pytest.mark.parametrize(("code", "why"), [(10019, "NO_MONEY"), (10018, "MARKET_CLOSED")])
def test_a_rejection_is_final_and_says_why(code: int, why: str) -> None:
    fake, engine, _ = setup()
    fake.outcomes.append(code)
    engine.submit(order(), 0)
    o = engine.orders["m-1"]
    assert o.state is OrderState.REJECTED
    assert why in (o.reason or "")
    assert engine.book.net_volume("EURUSD") == 0


def test_a_resting_order_fills_later_and_another_is_cancelled() -> None:
    fake, engine, venue = setup()
    engine.submit(order("m-lim", order_type=OrderType.LIMIT, price=Decimal("1.0990")), 0)
    engine.submit(order("m-lim2", order_type=OrderType.LIMIT, price=Decimal("1.0980")), 0)
    assert engine.orders["m-lim"].state is OrderState.ACCEPTED
    fake.fill_pending(int(engine.orders["m-lim"].broker_order_id or 0), 1.0990)
    venue.poll()
    later = fake.now_ms * 1_000_000
    engine.on_tick(QuoteTick("EURUSD", later + 1, 1.0989, 1.0991))
    assert engine.orders["m-lim"].state is OrderState.FILLED
    assert engine.cancel("m-lim2")
    engine.on_tick(QuoteTick("EURUSD", later + 2, 1.0989, 1.0991))
    assert engine.orders["m-lim2"].state is OrderState.CANCELLED
    assert venue.working() == []


def test_the_tick_loop_never_waits_for_the_terminal() -> None:
    fake, engine, venue = setup(threaded=True)
    engine.submit(order(), 0)  # returns at once; the worker talks to MT5
    deadline = time.monotonic() + 5
    n = 10
    while engine.orders["m-1"].state is not OrderState.FILLED and time.monotonic() < deadline:
        n += 1
        engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000 + n, fake.bid, fake.ask))
        time.sleep(0.01)
    venue.close()
    assert engine.orders["m-1"].state is OrderState.FILLED


def test_a_restart_takes_the_brokers_positions_and_resting_orders_back() -> None:
    from domain.strategies import MaCross

    fake = FakeMT5()
    strategy_name = "ma_cross 10/30"
    magics = {strategy_name: 1010}

    def build() -> tuple[Engine, Mt5Venue, MaCross]:
        broker = Mt5Broker(
            fake, magic_numbers(magics), lambda: datetime.utcfromtimestamp(fake.now_ms / 1000)
        )
        venue = Mt5Venue(broker, backoff_s=0.0, threaded=False)
        strategy = MaCross("EURUSD", fast=10, slow=30)
        engine = Engine(
            "m",
            {"EURUSD": fx_major("EURUSD")},
            [strategy],
            venue,
            RiskGate("m", RiskLimits()),
            Outbox(),
            balance=Decimal(10_000),
        )
        engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000, fake.bid, fake.ask))
        return engine, venue, strategy

    before, _, _ = build()
    before.submit(order("m-1", strategy=strategy_name), 0)
    before.submit(
        order("m-2", strategy=strategy_name, order_type=OrderType.LIMIT, price=Decimal("1.0990")), 0
    )
    fake.positions.append(fake.positions[0]._replace(ticket=99, magic=4242))  # not ours

    after, venue, strategy = build()  # the process died; a new one starts against the broker
    positions, resting = venue.recover({v: k for k, v in magics.items()})
    after.adopt(positions, resting)
    assert after.book.net_volume("EURUSD") == Decimal("0.1")
    assert strategy.net == Decimal("0.1")
    assert not strategy.pending
    assert [o.client_order_id for o in venue.working()] == ["m-2"]
    assert after.submit(order("m-2"), 0) is False  # never sent twice, across the restart
    assert after.cancel("m-2")
    assert after.orders["m-2"].state is OrderState.CANCELLED


def test_an_order_sent_before_a_restart_is_reported_again_never_resent() -> None:
    """The hot path died after order_send but before its reply went out: the workflow asks
    again, and the new process reports the broker's deal instead of sending a second order."""
    fake = FakeMT5()
    fake.outcomes.append("reply_lost")

    before, _ = engine_at(fake)
    before.broker.submit(order("m-1"), 0)  # reached the broker; the process died right after
    after, venue = engine_at(fake)
    after.adopt(*venue.recover({7: "manual"}))
    assert after.book.net_volume("EURUSD") == Decimal("0.1")
    assert after.submit(order("m-1"), 0)  # a retried submission straight to the engine
    assert [r["comment"] for r in fake.sent if r["action"] == 1] == ["m-1"]  # sent once only
    assert after.orders["m-1"].state is OrderState.FILLED
    assert [f.fill_id for f in after.fills["m-1"]] == [str(fake.deals[0].ticket)]
    assert after.book.net_volume("EURUSD") == Decimal("0.1")  # not counted twice
    assert after.book.balance == Decimal(10_000)  # its commission is the adopted position's
    assert kinds(after) == ["order_accepted", "fill"]
    assert after.submit(order("m-2"), 0)  # a new order after the restart is sent as usual
    assert after.book.net_volume("EURUSD") == Decimal("0.2")


async def test_after_a_restart_a_query_finds_the_order_the_previous_process_sent() -> None:
    """The order's workflow asks the new process about an order it never saw: the answer comes
    from the broker's records, with the fill, and a submission after that sends nothing."""
    fake = FakeMT5()
    fake.outcomes.append("reply_lost")
    before, _ = engine_at(fake, {"ma": 11})
    before.broker.submit(order("m-9", strategy="ma"), 0)  # the process died with no reply
    engine, venue = engine_at(fake, {"ma": 11})
    engine.adopt(*venue.recover({11: "ma", 7: "manual"}))
    handler = CommandHandler(engine)
    seen = await handler.handle(QueryOrder(client_order_id="m-9"), 0)
    assert (seen["state"], seen["filled"]) == ("filled", "0.1")
    assert [f["fill_id"] for f in seen["fills"]] == [str(fake.deals[0].ticket)]
    assert engine.orders["m-9"].strategy == "ma"
    again = await handler.handle(
        SubmitOrder(client_order_id="m-9", symbol="EURUSD", side=Side.BUY, volume=Decimal("0.1")),
        0,
    )
    assert again["state"] == "filled"
    assert len([r for r in fake.sent if r["action"] == 1]) == 1
    assert engine.book.net_volume("EURUSD") == Decimal("0.1")  # the adopted position, once
    assert await handler.handle(QueryOrder(client_order_id="m-404"), 0) == {"state": "unknown"}


def test_mt5_amends_a_resting_orders_price_but_not_its_volume() -> None:
    fake, engine, _ = setup()
    engine.submit(order("m-lim", order_type=OrderType.LIMIT, price=Decimal("1.0990")), 0)
    taken, _ = engine.amend("m-lim", Decimal("1.0985"), None)
    engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000 + 1, fake.bid, fake.ask))
    assert taken
    assert engine.orders["m-lim"].price == Decimal("1.09850")
    assert fake.working[0].price_open == 1.0985
    refused, why = engine.amend("m-lim", None, Decimal("0.2"))
    assert not refused
    assert "cannot change an order's volume" in why


def test_after_a_restart_an_order_is_recalled_by_the_prefix_the_broker_kept() -> None:
    fake = FakeMT5(comment_limit=12)  # the broker cuts comments to 12 characters
    fake.outcomes.append("reply_lost")
    long_id = "dec-eurusd-170000000"
    before, _ = engine_at(fake)
    before.broker.submit(order(long_id), 0)
    assert fake.orders[0].comment == long_id[:12]
    engine, venue = engine_at(fake)
    engine.adopt(*venue.recover({7: "manual"}))
    recalled = engine.recall(long_id)
    assert recalled is not None
    assert recalled.state is OrderState.FILLED
    assert engine.recall("dec-usdjpy-170000000") is None  # a new order: unknown


@pytest.mark.parametrize(
    ("reason", "source"),
    [(4, "stop_loss"), (5, "take_profit"), (6, "broker")],
    ids=["server stop-loss", "server take-profit", "stop-out"],
)
def test_a_close_the_broker_made_on_its_own_is_reported_once(reason: int, source: str) -> None:
    fake, engine, venue = setup()
    engine.submit(order(), 0)
    engine.outbox.take(1000)
    deal = fake.close_by_broker(fake.positions[0].ticket, reason)
    venue.poll()
    venue.poll()  # a second look reports nothing new
    engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000 + 1, fake.bid, fake.ask))
    fills = [e for e in engine.outbox.take(1000) if isinstance(e, FillReported)]
    assert [(f.fill_id, f.source.value, f.side, f.volume) for f in fills] == [
        (str(deal.ticket), source, Side.SELL, Decimal("0.1"))
    ]
    assert fills[0].commission == Decimal("0.35")
    assert engine.book.net_volume("EURUSD") == 0
    assert [f.fill_id for f in engine.venue_state().fills] == [
        str(fake.deals[0].ticket),
        str(deal.ticket),
    ]


def test_a_trade_typed_into_the_terminal_reaches_the_books_as_the_brokers() -> None:
    fake, engine, venue = setup()
    deal = fake.trade_by_hand("EURUSD", 1, 0.3)
    venue.poll()
    engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000 + 1, fake.bid, fake.ask))
    [fill] = [e for e in engine.outbox.take(1000) if isinstance(e, FillReported)]
    assert (fill.fill_id, fill.source.value, fill.client_order_id) == (
        str(deal.ticket),
        "broker",
        f"mt5-{deal.order}",
    )
    assert engine.book.net_volume("EURUSD") == Decimal("-0.3")


def test_deals_held_at_the_start_are_not_reported_again() -> None:
    fake = FakeMT5()
    fake.trade_by_hand("EURUSD", 0, 0.2)  # before this process started: in the positions
    engine, venue = engine_at(fake)
    engine.adopt(*venue.recover({0: "manual"}))  # the terminal's own magic, taken over
    venue.poll()
    engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000 + 1, fake.bid, fake.ask))
    assert not [e for e in engine.outbox.take(1000) if isinstance(e, FillReported)]
    assert engine.book.net_volume("EURUSD") == Decimal("0.2")


def test_a_deal_in_a_symbol_not_traded_here_reaches_the_books_without_stopping_the_engine() -> None:
    fake, engine, venue = setup()
    deal = fake.trade_by_hand("GBPUSD", 0, 0.5)
    venue.poll()
    engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000 + 1, fake.bid, fake.ask))
    [fill] = [e for e in engine.outbox.take(1000) if isinstance(e, FillReported)]
    assert (fill.fill_id, fill.symbol, fill.source.value) == (str(deal.ticket), "GBPUSD", "broker")
    assert engine.book.net_volume("EURUSD") == 0
    assert engine.submit(order("m-2"), 0)  # the engine trades on
