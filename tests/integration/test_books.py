"""Every deal the venue makes reaches the books once, whoever caused it, and books that drift
from the venue are repaired by the next reconciliation, which says so.

Each test runs the trading stack (hot path with the paper broker charging commission, its
publisher and command consumer, the bridge, the trading worker, PostgreSQL) and ends by
comparing the books with the venue deal by deal: side, volume, price, commission, profit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from adapters.redis.event_bus import RedisStreamBus
from config.settings import PostgresSettings
from domain.messages import (
    BooksRepaired,
    Event,
    FillReported,
    FillSource,
    Kill,
    Rearm,
    SubmitOrder,
    decode,
    events_stream,
)
from domain.orders import OrderState, OrderType, Side
from domain.paper import PaperConfig
from domain.ports import BooksUnavailableError
from domain.strategies import MaCross, OrderIntent
from temporal.books import ReconciliationReport, books_workflow_id
from temporal.order_client import amend_order, cancel_order
from temporal.orders import AmendRequest, FillRecord, OrderView
from tests.conftest import RunningPlatform
from tests.trading_stack import Stack, trading_stack
from tests.waits import until

COMMISSION = Decimal("3.50")  # per lot and side


@pytest.fixture
async def stack(platform: RunningPlatform) -> AsyncIterator[Stack]:
    paper = PaperConfig(commission_per_lot=COMMISSION)
    async with trading_stack(platform, paper=paper, reconcile_s=0.5) as running:
        yield running


async def booked_deals(stack: Stack) -> dict[str, tuple[str, str, Decimal, Decimal, Decimal]]:
    async with stack.book._pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT f.broker_fill_id, f.source, f.side, f.volume, f.price, f.commission
               FROM fills f JOIN accounts a ON a.id = f.account_id WHERE a.code = $1""",
            stack.account,
        )
    return {
        r["broker_fill_id"]: (r["source"], r["side"], r["volume"], r["price"], r["commission"])
        for r in rows
    }


def venue_deals(stack: Stack) -> dict[str, tuple[str, str, Decimal, Decimal, Decimal]]:
    return {
        f.fill_id: (f.source.value, f.side.value, f.volume, f.price, f.commission)
        for f in stack.engine.venue_state().fills
    }


async def assert_books_equal_the_venue(stack: Stack) -> None:
    """Deal by deal, then positions and balance, once the books have caught up."""
    await until(lambda: booked_deals(stack), lambda got: got == venue_deals(stack), "the deals")
    venue = stack.engine.venue_state()
    held = {p.symbol: (p.volume, p.avg_price) for p in venue.positions}
    await until(lambda: stack.book.positions(stack.account), lambda got: got == held, "positions")
    assert await stack.book.balance(stack.account) == venue.balance


async def filled(stack: Stack, cid: str, **fields: object) -> None:
    handle = await stack.start(cid, **fields)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.state is OrderState.FILLED


async def test_the_kill_switchs_flattening_is_booked_and_the_positions_go_flat(
    stack: Stack,
) -> None:
    await filled(stack, "kb-1", volume=Decimal("0.30"))
    await filled(stack, "kb-2", volume=Decimal("0.20"))
    reply = await stack.ask(Kill(flatten=True))
    assert reply.ok
    assert len(reply.data["flattened"]) == 1  # one netted position, one closing order
    await until(lambda: stack.book.positions(stack.account), lambda got: got == {}, "flat")
    deals = await booked_deals(stack)
    flattening = [d for d in deals.values() if d[0] == FillSource.KILL_SWITCH.value]
    assert flattening == [
        ("kill_switch", "sell", Decimal("0.50"), Decimal("1.10000"), Decimal("1.75"))
    ]
    await assert_books_equal_the_venue(stack)
    assert stack.bridge.booked == 1
    refused = await stack.ask(
        SubmitOrder(client_order_id="kb-3", symbol="EURUSD", side=Side.BUY, volume=Decimal(1))
    )
    assert refused.data["reason"] == "kill_switch"
    assert (await stack.ask(Rearm())).data == {"engaged": False}


async def test_a_stop_loss_leg_nobody_ordered_is_booked_with_its_provenance(
    stack: Stack,
) -> None:
    await filled(stack, "sl-1", volume=Decimal("0.10"), stop_loss=Decimal("1.0990"))
    stack.prices.extend([(1.0985, 1.0987)] * 3)  # through the stop
    await until(lambda: stack.book.positions(stack.account), lambda got: got == {}, "stopped out")
    deals = await booked_deals(stack)
    stops = [d for d in deals.values() if d[0] == FillSource.STOP_LOSS.value]
    assert stops == [("stop_loss", "sell", Decimal("0.10"), Decimal("1.09850"), Decimal("0.350"))]
    await assert_books_equal_the_venue(stack)


async def test_a_strategys_own_order_on_the_direct_route_is_booked(
    platform: RunningPlatform,
) -> None:
    """An order the hot path sends for its strategy (no workflow) becomes a fill in the books."""
    strategy = MaCross("EURUSD", fast=2, slow=3, allow_short=True)
    paper = PaperConfig(commission_per_lot=COMMISSION)
    async with trading_stack(platform, [strategy], paper=paper, reconcile_s=0.5) as stack:
        now = stack.engine.quotes["EURUSD"].ts
        intent = OrderIntent(strategy.name, "EURUSD", Side.SELL, Decimal("0.20"), now, "entry")
        order = SubmitOrder(
            client_order_id="own-1",
            symbol="EURUSD",
            side=Side.SELL,
            volume=Decimal("0.20"),
            strategy=strategy.name,
        ).order()
        assert stack.engine.desk.submit(order, now, owner=strategy, intent=intent)
        deals = await until(lambda: booked_deals(stack), lambda got: len(got) == 1, "the deal")
        assert [d[0] for d in deals.values()] == ["strategy"]
        await assert_books_equal_the_venue(stack)
        assert await stack.book.positions(stack.account) == {
            "EURUSD": (Decimal("-0.20"), Decimal("1.10000"))
        }


async def test_a_partially_filled_limit_order_books_every_part(platform: RunningPlatform) -> None:
    paper = PaperConfig(commission_per_lot=COMMISSION, max_fill_lots=Decimal("0.10"))
    async with trading_stack(platform, paper=paper, reconcile_s=0.5) as stack:
        stack.prices.extend([(1.0940, 1.0942)] * 150)  # three seconds below the limit
        await filled(
            stack,
            "part-1",
            volume=Decimal("0.30"),
            order_type=OrderType.LIMIT,
            price=Decimal("1.0950"),
        )
        deals = await booked_deals(stack)
        assert sorted(d[2] for d in deals.values()) == [Decimal("0.10")] * 3
        await assert_books_equal_the_venue(stack)


async def test_a_deleted_fill_is_restored_by_the_next_reconciliation_and_counted(
    stack: Stack, platform: RunningPlatform
) -> None:
    await filled(stack, "drift-1", volume=Decimal("0.40"))
    await assert_books_equal_the_venue(stack)
    lost = next(iter(await booked_deals(stack)))
    async with stack.book._pool.acquire() as conn:  # drift: a deal goes missing from the books
        await conn.execute("DELETE FROM fills WHERE broker_fill_id = $1", lost)
    handle = stack.client.get_workflow_handle(books_workflow_id(stack.account))

    async def report() -> ReconciliationReport | None:
        got: ReconciliationReport | None = await handle.query(
            "reconciliation", result_type=ReconciliationReport
        )
        return got

    repaired = await until(report, lambda r: r is not None and lost in r.repaired_fills, "repair")
    assert repaired is not None
    assert repaired.status == "repaired"
    await assert_books_equal_the_venue(stack)
    async with stack.book._pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT r.repairs, f.repaired FROM reconciliations r
               JOIN accounts a ON a.id = r.account_id
               JOIN fills f ON f.account_id = a.id AND f.broker_fill_id = $2
               WHERE a.code = $1""",
            stack.account,
            lost,
        )
    assert (row["repairs"], row["repaired"]) == (1, True)
    bus = RedisStreamBus.from_url(platform.redis_url)
    try:
        events = [
            decode(f).message for _, f in await bus._redis.xrange(events_stream(stack.account))
        ]
    finally:
        await bus.close()
    told = [e for e in events if isinstance(e, BooksRepaired)]
    assert told == [BooksRepaired(account=stack.account, fills=[lost], symbols=["EURUSD"])]


async def test_a_position_that_drifted_with_every_deal_booked_is_rebuilt_in_venue_order(
    stack: Stack,
) -> None:
    """Fills applied in the order they arrived (which faults change) can leave an average
    price the venue never had; the deals themselves are all there."""
    await filled(stack, "order-1", volume=Decimal("0.40"))
    await filled(stack, "order-2", volume=Decimal("0.10"))
    await assert_books_equal_the_venue(stack)
    async with stack.book._pool.acquire() as conn:
        await conn.execute(
            """UPDATE positions SET avg_price = avg_price + 0.0003 FROM accounts a
               WHERE a.id = positions.account_id AND a.code = $1""",
            stack.account,
        )
    handle = stack.client.get_workflow_handle(books_workflow_id(stack.account))

    async def report() -> ReconciliationReport | None:
        got: ReconciliationReport | None = await handle.query(
            "reconciliation", result_type=ReconciliationReport
        )
        return got

    rebuilt = await until(report, lambda r: r is not None and r.rebuilt_positions, "a rebuild")
    assert rebuilt is not None
    assert (rebuilt.status, rebuilt.rebuilt_positions, rebuilt.differences) == (
        "repaired",
        ["EURUSD"],
        [],
    )
    await assert_books_equal_the_venue(stack)


async def test_a_stop_loss_whose_event_never_arrived_is_booked_by_reconciliation(
    stack: Stack,
) -> None:
    """As if the bridge were down while the stop fired and its event were lost."""

    class LosingStops:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def emit(self, event: Event) -> None:
            if not (isinstance(event, FillReported) and event.source is FillSource.STOP_LOSS):
                self.inner.emit(event)  # type: ignore[attr-defined]

        def __len__(self) -> int:
            return len(self.inner)  # type: ignore[arg-type]

        @property
        def backlogged(self) -> bool:
            return bool(self.inner.backlogged)  # type: ignore[attr-defined]

    await filled(stack, "lost-sl", volume=Decimal("0.10"), stop_loss=Decimal("1.0990"))
    stack.engine.outbox = LosingStops(stack.engine.outbox)  # type: ignore[assignment]
    stack.prices.extend([(1.0985, 1.0987)] * 3)
    await until(lambda: stack.book.positions(stack.account), lambda got: got == {}, "repaired")
    deals = await booked_deals(stack)
    assert [d[0] for d in deals.values()].count("stop_loss") == 1
    await assert_books_equal_the_venue(stack)


async def test_bad_data_is_refused_at_once_and_an_away_store_is_waited_for(
    platform: RunningPlatform,
) -> None:
    """A NUL in a symbol can never be written: the write fails for good on its first try. A
    store that is away fails the write as retryable, so the activity waits it out."""
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    book = PostgresOrderBook(pool)
    await book.ensure_account("books-bad")
    record = FillRecord(
        account="books-bad",
        symbol="EUR\x00USD",
        client_order_id="bad-1",
        side=Side.BUY,
        fill_id="D-bad",
        volume=Decimal(1),
        price=Decimal("1.1"),
    )
    activities = OrderActivities(hotpath=None, book=book)  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.record_fill, record)
    assert (refused.value.type, refused.value.non_retryable) == ("BadInput", True)
    assert "deal D-bad cannot be written to the books" in str(refused.value)
    await pool.close()
    with pytest.raises(BooksUnavailableError):  # not an ApplicationError: retried
        await ActivityEnvironment().run(
            activities.record_fill, record.model_copy(update={"symbol": "EURUSD"})
        )


async def test_the_books_history_replays_with_the_current_code(stack: Stack) -> None:
    """AITP_RECORD_HISTORIES=1 checks the history in, for the Replayer in CI."""
    import os

    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    from tests.conftest import REPO
    from workflows.books import AccountBooksWorkflow

    await filled(stack, "rec-books", volume=Decimal("0.10"))
    assert (await stack.ask(Kill(flatten=True))).ok
    await until(lambda: stack.book.positions(stack.account), lambda got: got == {}, "flat")
    handle = stack.client.get_workflow_handle(books_workflow_id(stack.account))

    async def checked() -> ReconciliationReport | None:
        got: ReconciliationReport | None = await handle.query(
            "reconciliation", result_type=ReconciliationReport
        )
        return got

    await until(checked, lambda r: r is not None and r.venue_fills == 2, "a check after the kill")
    history = await handle.fetch_history()
    replayer = Replayer(workflows=[AccountBooksWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
    if os.environ.get("AITP_RECORD_HISTORIES") == "1":
        (REPO / "tests" / "replay" / "books_fill_and_reconcile.json").write_text(history.to_json())


async def test_after_a_mix_of_orders_brackets_and_a_kill_the_books_equal_the_venue(
    stack: Stack,
) -> None:
    """Market, a limit amended then cancelled, a stop that triggers, a resting limit the kill
    cancels, a bracket whose stop-loss fires, then a kill with flatten: deal by deal, then
    positions and balance, the books equal the venue."""
    await filled(stack, "mix-1", volume=Decimal("0.30"))
    resting = await stack.start(
        "mix-2", volume=Decimal("0.20"), order_type=OrderType.LIMIT, price=Decimal("1.09900")
    )
    await until(
        lambda: resting.query("state", result_type=OrderView),
        lambda v: v.state is OrderState.ACCEPTED,
        "the limit rests",
    )
    amend = AmendRequest(price=Decimal("1.09950"))
    assert (await amend_order(stack.client, "mix-2", amend)).accepted
    assert (await cancel_order(stack.client, "mix-2")).accepted
    stop = await stack.start(
        "mix-3",
        side=Side.SELL,
        volume=Decimal("0.10"),
        order_type=OrderType.STOP,
        stop_price=Decimal("1.09950"),
    )
    resting_sell = await stack.start(
        "mix-4",
        side=Side.SELL,
        volume=Decimal("0.40"),
        order_type=OrderType.LIMIT,
        price=Decimal("1.10100"),
    )
    await filled(
        stack,
        "mix-5",
        volume=Decimal("0.10"),
        stop_loss=Decimal("1.09800"),
        take_profit=Decimal("1.10300"),
    )
    stack.prices.extend([(1.09940, 1.09960)] * 10 + [(1.09750, 1.09770)] * 10)
    assert (await asyncio.wait_for(stop.result(), 30)).state is OrderState.FILLED
    deals = await until(
        lambda: booked_deals(stack),
        lambda got: any(d[0] == "stop_loss" for d in got.values()),
        "the bracket's stop-loss",
    )
    assert len(deals) == 4  # two market buys, the stop, and the stop-loss: on a netting
    assert await stack.book.positions(stack.account) == {}  # account it closes all there is
    await filled(stack, "mix-6", volume=Decimal("0.20"))
    killed = await stack.ask(Kill(flatten=True))  # the flattening, and mix-4 cancelled
    assert killed.data["cancelled"] == ["mix-4"]
    assert (await asyncio.wait_for(resting_sell.result(), 30)).state is OrderState.CANCELLED
    await until(lambda: stack.book.positions(stack.account), lambda got: got == {}, "flat")
    await assert_books_equal_the_venue(stack)
    assert [d[0] for d in (await booked_deals(stack)).values()].count("kill_switch") == 1


async def test_an_account_busy_with_fills_is_still_compared_on_time(
    platform: RunningPlatform,
) -> None:
    """Fills arriving faster than the comparison's interval do not put it off."""
    async with trading_stack(platform, reconcile_s=1.0) as stack:
        handle = stack.client.get_workflow_handle(books_workflow_id(stack.account))
        for _ in range(200):  # the bridge starts the account's books
            with contextlib.suppress(RPCError):
                await handle.describe()
                break
            await asyncio.sleep(0.05)
        started = time.monotonic()
        checks: set[object] = set()
        n = 0
        while time.monotonic() - started < 4:  # a fill every 0.2 s, for 4 s
            n += 1
            record = FillRecord(
                account=stack.account,
                symbol="EURUSD",
                client_order_id=f"busy-{n}",
                side=Side.BUY if n % 2 else Side.SELL,
                fill_id=f"B{n}",
                volume=Decimal("0.01"),
                price=Decimal("1.10000"),
                ts=n,
                source=FillSource.BROKER,
            )
            await handle.signal("fill", record)
            report = await handle.query("reconciliation", result_type=ReconciliationReport)
            if report is not None:
                checks.add(report.checked_at)
            await asyncio.sleep(0.2)
        assert len(checks) >= 3  # about one a second, although fills never stopped
