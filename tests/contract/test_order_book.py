"""The books in PostgreSQL: idempotent orders and fills, positions that follow from fills."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from adapters.postgres.orders import PostgresOrderBook, UnknownAccountError
from domain.messages import FillReported, FillSource
from domain.orders import Order, OrderSeen, OrderState, Side
from tests.conftest import RunningPlatform, backends
from tests.contract.stores import postgres_url, scratch_database


@pytest.fixture(params=backends("embedded", server="AITP_POSTGRES__URL"))
async def book(
    request: pytest.FixtureRequest, platform: RunningPlatform
) -> AsyncIterator[PostgresOrderBook]:
    async with scratch_database(postgres_url(request.param, platform), "b") as pool:
        store = PostgresOrderBook(pool)
        await store.ensure_account("acct-1")
        yield store


def fill(
    n: int,
    cid: str,
    side: Side,
    volume: str,
    price: str,
    profit: str = "0",
    source: FillSource = FillSource.ORDER,
) -> FillReported:
    return FillReported(
        fill_id=f"deal-{n}",
        client_order_id=cid,
        symbol="EURUSD",
        side=side,
        volume=Decimal(volume),
        price=Decimal(price),
        ts=1_700_000_000_000_000_000 + n,
        commission=Decimal("0.35"),
        profit=Decimal(profit),
        source=source,
    )


async def test_fills_are_recorded_once_and_positions_follow(book: PostgresOrderBook) -> None:
    buy = Order("c-1", "EURUSD", Side.BUY, Decimal("1.0"))
    buy.submit()
    await book.record_order("acct-1", buy)
    assert await book.record_fill("acct-1", fill(1, "c-1", Side.BUY, "0.4", "1.1000"))
    assert await book.record_fill("acct-1", fill(2, "c-1", Side.BUY, "0.6", "1.1100"))
    assert not await book.record_fill("acct-1", fill(2, "c-1", Side.BUY, "0.6", "1.1100"))
    row = await book.order_row("acct-1", "c-1")
    assert row is not None
    assert row["filled_volume"] == Decimal("1.0")
    assert await book.positions("acct-1") == {"EURUSD": (Decimal("1.0"), Decimal("1.106"))}
    sell = Order("c-2", "EURUSD", Side.SELL, Decimal("1.5"))
    await book.record_order("acct-1", sell)
    await book.record_fill("acct-1", fill(3, "c-2", Side.SELL, "1.5", "1.1200"))
    assert await book.positions("acct-1") == {"EURUSD": (Decimal("-0.5"), Decimal("1.1200"))}


async def test_an_order_is_recorded_in_the_state_its_owner_saw(book: PostgresOrderBook) -> None:
    """The order workflow runs the state machine; the books take its view, not the terms'."""
    terms = Order("c-7", "EURUSD", Side.BUY, Decimal("1"))
    await book.record_order("acct-1", terms, OrderSeen(OrderState.ACCEPTED, "T7"))
    row = await book.order_row("acct-1", "c-7")
    assert row is not None
    assert (row["state"], row["broker_order_id"]) == (OrderState.ACCEPTED.value, "T7")
    assert terms.state is OrderState.NEW  # the terms were read, never moved


async def test_a_terminal_order_is_never_written_back_to_a_working_state(
    book: PostgresOrderBook,
) -> None:
    order = Order("c-3", "EURUSD", Side.BUY, Decimal("1"))
    order.submit()
    order.accept("T1")
    order.cancel("by request")
    await book.record_order("acct-1", order)
    late = Order("c-3", "EURUSD", Side.BUY, Decimal("1"))
    late.submit()  # a replayed, older view of the same order
    await book.record_order("acct-1", late)
    row = await book.order_row("acct-1", "c-3")
    assert row is not None
    assert (row["state"], row["broker_order_id"]) == (OrderState.CANCELLED.value, "T1")


async def test_unknown_accounts_and_orders_are_errors_not_silent_rows(
    book: PostgresOrderBook,
) -> None:
    with pytest.raises(UnknownAccountError, match="no account 'ghost'"):
        await book.record_order("ghost", Order("c-4", "EURUSD", Side.BUY, Decimal("1")))
    with pytest.raises(UnknownAccountError, match="no account 'ghost'"):
        await book.record_fill("ghost", fill(9, "c-9", Side.BUY, "1", "1.1"))
    await book.ensure_account("acct-1")  # twice is fine


async def test_order_states_list_every_order_of_the_account(book: PostgresOrderBook) -> None:
    working = Order("s-1", "EURUSD", Side.BUY, Decimal("1"))
    working.submit()
    await book.record_order("acct-1", working)
    await book.record_order("acct-1", Order("s-2", "EURUSD", Side.SELL, Decimal("1")))
    assert await book.order_states("acct-1") == {"s-1": "submitted", "s-2": "new"}


async def test_a_deal_no_order_row_explains_is_booked_with_its_provenance(
    book: PostgresOrderBook,
) -> None:
    """A stop-loss leg: the position it closes goes flat, its profit and costs reach the
    balance, and /v1/fills can tell who caused it."""
    await book.ensure_account("acct-1", deposit=Decimal(1_000))
    opened = Order("c-5", "EURUSD", Side.BUY, Decimal("1"))
    await book.record_order("acct-1", opened)
    assert await book.record_fill("acct-1", fill(1, "c-5", Side.BUY, "1", "1.1000"))
    stop = fill(2, "SL-2", Side.SELL, "1", "1.0950", profit="-500", source=FillSource.STOP_LOSS)
    assert await book.record_fill("acct-1", stop)
    assert not await book.record_fill("acct-1", stop)
    assert await book.positions("acct-1") == {}
    assert await book.fill_ids("acct-1") == {"deal-1", "deal-2"}
    assert await book.balance("acct-1") == Decimal(1_000) - 500 - Decimal("0.70")
    async with book._pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT order_id, source, profit FROM fills WHERE broker_fill_id = 'deal-2'"
        )
    assert (row["order_id"], row["source"], row["profit"]) == (None, "stop_loss", Decimal(-500))


async def test_a_repair_recomputes_the_position_from_its_fills_in_the_venues_order(
    book: PostgresOrderBook,
) -> None:
    await book.record_order("acct-1", Order("c-6", "EURUSD", Side.BUY, Decimal("2")))
    await book.record_fill("acct-1", fill(2, "c-6", Side.BUY, "1", "1.2000"))
    # the first deal was lost on its way; a reconciliation finds it later
    assert await book.record_fill("acct-1", fill(1, "c-6", Side.BUY, "1", "1.1000"), repair=True)
    await book.rebuild_positions("acct-1", ["EURUSD"])
    assert await book.positions("acct-1") == {"EURUSD": (Decimal(2), Decimal("1.15"))}
    row = await book.order_row("acct-1", "c-6")
    assert row is not None
    assert row["filled_volume"] == Decimal(2)


async def test_an_order_row_written_after_its_deal_takes_the_deal_in(
    book: PostgresOrderBook,
) -> None:
    await book.record_fill("acct-1", fill(7, "c-7", Side.SELL, "0.5", "1.1000"))
    late = Order("c-7", "EURUSD", Side.SELL, Decimal("0.5"))
    late.submit()
    await book.record_order("acct-1", late)
    row = await book.order_row("acct-1", "c-7")
    assert row is not None
    assert row["filled_volume"] == Decimal("0.5")


async def test_the_last_reconciliation_is_kept_and_repairs_add_up(book: PostgresOrderBook) -> None:
    report = {"checked_at": "2026-12-03T10:00:00+00:00", "status": "repaired", "differences": []}
    await book.save_reconciliation("acct-1", report, 2)
    await book.save_reconciliation("acct-1", {**report, "status": "equal"}, 0)
    async with book._pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, repairs, report FROM reconciliations")
    assert (row["status"], row["repairs"]) == ("equal", 2)
    assert row["report"] == {**report, "status": "equal"}
