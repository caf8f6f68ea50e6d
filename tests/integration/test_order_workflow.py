"""OrderLifecycleWorkflow on the real stack: Temporal dev server, Redis, PostgreSQL, an
in-process hot path with the paper broker, and the bridge between them."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from domain.messages import Event, FillReported, OrderRejected
from domain.orders import Order, OrderState, OrderType
from engine.core import Engine
from engine.outbox import Outbox
from temporal.order_client import OrderNotFoundError, cancel_order
from temporal.orders import (
    AmendRequest,
    OrderView,
    UpdateResult,
)
from tests.trading_stack import Stack
from workflows.order import MAX_SUBMISSIONS


async def test_a_market_order_fills_and_the_books_follow(stack: Stack) -> None:
    handle = await stack.start("mkt-1")
    view = await asyncio.wait_for(handle.result(), 30)
    assert (view.state, view.filled, view.fills) == (OrderState.FILLED, Decimal("0.10"), 1)
    assert view.avg_fill_price == Decimal("1.10020")
    row = await stack.book.order_row(stack.account, "mkt-1")
    assert row is not None
    assert (row["state"], row["filled_volume"]) == ("filled", Decimal("0.10"))
    assert await stack.book.positions(stack.account) == {
        "EURUSD": (Decimal("0.10"), Decimal("1.10020"))
    }
    refused = await cancel_order(stack.client, "mkt-1")
    assert refused == UpdateResult(accepted=False, reason="the order is already filled")
    with pytest.raises(OrderNotFoundError, match="no order nope-1"):
        await cancel_order(stack.client, "nope-1")


async def test_a_resting_limit_is_amended_then_cancelled_by_update(stack: Stack) -> None:
    handle = await stack.start("lim-1", order_type=OrderType.LIMIT, price=Decimal("1.0990"))
    for _ in range(100):
        view = await handle.query("state", result_type=OrderView)
        if view.state is OrderState.ACCEPTED:
            break
        await asyncio.sleep(0.05)
    amended = await handle.execute_update(
        "amend", AmendRequest(price=Decimal("1.0985")), result_type=UpdateResult
    )
    assert amended.accepted
    assert stack.engine.orders["lim-1"].price == Decimal("1.09850")
    cancelled = await cancel_order(stack.client, "lim-1")
    assert cancelled.accepted
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.state is OrderState.CANCELLED
    row = await stack.book.order_row(stack.account, "lim-1")
    assert row is not None
    assert row["state"] == "cancelled"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [({"symbol": "GBPJPY"}, "unknown_symbol"), ({"volume": Decimal("0.015")}, "invalid_volume")],
)
async def test_bad_orders_are_refused_before_submission_with_the_rule(
    stack: Stack, fields: dict[str, object], reason: str
) -> None:
    handle = await stack.start(f"bad-{uuid.uuid4().hex[:6]}", **fields)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.state is OrderState.REJECTED
    assert view.reason == reason
    assert stack.engine.book.net_volume("EURUSD") == 0


async def test_the_same_order_id_never_starts_a_second_workflow(stack: Stack) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    handle = await stack.start("dup-1")
    await asyncio.wait_for(handle.result(), 30)
    with pytest.raises(WorkflowAlreadyStartedError):
        await stack.start("dup-1")
    assert stack.engine.stats.orders == 1


async def test_recorded_histories_replay_with_the_current_code(stack: Stack) -> None:
    """Fresh histories of two lifecycles replay; AITP_RECORD_HISTORIES=1 checks them in."""
    import os

    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    from tests.conftest import REPO
    from workflows.order import OrderLifecycleWorkflow

    filled = await stack.start("rec-mkt")
    await asyncio.wait_for(filled.result(), 30)
    resting = await stack.start("rec-lim", order_type=OrderType.LIMIT, price=Decimal("1.0990"))
    for _ in range(100):
        if (await resting.query("state", result_type=OrderView)).state is OrderState.ACCEPTED:
            break
        await asyncio.sleep(0.05)
    await cancel_order(stack.client, "rec-lim")
    await asyncio.wait_for(resting.result(), 30)
    replayer = Replayer(workflows=[OrderLifecycleWorkflow], data_converter=pydantic_data_converter)
    for name, handle in (("order_market_fill", filled), ("order_limit_cancel", resting)):
        history = await handle.fetch_history()
        await replayer.replay_workflow(history)
        if os.environ.get("AITP_RECORD_HISTORIES") == "1":
            (REPO / "tests" / "replay" / f"{name}.json").write_text(history.to_json())


async def test_a_fill_whose_event_was_lost_is_found_by_reconciliation(stack: Stack) -> None:
    class LosingFills:
        """As if the hot path died each time before publishing a fill."""

        def __init__(self, inner: Outbox) -> None:
            self.inner = inner

        def emit(self, event: Event) -> None:
            if not isinstance(event, FillReported):
                self.inner.emit(event)

        @property
        def backlogged(self) -> bool:
            return self.inner.backlogged

    stack.engine.outbox = LosingFills(stack.engine.outbox)  # type: ignore[assignment]
    handle = await stack.start("lost-1", reconcile_s=0.5)
    view = await asyncio.wait_for(handle.result(), 30)
    assert (view.state, view.filled, view.fills) == (OrderState.FILLED, Decimal("0.10"), 1)
    row = await stack.book.order_row(stack.account, "lost-1")
    assert row is not None
    assert row["filled_volume"] == Decimal("0.10")


async def test_an_order_the_hot_path_keeps_losing_is_resent_then_rejected(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each submission is answered, then forgotten, as by a hot path killed before its venue
    sent the order: the workflow sends it again while the hot path says it does not know it,
    up to a budget, and then rejects it instead of waiting forever."""
    seen: list[str] = []

    def forgetful(self: Engine, order: Order, now: int, **_: object) -> bool:
        seen.append(order.client_order_id)
        return True  # taken, and never heard of again

    monkeypatch.setattr(Engine, "submit", forgetful)
    handle = await stack.start("lossy-1", ack_timeout_s=0.3)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.state is OrderState.REJECTED
    assert view.reason == f"never reached the venue in {MAX_SUBMISSIONS} submissions"
    assert seen == ["lossy-1"] * MAX_SUBMISSIONS
    row = await stack.book.order_row(stack.account, "lossy-1")
    assert row is not None
    assert row["state"] == "rejected"


async def test_a_rejection_the_hot_path_only_answers_when_asked_reaches_the_books(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgement never comes (its event lost with a killed hot path) and the venue
    rejected the order meanwhile: the workflow learns it by asking, and records it."""

    def silently_rejected(self: Engine, order: Order, now: int, **_: object) -> bool:
        order.submit()
        self.orders[order.client_order_id] = order
        asyncio.get_running_loop().call_later(0.05, order.reject, "lost twice at the venue")
        return True

    monkeypatch.setattr(Engine, "submit", silently_rejected)
    handle = await stack.start("asked-1", ack_timeout_s=0.3)
    view = await asyncio.wait_for(handle.result(), 30)
    assert (view.state, view.reason) == (OrderState.REJECTED, "lost twice at the venue")
    row = await stack.book.order_row(stack.account, "asked-1")
    assert row is not None
    assert row["state"] == "rejected"


async def test_a_dead_hot_paths_rejection_arriving_after_the_resend_does_not_undo_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first hot path took the order and died; its last word, a rejection, arrives only
    after the workflow sent the order again to its successor, which fills it: the workflow
    asks before it believes the rejection, and the order ends filled, in the books too."""
    sendings: list[str] = []

    def dying_then_alive(self: Engine, order: Order, now: int, **_: Any) -> bool:
        sendings.append(order.client_order_id)
        if len(sendings) == 1:
            return True  # taken, and gone with the process
        late = OrderRejected(client_order_id=order.client_order_id, reason="lost at the venue")
        self.outbox.emit(late)
        order.submit()  # the successor has it, and its venue answers a moment later
        self.orders[order.client_order_id] = order
        answer = self.broker.submit
        asyncio.get_running_loop().call_later(0.3, lambda: self.events.handle(answer(order, now)))
        return True

    monkeypatch.setattr(Engine, "submit", dying_then_alive)
    handle = await stack.start("late-1", ack_timeout_s=0.3)
    view = await asyncio.wait_for(handle.result(), 30)
    assert (view.state, view.filled) == (OrderState.FILLED, Decimal("0.10"))
    assert sendings == ["late-1", "late-1"]
    row = await stack.book.order_row(stack.account, "late-1")
    assert row is not None
    assert row["state"] == "filled"
