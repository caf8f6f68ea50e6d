"""The books against MT5's own record: the money of every deal as the broker states it (profit,
commission and fee, swap), the account's statement read on the venue's worker, the deposit the
books start from, and a trade typed into the terminal while no hot path ran."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.mt5.broker import Mt5Broker, magic_numbers
from domain.instruments import fx_major
from domain.market import QuoteTick
from domain.messages import FillSource, QueryVenue, as_dict, read_reply
from domain.orders import Order, OrderState, OrderType, Side
from domain.replies import VenueReport
from domain.risk import RiskGate, RiskLimits
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.commands import CommandError, CommandHandler
from hotpath.mt5_venue import Mt5Venue
from tests.fakes.mt5 import FakeMT5

MAGICS = {"ma": 11}
OURS = {11: "ma", 7: "manual", 0: "manual"}


def broker(fake: FakeMT5) -> Mt5Broker:
    return Mt5Broker(
        fake,
        magic_numbers(MAGICS, default=7),
        lambda: datetime.utcfromtimestamp(fake.now_ms / 1000),
    )


def engine_at(fake: FakeMT5, threaded: bool = False) -> tuple[Engine, Mt5Venue]:
    """A hot path started against this terminal, with the balance the broker states."""
    mt5 = broker(fake)
    venue = Mt5Venue(mt5, backoff_s=0.0, poll_s=0.05, threaded=threaded)
    opening = mt5.opening()
    engine = Engine(
        "m",
        {"EURUSD": fx_major("EURUSD")},
        [],
        venue,
        RiskGate("m", RiskLimits()),
        Outbox(),
        currency=opening.currency,
        balance=opening.balance,
    )
    engine.adopt(*venue.recover(OURS))
    tick(engine, fake)
    return engine, venue


def tick(engine: Engine, fake: FakeMT5) -> None:
    engine.on_tick(QuoteTick("EURUSD", fake.now_ms * 1_000_000, fake.bid, fake.ask))


def market(cid: str, side: Side, volume: str = "0.1") -> Order:
    return Order(cid, "EURUSD", side, Decimal(volume), strategy="ma")


async def statement(engine: Engine) -> VenueReport:
    data = await CommandHandler(engine).handle(QueryVenue(since_ns=0), 0)
    return read_reply(VenueReport, data)


def test_a_closing_deal_books_the_brokers_profit_and_the_swap_it_carries() -> None:
    fake = FakeMT5(netting=True)
    engine, _ = engine_at(fake)
    engine.submit(market("m-1", Side.BUY, "0.2"), 0)
    fake.rollover(-6.9)  # the night's swap, on the open position
    fake.quote(1.1050, 1.1052)
    tick(engine, fake)
    engine.submit(market("m-2", Side.SELL, "0.2"), 0)
    close = fake.deals[-1]
    assert (close.entry, close.profit, close.swap) == (1, 96.0, -1.38)
    reported = [e for e in engine.outbox.take(1000) if e.TYPE == "fill"]
    assert [(f.profit, f.swap, f.commission) for f in reported] == [
        (Decimal(0), Decimal(0), Decimal("0.7")),
        (Decimal("96.0"), Decimal("-1.38"), Decimal("0.7")),
    ]
    assert engine.book.balance == Decimal(str(fake.account_info().balance))


async def test_the_statement_is_the_brokers_record_with_the_provenance_the_engine_knows() -> None:
    fake = FakeMT5(netting=True, comment_limit=8)  # the broker cuts our ids to 8 characters
    engine, _ = engine_at(fake)
    engine.submit(market("m-long-id-1", Side.BUY), 0)
    fake.trade_by_hand("EURUSD", 0, 0.1)
    fake.close_by_broker(fake.positions[0].ticket, 4)  # its stop-loss, at the server
    report = await statement(engine)
    assert [(f.source, f.client_order_id) for f in report.fills] == [
        (FillSource.ORDER, "m-long-id-1"),
        (FillSource.BROKER, f"mt5-{fake.deals[1].order}"),
        (FillSource.STOP_LOSS, f"mt5-{fake.deals[2].order}"),
    ]
    assert [f.fill_id for f in report.fills] == [str(d.ticket) for d in fake.deals]
    assert [f.profit for f in report.fills] == [Decimal(str(d.profit)) for d in fake.deals]
    assert report.balance == Decimal(str(fake.account_info().balance))
    assert report.positions == []  # the stop-loss closed the netted 0.2


async def test_the_statement_is_read_on_the_venues_worker_and_a_failure_is_an_answer() -> None:
    fake = FakeMT5()
    engine, venue = engine_at(fake, threaded=True)
    try:
        engine.submit(market("m-1", Side.BUY), 0)
        report = await statement(engine)
        assert [(p.symbol, p.volume) for p in report.positions] == [("EURUSD", Decimal("0.1"))]
        fake.account_info = lambda: None  # type: ignore[method-assign]
        with pytest.raises(CommandError, match="statement cannot be read"):
            await statement(engine)
    finally:
        venue.close()


def test_the_books_start_from_the_cash_paid_in_not_from_the_balance_after_trading() -> None:
    fake = FakeMT5(netting=True, balance=5_000.0)
    fake.trade_by_hand("EURUSD", 0, 0.5)
    fake.quote(1.0950, 1.0952)
    fake.trade_by_hand("EURUSD", 1, 0.5)  # closed at a loss before the platform started
    opening = broker(fake).opening()
    assert opening.balance == Decimal(str(fake.account_info().balance)) < Decimal(5_000)
    assert (opening.deposit, opening.currency) == (Decimal("5000.0"), "USD")


async def test_a_position_typed_by_hand_while_no_hot_path_ran_is_held_and_stated() -> None:
    fake = FakeMT5(netting=True)
    fake.trade_by_hand("EURUSD", 1, 0.3)
    engine, _ = engine_at(fake)
    assert engine.book.net_volume("EURUSD") == Decimal("-0.3")
    report = await statement(engine)
    assert [(f.source, f.volume) for f in report.fills] == [(FillSource.BROKER, Decimal("0.3"))]
    assert as_dict(report)["positions"][0]["volume"] == "-0.3"


def test_a_pending_order_filled_at_the_broker_opens_the_position_and_books_its_fee() -> None:
    fake = FakeMT5(netting=True)
    engine, venue = engine_at(fake)
    limit = Order("m-l", "EURUSD", Side.BUY, Decimal("0.1"), OrderType.LIMIT, price=Decimal("1.09"))
    engine.submit(limit, 0)
    fake.fill_pending(fake.working[0].ticket, 1.09)
    fake.deals[-1] = fake.deals[-1]._replace(fee=-0.25)  # the broker's per-deal fee
    venue.poll()
    tick(engine, fake)
    deal: Any = [e for e in engine.outbox.take(1000) if e.TYPE == "fill"][-1]
    assert deal.commission == Decimal("0.60")  # 0.35 commission and 0.25 fee, as costs
    assert (
        engine.book.net_volume("EURUSD") == Decimal("0.1") == Decimal(str(fake.positions[0].volume))
    )


async def until_filled(engine: Engine, fake: FakeMT5, cid: str) -> None:
    """The venue's worker reports on its own thread; the engine collects on its ticks."""
    deadline = asyncio.get_running_loop().time() + 10
    while engine.orders[cid].state is not OrderState.FILLED:
        assert asyncio.get_running_loop().time() < deadline, engine.orders[cid]
        tick(engine, fake)
        await asyncio.sleep(0.01)


async def test_a_statement_given_up_on_or_a_failed_request_does_not_stop_the_worker() -> None:
    fake = FakeMT5()
    engine, venue = engine_at(fake, threaded=True)
    try:
        held = threading.Event()
        send = fake.order_send

        def lost_bridge(request: dict[str, Any]) -> Any:
            if request.get("comment") == "m-1":
                raise EOFError("connection closed by peer")
            held.wait(5)
            return send(request)

        fake.order_send = lost_bridge  # type: ignore[method-assign]
        engine.submit(market("m-0", Side.BUY), 0)  # keeps the worker busy until released
        late = venue.statement(0)
        late.cancel()  # the asker's wait ended before the worker came to it
        engine.submit(market("m-1", Side.BUY), 0)  # its sending fails outright
        engine.submit(market("m-2", Side.BUY), 0)
        held.set()
        await until_filled(engine, fake, "m-2")
        assert late.cancelled()
    finally:
        venue.close()


async def test_an_amend_the_terminal_confirms_while_a_cancel_is_asked_for_stands() -> None:
    """The venue's news comes with the answer to the next request: the amend it took is
    applied to an order whose cancel is already on its way, and the cancel goes on."""
    fake = FakeMT5()
    engine, venue = engine_at(fake, threaded=True)
    try:
        price = Decimal("1.09")
        engine.submit(
            Order("m-l", "EURUSD", Side.BUY, Decimal("0.1"), OrderType.LIMIT, price=price), 0
        )
        deadline = asyncio.get_running_loop().time() + 10
        while engine.orders["m-l"].state is not OrderState.ACCEPTED:
            assert asyncio.get_running_loop().time() < deadline
            tick(engine, fake)
            await asyncio.sleep(0.01)
        taken, why = engine.amend("m-l", Decimal("1.0905"), None)
        assert taken, why
        while fake.working[0].price_open != 1.0905:  # confirmed, not yet collected
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert engine.cancel("m-l")
        while engine.orders["m-l"].state is not OrderState.CANCELLED:
            assert asyncio.get_running_loop().time() < deadline, engine.orders["m-l"]
            tick(engine, fake)
            await asyncio.sleep(0.01)
        assert engine.orders["m-l"].price == Decimal("1.0905")
    finally:
        venue.close()
