"""The bus going away is waited out, not died of: the hot path's command consumer and the
bridge survive a Redis that stalls (SIGSTOP) or is killed and restarted with its data, and
answer and deliver what is sent once it is back, without a restart of their own.

Each test runs a Redis of its own (the platform's is shared by the whole suite).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.redis.command_log import RedisCommandLog
from adapters.redis.connection import SOCKET_TIMEOUT_S
from adapters.redis.event_bus import RedisStreamBus
from adapters.redis.hotpath_link import BusHotpathLink
from config.settings import TemporalSettings
from domain.clock import ManualClock
from domain.messages import (
    CancelOrder,
    FillReported,
    QueryPositions,
    SubmitOrder,
    commands_stream,
    decode,
    encode,
    events_stream,
)
from domain.orders import OrderState, OrderType, Side
from domain.ports import BusUnavailableError
from hotpath.commands import COMMANDS_DELIVERY, GROUP, CommandConsumer, CommandHandler
from temporal.books import books_workflow_id
from temporal.client import connect
from tests.conftest import RunningPlatform
from tests.hotpath_client import hotpath_env, start_hotpath
from tests.integration.test_hotpath_process import NOW, make_engine
from tests.private_redis import PrivateRedis, until_async
from tests.waits import until
from workers.bridge import Bridge


@pytest.fixture
async def bus(private_redis: PrivateRedis) -> AsyncIterator[RedisStreamBus]:
    opened = RedisStreamBus.from_url(private_redis.url)
    yield opened
    await opened.close()


async def test_a_bus_out_of_reach_says_so_in_its_own_terms(
    private_redis: PrivateRedis, bus: RedisStreamBus
) -> None:
    await bus.publish("s", {"k": "v"})
    private_redis.signal(signal.SIGSTOP)  # stalled: a call gives up after its deadline
    started = time.monotonic()
    with pytest.raises(BusUnavailableError):
        await bus.length("s")
    assert time.monotonic() - started < SOCKET_TIMEOUT_S + 2
    private_redis.signal(signal.SIGCONT)
    assert await bus.length("s") == 1
    private_redis.kill()  # gone: refused at once
    with pytest.raises(BusUnavailableError):
        await bus.publish("s", {"k": "v"})
    private_redis.start()  # back with its data
    assert await bus.length("s") == 1


async def test_the_command_consumer_answers_again_after_a_stall_and_a_restart(
    private_redis: PrivateRedis, bus: RedisStreamBus
) -> None:
    account = f"out-{uuid.uuid4().hex[:6]}"
    replies = RedisCommandLog.from_url(private_redis.url)
    handler = CommandHandler(make_engine(account))
    consumer = CommandConsumer(account, bus, replies, handler, "hp", ManualClock(NOW))
    link = BusHotpathLink(bus, replies)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))

    async def asked() -> bool:
        reply = await link.ask(account, f"q-{uuid.uuid4().hex}", QueryPositions(), 20)
        return reply is not None and reply.ok

    try:
        assert await asked()
        for outage in (1, 2):
            if outage == 1:
                private_redis.signal(signal.SIGSTOP)
            else:
                private_redis.kill()
            await until_async(lambda: consumer.outage.since is not None, "the consumer to notice")
            if outage == 1:
                private_redis.signal(signal.SIGCONT)
            else:
                private_redis.start()
            assert await asked(), f"no answer after outage {outage}"
            await until_async(lambda: consumer.outage.since is None, "the consumer to be back")
            assert consumer.outage.count == outage
            assert not task.done()
    finally:
        stop.set()
        await task
        await replies.close()


async def test_the_bridge_delivers_again_after_a_stall(
    private_redis: PrivateRedis, bus: RedisStreamBus, platform: RunningPlatform
) -> None:
    account = f"out-{uuid.uuid4().hex[:6]}"
    client = await connect(platform.temporal_address, TemporalSettings())
    bridge = Bridge(bus, client, [account], "bridge-out", task_queue=f"none-{account}")
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await until_async(lambda: bridge.last_read is not None, "the bridge to read")
        private_redis.signal(signal.SIGSTOP)
        await until_async(lambda: bridge.outage.since is not None, "the bridge to notice")
        private_redis.signal(signal.SIGCONT)
        deal = FillReported(
            fill_id="deal-1",
            client_order_id="nobody-1",
            symbol="EURUSD",
            side=Side.BUY,
            volume=Decimal("0.1"),
            price=Decimal("1.1"),
            ts=NOW,
        )
        await bus.publish(events_stream(account), encode(deal, "e-1", NOW))
        # no order workflow owns it: the account's books take it
        await until_async(lambda: bridge.booked == 1, "the deal to reach the account's books")
        assert bridge.outage.count == 1
        assert not task.done()
    finally:
        stop.set()
        await task
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(books_workflow_id(account)).terminate("test over")


async def test_events_a_hot_path_could_not_deliver_before_it_was_killed_arrive_after_its_restart(
    private_redis: PrivateRedis, bus: RedisStreamBus, tmp_path: Path
) -> None:
    account = f"sp-{uuid.uuid4().hex[:6]}"
    env = hotpath_env(redis__url=private_redis.url, data_dir=str(tmp_path))
    spool = tmp_path / "hotpath" / f"{account}.outbox"
    private_redis.kill()  # the bus is away for the whole first run
    first = await start_hotpath(env, "--account", account, "--symbols", "EURUSD")
    try:
        await until_async(
            lambda: spool.exists() and b"session_started" in spool.read_bytes(), "the spool"
        )
    finally:
        first.kill()  # kill -9: its outbox in memory is gone, the spool is not
        await first.wait()
    private_redis.start()
    second = await start_hotpath(env, "--account", account, "--symbols", "EURUSD")
    stream = events_stream(account)
    try:

        async def sessions() -> list[int]:
            entries = await bus._redis.xrange(stream)
            return [
                decode(fields).message.ts  # type: ignore[union-attr]
                for _, fields in entries
                if fields[b"type"] == b"session_started"
            ]

        started = await until(sessions, lambda ts: len(ts) == 2, "both runs' starts delivered")
        assert started[0] < started[1]  # the first run's, delivered first
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()


async def test_a_restarted_hot_path_answers_what_its_predecessor_left_before_anything_newer(
    private_redis: PrivateRedis, bus: RedisStreamBus
) -> None:
    account = f"tk-{uuid.uuid4().hex[:6]}"
    stream = commands_stream(account)
    await bus.ensure_group(stream, GROUP, COMMANDS_DELIVERY)
    resting = SubmitOrder(
        client_order_id="r-1",
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal("0.1"),
        order_type=OrderType.LIMIT,
        price=Decimal("1.0990"),  # under the market (1.1000): it rests
    )
    await bus.publish(stream, encode(resting, "c-submit"))
    [_] = await bus.consume(stream, GROUP, "hotpath-dead", block_ms=100)  # read, then killed
    await bus.publish(stream, encode(CancelOrder(client_order_id="r-1"), "c-cancel"))
    replies = RedisCommandLog.from_url(private_redis.url)
    engine = make_engine(account)
    consumer = CommandConsumer(
        account, bus, replies, CommandHandler(engine), "hp", ManualClock(NOW)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await until_async(lambda: consumer.handled >= 2, "both commands answered", within=10)
        # at once (not after the 2 s deadline), and the submit first: the cancel found it
        assert engine.orders["r-1"].state is OrderState.CANCELLED
    finally:
        stop.set()
        await task
        await replies.close()
