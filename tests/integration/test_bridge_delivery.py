"""The bridge against a Temporal that is away, and against time: what Temporal does not take
waits, in order, and arrives once it is back; a decision candidate whose next bar has closed
is not decided late but dropped, counted, and its strategy released."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.service import RPCError, RPCStatusCode

from adapters.redis.event_bus import RedisStreamBus
from config.settings import TemporalSettings
from domain.clock import ManualClock
from domain.messages import (
    DecisionCandidate,
    IntentRejected,
    OrderAccepted,
    OrderCancelled,
    commands_stream,
    decode,
    encode,
    events_stream,
)
from domain.orders import Side
from domain.ports import DeliveryPolicy
from temporal.client import connect
from temporal.decisions import DecisionRequest
from tests.conftest import RunningPlatform
from tests.tcp_proxy import TcpProxy
from tests.waits import until
from workers.bridge import GROUP, Bridge

NOW = 1_733_000_000 * 10**9
MINUTE = 60 * 10**9


@pytest.fixture
async def bus(platform: RunningPlatform) -> AsyncIterator[RedisStreamBus]:
    opened = RedisStreamBus.from_url(platform.redis_url)
    yield opened
    await opened.close()


def candidate(account: str, bar_ts: int) -> DecisionCandidate:
    return DecisionCandidate(
        account=account,
        symbol="EURUSD",
        strategy="ma_cross",
        bar_ts=bar_ts,
        side=Side.BUY,
        volume=Decimal("0.1"),
        expires_ns=bar_ts + 2 * MINUTE,  # an M1 bar: it closes a minute on, the next one after
    )


async def test_a_candidate_whose_next_bar_has_closed_is_dropped_and_its_strategy_released(
    platform: RunningPlatform, bus: RedisStreamBus
) -> None:
    account = f"exp-{uuid.uuid4().hex[:6]}"
    client = await connect(platform.temporal_address, TemporalSettings())
    clock = ManualClock(NOW)
    bridge = Bridge(bus, client, [account], "b", task_queue=f"none-{account}", clock=clock)
    stream = events_stream(account)
    await bus.ensure_group(stream, GROUP)
    await bus.ensure_group(commands_stream(account), "hotpath")
    stale, fresh = candidate(account, NOW - 3 * MINUTE), candidate(account, NOW - MINUTE)
    for message in (stale, fresh):
        await bus.publish(stream, encode(message))
    for message in await bus.consume(stream, GROUP, "b", block_ms=100):
        assert await bridge.deliver(account, stream, message)
    assert (bridge.expired, bridge.decisions) == (1, 1)
    with pytest.raises(RPCError) as missing:  # the stale one was never started...
        await client.get_workflow_handle(DecisionRequest.of(stale).workflow_id).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    fresh_id = DecisionRequest.of(fresh).workflow_id
    await client.get_workflow_handle(fresh_id).describe()  # ...the fresh one was
    await client.get_workflow_handle(fresh_id).terminate("test over")
    [told] = await bus.consume(commands_stream(account), "hotpath", "hp", block_ms=100)
    envelope = decode(told.fields)
    assert envelope.message == IntentRejected(strategy="ma_cross")  # the strategy waits no more
    assert envelope.id == f"expired-{DecisionRequest.of(stale).workflow_id}"
    assert await bus.pending(stream, GROUP) == 0


async def test_what_temporal_does_not_take_waits_in_order_and_arrives_when_it_is_back(
    platform: RunningPlatform, bus: RedisStreamBus
) -> None:
    account = f"ref-{uuid.uuid4().hex[:6]}"
    host, port = platform.temporal_address.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    client = await connect(f"127.0.0.1:{proxy.port}", TemporalSettings())
    quick = DeliveryPolicy(ack_wait_ms=300, max_deliveries=None)
    bridge = Bridge(bus, client, [account], "b", task_queue=f"none-{account}", delivery=quick)
    stream = events_stream(account)
    await bus.ensure_group(stream, GROUP, quick)
    await proxy.cut()
    # no workflow owns either order: once delivered, each is counted as unowned
    await bus.publish(stream, encode(OrderAccepted(client_order_id="o-1")))
    await bus.publish(stream, encode(OrderCancelled(client_order_id="o-1")))
    for message in await bus.consume(stream, GROUP, "b", block_ms=100):
        if not await bridge.deliver(account, stream, message):
            break  # as the bridge's loop does: what follows waits behind it
    assert (bridge.temporal_refusing, bridge.unowned) == (True, 0)
    assert await bus.pending(stream, GROUP) == 2  # nothing was acknowledged, nothing lost
    await proxy.start()

    async def delivered() -> int:
        for message in await bus.consume(stream, GROUP, "b", block_ms=100):
            if not await bridge.deliver(account, stream, message):
                break
        return bridge.unowned

    assert await until(delivered, lambda n: n == 2, "both events delivered") == 2
    assert bridge.temporal_refusing is False
    assert await bus.pending(stream, GROUP) == 0
    await proxy.cut()
