"""AIDecisionWorkflow on the real stack: each step recorded, approvals become orders,
rejections free the strategy, a candidate delivered twice is decided once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping
from decimal import Decimal

import orjson
import pytest
from temporalio.service import RPCError

from activities.decisions import PortfolioLimits
from adapters.redis.event_bus import RedisStreamBus
from domain import lineage
from domain.messages import DecisionCandidate, encode, events_stream
from domain.orders import OrderState, OrderType, Side
from domain.ports import Opinion
from domain.strategies import MaCross
from temporal.decisions import DECISION_WORKFLOW, DecisionExplanation, DecisionRequest
from temporal.order_client import OrderNotFoundError, order_state
from tests.conftest import RunningPlatform
from tests.trading_stack import T0, Stack, trading_stack


def candidate(stack: Stack, bar: int = 0, volume: str = "0.10") -> DecisionRequest:
    return DecisionRequest(
        account=stack.account,
        symbol="EURUSD",
        strategy="ma_cross 2/3",
        bar_ts=T0 + bar,
        side=Side.BUY,
        volume=Decimal(volume),
        reason="entry_long",
        features={"sma_fast": 1.1001, "sma_slow": 1.1000, "rsi14": None},
    )


async def decide(stack: Stack, request: DecisionRequest) -> DecisionExplanation:
    handle = await stack.client.start_workflow(
        DECISION_WORKFLOW,
        request,
        id=request.workflow_id,
        task_queue=stack.task_queue,
        result_type=DecisionExplanation,
    )
    return await asyncio.wait_for(handle.result(), 30)


async def filled(stack: Stack, client_order_id: str) -> OrderState | None:
    """The order's final state, waiting for the decision to start it and for it to finish."""
    state = None
    for _ in range(200):
        try:
            state = (await order_state(stack.client, client_order_id)).state
        except OrderNotFoundError:
            state = None  # the decision has not started it yet
        if state is not None and state.terminal:
            return state
        await asyncio.sleep(0.05)
    return state


async def booked(stack: Stack, symbol: str = "EURUSD") -> Decimal | None:
    """The position in the books, once the order workflow has recorded the fill."""
    for _ in range(200):
        held = (await stack.book.positions(stack.account)).get(symbol)
        if held is not None:
            return held[0]
        await asyncio.sleep(0.05)
    return None


async def test_with_no_ports_configured_the_signal_passes_and_becomes_an_order(
    stack: Stack,
) -> None:
    request = candidate(stack)
    explained = await decide(stack, request)
    assert [(s.step, s.outcome) for s in explained.steps] == [
        ("model", "no model"),
        ("pattern", "not configured"),
        ("llm", "skipped"),
        ("portfolio", "approved"),
    ]
    assert explained.outcome == "approved"
    assert explained.client_order_id == request.client_order_id
    assert await filled(stack, request.client_order_id) is OrderState.FILLED
    assert await booked(stack) == Decimal("0.10")
    query = await stack.client.get_workflow_handle(request.workflow_id).query(
        "decision", result_type=DecisionExplanation
    )
    assert query == explained
    assert stack.graph is not None
    traced = await lineage.trace(stack.graph, request.workflow_id)
    assert traced.order is not None
    assert traced.order.props["client_order_id"] == request.client_order_id
    assert traced.model is None  # no model scored it


async def test_portfolio_limits_reject_and_the_hot_path_hears_of_it(
    platform: RunningPlatform,
) -> None:
    async with trading_stack(
        platform, limits=PortfolioLimits(max_volume_per_symbol=Decimal("0.05"))
    ) as stack:
        request = candidate(stack)
        explained = await decide(stack, request)
        assert explained.outcome == "rejected"
        assert explained.reason == "portfolio: EURUSD would be 0.10 lots, above 0.05"
        assert explained.client_order_id is None
        told = await stack.replies.recall(stack.account, f"rejected-{request.workflow_id}")
        assert told is not None
        assert orjson.loads(told)["ok"] is True


class Doubtful:
    """A model that disagrees: enough to see a model's veto recorded (the zoo comes later)."""

    async def score(self, symbol: str, side: str, features: Mapping[str, float | None]) -> Opinion:
        return Opinion(False, 0.31, ("probability 0.31 below 0.55",), "ensemble v3")


async def test_a_model_veto_stops_the_decision_before_the_portfolio_step(
    platform: RunningPlatform,
) -> None:
    async with trading_stack(platform, scorer=Doubtful()) as stack:
        explained = await decide(stack, candidate(stack))
        assert [(s.step, s.outcome) for s in explained.steps] == [("model", "rejected")]
        assert (explained.steps[0].score, explained.steps[0].source) == (0.31, "ensemble v3")
        assert explained.reason == "model: probability 0.31 below 0.55"


async def test_the_whole_loop_from_bar_close_to_booked_fill(platform: RunningPlatform) -> None:
    strategy = MaCross("EURUSD", fast=2, slow=3, volume=Decimal("0.20"))
    # one tick a minute of market time: a bar closes on every tick
    async with trading_stack(platform, [strategy], route="decision", tick_ns=60 * 10**9) as stack:
        closes = [1.1000, 1.0990, 1.0980, 1.0970, 1.1000, 1.1050, 1.1080]  # down, then a cross up
        stack.prices.extend((c, c + 0.0002) for c in closes)
        for _ in range(300):
            if strategy.net == Decimal("0.20"):
                break
            await asyncio.sleep(0.05)
        assert strategy.net == Decimal("0.20")
        assert stack.bridge.decisions >= 1
        assert await booked(stack) == Decimal("0.20")


async def test_a_candidate_delivered_twice_is_decided_once(stack: Stack) -> None:
    request = candidate(stack, bar=60)
    sent = DecisionCandidate(
        account=request.account,
        symbol=request.symbol,
        strategy=request.strategy,
        bar_ts=request.bar_ts,
        side=Side.BUY,
        volume=Decimal("0.10"),
        reason="entry_long",
    )
    assert await stack.bridge._decide(sent)
    assert await stack.bridge._decide(sent)
    assert (stack.bridge.decisions, stack.bridge.duplicates) == (1, 1)
    assert await filled(stack, request.client_order_id) is OrderState.FILLED
    assert stack.engine.stats.orders == 1


async def test_a_decision_history_replays_with_the_current_code(stack: Stack) -> None:
    """AITP_RECORD_HISTORIES=1 checks the history in, for the Replayer in CI."""
    import os

    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    from tests.conftest import REPO
    from workflows.decision import AIDecisionWorkflow

    request = candidate(stack, bar=120)
    await decide(stack, request)
    history = await stack.client.get_workflow_handle(request.workflow_id).fetch_history()
    replayer = Replayer(workflows=[AIDecisionWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
    if os.environ.get("AITP_RECORD_HISTORIES") == "1":
        # decision_approved.json stays: a decision that started its order as a child
        name = "decision_approved_by_id.json"
        (REPO / "tests" / "replay" / name).write_text(history.to_json())


async def test_the_protection_a_strategy_asked_for_travels_to_the_order(stack: Stack) -> None:
    """The candidate's order type, price, stop-loss and take-profit reach the venue."""
    sent = DecisionCandidate(
        account=stack.account,
        symbol="EURUSD",
        strategy="ma_cross 2/3",
        bar_ts=T0 + 70,
        side=Side.BUY,
        volume=Decimal("0.10"),
        reason="entry_long",
        order_type=OrderType.LIMIT,
        price=Decimal("1.09900"),
        stop_loss=Decimal("1.09500"),
        take_profit=Decimal("1.10500"),
    )
    assert await stack.bridge._decide(sent)
    cid = DecisionRequest.of(sent).client_order_id
    for _ in range(200):
        order = stack.engine.orders.get(cid)
        if order is not None:
            break
        await asyncio.sleep(0.05)
    assert order is not None
    assert (order.order_type, order.price, order.stop_loss, order.take_profit) == (
        OrderType.LIMIT,
        Decimal("1.09900"),
        Decimal("1.09500"),
        Decimal("1.10500"),
    )


async def test_a_candidate_the_hot_path_traded_itself_starts_no_decision(
    stack: Stack, platform: RunningPlatform
) -> None:
    """On the direct route the hot path sends the order; the candidate is for screens only."""
    traded = DecisionCandidate(
        account=stack.account,
        symbol="EURUSD",
        strategy="ma_cross 2/3",
        bar_ts=T0 + 80,
        side=Side.BUY,
        volume=Decimal("0.10"),
        decide=False,
    )
    asked = dataclasses.replace(traded, bar_ts=T0 + 81, decide=True)
    bus = RedisStreamBus.from_url(platform.redis_url)
    try:
        for candidate_ in (traded, asked):  # in this order on the account's stream
            await bus.publish(events_stream(stack.account), encode(candidate_))
    finally:
        await bus.close()
    handle = stack.client.get_workflow_handle(DecisionRequest.of(asked).workflow_id)
    for _ in range(200):
        with contextlib.suppress(RPCError):
            await handle.describe()
            break
        await asyncio.sleep(0.05)
    await handle.describe()  # the second was decided, so the bridge has read the first
    with pytest.raises(RPCError):
        await stack.client.get_workflow_handle(DecisionRequest.of(traded).workflow_id).describe()
