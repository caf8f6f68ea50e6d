"""The bridge against a Temporal that is away, and against time: what Temporal does not take
waits, in order, and arrives once it is back; a decision candidate whose next bar has closed
is not decided late but dropped, counted, and its strategy released."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.redis.event_bus import RedisStreamBus
from config.settings import TemporalSettings
from domain.clock import ManualClock
from domain.messages import (
    DecisionCandidate,
    FillReported,
    IntentRejected,
    OrderAccepted,
    OrderCancelled,
    commands_stream,
    dead_letter_stream,
    decode,
    encode,
    events_stream,
)
from domain.orders import Side
from temporal.client import connect
from temporal.decisions import DecisionRequest
from temporal.orders import OrderEvent
from tests.conftest import RunningPlatform
from tests.tcp_proxy import TcpProxy
from tests.waits import until
from workers.bridge import GROUP, RETRY, Bridge, Delivery

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


async def deciding(
    platform: RunningPlatform, bus: RedisStreamBus, account: str
) -> tuple[Bridge, Client, ManualClock]:
    """A bridge for the account on a clock of the test's, with the account's streams read
    by groups of the test's (its events by the bridge's, its commands as the hot path's)."""
    client = await connect(platform.temporal_address, TemporalSettings())
    clock = ManualClock(NOW)
    bridge = Bridge(bus, client, [account], "b", task_queue=f"none-{account}", clock=clock)
    await bus.ensure_group(events_stream(account), GROUP)
    await bus.ensure_group(commands_stream(account), "hotpath")
    return bridge, client, clock


async def test_a_candidate_whose_next_bar_has_closed_is_dropped_and_its_strategy_released(
    platform: RunningPlatform, bus: RedisStreamBus
) -> None:
    account = f"exp-{uuid.uuid4().hex[:6]}"
    bridge, client, _ = await deciding(platform, bus, account)
    stream = events_stream(account)
    stale, fresh = candidate(account, NOW - 3 * MINUTE), candidate(account, NOW - MINUTE)
    for made in (stale, fresh):
        await bus.publish(stream, encode(made))
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
    # the strategy waits no more for that bar's intent (and for no other)
    assert envelope.message == IntentRejected(strategy="ma_cross", bar_ts=stale.bar_ts)
    assert envelope.id == f"expired-{DecisionRequest.of(stale).workflow_id}"
    assert await bus.pending(stream, GROUP) == 0


async def test_a_late_redelivery_of_a_candidate_already_decided_releases_nothing(
    platform: RunningPlatform, bus: RedisStreamBus
) -> None:
    account = f"dup-{uuid.uuid4().hex[:6]}"
    bridge, client, clock = await deciding(platform, bus, account)
    stream = events_stream(account)
    made = candidate(account, NOW - MINUTE)
    await bus.publish(stream, encode(made))
    [first] = await bus.consume(stream, GROUP, "b", block_ms=100)
    assert await bridge.deliver(account, stream, first)  # started in time...
    clock.advance(5 * MINUTE)  # ...and delivered again (its acknowledgement lost) after
    assert await bridge.deliver(account, stream, first)
    assert (bridge.decisions, bridge.duplicates, bridge.expired) == (1, 1, 0)
    assert await bus.consume(commands_stream(account), "hotpath", "hp", block_ms=100) == []
    await client.get_workflow_handle(DecisionRequest.of(made).workflow_id).terminate("test over")


class Recording(Bridge):
    """The bridge, noting each order event Temporal took (or found no owner for), in order."""

    taken: list[str]

    async def _signal(self, client_order_id: str, event: OrderEvent) -> Delivery:
        sent = await super()._signal(client_order_id, event)
        if sent != RETRY:
            self.taken.append(event.kind)
        return sent


async def test_what_temporal_does_not_take_holds_back_what_follows_until_it_is_back(
    platform: RunningPlatform, bus: RedisStreamBus
) -> None:
    account = f"ref-{uuid.uuid4().hex[:6]}"
    host, port = platform.temporal_address.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    client = await connect(f"127.0.0.1:{proxy.port}", TemporalSettings())
    bridge = Recording(bus, client, [account], "b", task_queue=f"none-{account}")
    bridge.taken = []
    stream = events_stream(account)
    await proxy.cut()
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await bus.publish(stream, encode(OrderAccepted(client_order_id="o-1")))
        await until(lambda: asyncio.sleep(0, bridge.held_back), lambda n: n >= 2, "a retry")
        assert bridge.temporal_refusing
        assert bridge.taken == []
        await proxy.start()
        # a newer event of the account, published as Temporal comes back: it must not
        # overtake the older one still held
        await bus.publish(stream, encode(OrderCancelled(client_order_id="o-1")))
        taken = await until(lambda: asyncio.sleep(0, bridge.taken), lambda t: len(t) == 2, "both")
        assert taken == ["accepted", "cancelled"]  # in the order the hot path emitted them
        assert not bridge.temporal_refusing
        assert await bus.pending(stream, GROUP) == 0
    finally:
        stop.set()
        await task
        await proxy.cut()


async def test_an_event_temporal_refuses_for_what_it_holds_is_dead_lettered_not_retried(
    platform: RunningPlatform, bus: RedisStreamBus
) -> None:
    account = f"bad-{uuid.uuid4().hex[:6]}"
    client = await connect(platform.temporal_address, TemporalSettings())
    bridge = Bridge(bus, client, [account], "b", task_queue=f"none-{account}")
    stream = events_stream(account)
    await bus.ensure_group(stream, GROUP)
    await bus.ensure_group(dead_letter_stream(stream), "ops")
    oversized = FillReported(  # past Temporal's payload limit: no retry will change that
        fill_id="d-1",
        client_order_id="x" * 3_000_000,
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal("0.1"),
        price=Decimal("1.1"),
        ts=NOW,
    )
    await bus.publish(stream, encode(oversized))
    [message] = await bus.consume(stream, GROUP, "b", block_ms=100)
    assert await bridge.deliver(account, stream, message)
    [dead] = await bus.consume(dead_letter_stream(stream), "ops", "ops", block_ms=100)
    assert dead.fields["dead.reason"].startswith(b"Temporal refuses it: INVALID_ARGUMENT")
    assert (bridge.unreadable, bridge.held_back, bridge.temporal_refusing) == (1, 0, False)
