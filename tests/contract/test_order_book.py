"""The books in PostgreSQL: idempotent orders and fills, positions that follow from fills."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from adapters.postgres.orders import PostgresOrderBook, UnknownAccountError
from domain.orders import Fill, Order, OrderState, Side
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


def fill(n: int, cid: str, side: Side, volume: str, price: str) -> Fill:
    return Fill(
        f"deal-{n}",
        cid,
        side,
        Decimal(volume),
        Decimal(price),
        1_700_000_000_000_000_000 + n,
        Decimal("0.35"),
    )


async def test_fills_are_recorded_once_and_positions_follow(book: PostgresOrderBook) -> None:
    buy = Order("c-1", "EURUSD", Side.BUY, Decimal("1.0"))
    buy.submit()
    await book.record_order("acct-1", buy)
    assert await book.record_fill("acct-1", "EURUSD", fill(1, "c-1", Side.BUY, "0.4", "1.1000"))
    assert await book.record_fill("acct-1", "EURUSD", fill(2, "c-1", Side.BUY, "0.6", "1.1100"))
    assert not await book.record_fill("acct-1", "EURUSD", fill(2, "c-1", Side.BUY, "0.6", "1.1100"))
    row = await book.order_row("acct-1", "c-1")
    assert row is not None
    assert row["filled_volume"] == Decimal("1.0")
    assert await book.positions("acct-1") == {"EURUSD": (Decimal("1.0"), Decimal("1.106"))}
    sell = Order("c-2", "EURUSD", Side.SELL, Decimal("1.5"))
    await book.record_order("acct-1", sell)
    await book.record_fill("acct-1", "EURUSD", fill(3, "c-2", Side.SELL, "1.5", "1.1200"))
    assert await book.positions("acct-1") == {"EURUSD": (Decimal("-0.5"), Decimal("1.1200"))}


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
    with pytest.raises(LookupError, match="unknown order c-9"):
        await book.record_fill("acct-1", "EURUSD", fill(9, "c-9", Side.BUY, "1", "1.1"))
    await book.ensure_account("acct-1")  # twice is fine


async def test_order_states_list_every_order_of_the_account(book: PostgresOrderBook) -> None:
    working = Order("s-1", "EURUSD", Side.BUY, Decimal("1"))
    working.submit()
    await book.record_order("acct-1", working)
    await book.record_order("acct-1", Order("s-2", "EURUSD", Side.SELL, Decimal("1")))
    assert await book.order_states("acct-1") == {"s-1": "submitted", "s-2": "new"}
