"""The bus going away is waited out, not died of: the hot path's command consumer and the
bridge survive a Redis that stalls (SIGSTOP) or is killed and restarted with its data, and
answer and deliver what is sent once it is back, without a restart of their own.

Each test runs a Redis of its own (the platform's is shared by the whole suite).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from adapters.redis.command_log import RedisCommandLog
from adapters.redis.connection import SOCKET_TIMEOUT_S
from adapters.redis.event_bus import RedisStreamBus
from adapters.redis.hotpath_link import BusHotpathLink
from config.settings import TemporalSettings
from domain.clock import ManualClock
from domain.messages import FillReported, QueryPositions, encode, events_stream
from domain.orders import Side
from domain.ports import BusUnavailableError
from embedded.components import _redis_server
from hotpath.commands import CommandConsumer, CommandHandler
from temporal.books import books_workflow_id
from temporal.client import connect
from tests.conftest import RunningPlatform
from tests.integration.test_hotpath_process import NOW, make_engine
from workers.bridge import Bridge

PATIENCE_S = 30.0


class PrivateRedis:
    """A redis-server of the test's own, on a unix socket, its data kept (AOF, every write)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.socket = workdir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            _redis_server(), "--port", "0", "--unixsocket", str(self.socket),
            "--unixsocketperm", "700", "--dir", str(self.workdir), "--appendonly", "yes",
            "--appendfsync", "always", "--save", "",
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(self._answers, "the private Redis to answer")

    def _answers(self) -> bool:
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        return False

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.kill()


def until(done: Callable[[], bool], what: str, within: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"waited {within}s for {what}"
        time.sleep(0.05)


async def until_async(done: Callable[[], bool], what: str, within: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"waited {within}s for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    # a short path: a unix socket's path is limited to about 100 bytes
    workdir = Path("/tmp") / f"aitp-redis-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(mode=0o700)
    redis_server = PrivateRedis(workdir)
    redis_server.start()
    try:
        yield redis_server
    finally:
        redis_server.close()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


@pytest.fixture
async def bus(server: PrivateRedis) -> AsyncIterator[RedisStreamBus]:
    opened = RedisStreamBus.from_url(server.url)
    yield opened
    await opened.close()


async def test_a_bus_out_of_reach_says_so_in_its_own_terms(
    server: PrivateRedis, bus: RedisStreamBus
) -> None:
    await bus.publish("s", {"k": "v"})
    server.signal(signal.SIGSTOP)  # stalled: a call gives up after its deadline
    started = time.monotonic()
    with pytest.raises(BusUnavailableError):
        await bus.length("s")
    assert time.monotonic() - started < SOCKET_TIMEOUT_S + 2
    server.signal(signal.SIGCONT)
    assert await bus.length("s") == 1
    server.kill()  # gone: refused at once
    with pytest.raises(BusUnavailableError):
        await bus.publish("s", {"k": "v"})
    server.start()  # back with its data
    assert await bus.length("s") == 1


async def test_the_command_consumer_answers_again_after_a_stall_and_a_restart(
    server: PrivateRedis, bus: RedisStreamBus
) -> None:
    account = f"out-{uuid.uuid4().hex[:6]}"
    replies = RedisCommandLog.from_url(server.url)
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
                server.signal(signal.SIGSTOP)
            else:
                server.kill()
            await until_async(lambda: consumer.down_since is not None, "the consumer to notice")
            if outage == 1:
                server.signal(signal.SIGCONT)
            else:
                server.start()
            assert await asked(), f"no answer after outage {outage}"
            assert consumer.outages == outage
            assert not task.done()
    finally:
        stop.set()
        await task
        await replies.close()


async def test_the_bridge_delivers_again_after_a_stall(
    server: PrivateRedis, bus: RedisStreamBus, platform: RunningPlatform
) -> None:
    account = f"out-{uuid.uuid4().hex[:6]}"
    client = await connect(platform.temporal_address, TemporalSettings())
    bridge = Bridge(bus, client, [account], "bridge-out", task_queue=f"none-{account}")
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        await until_async(lambda: bridge.last_read is not None, "the bridge to read")
        server.signal(signal.SIGSTOP)
        await until_async(lambda: bridge.down_since is not None, "the bridge to notice")
        server.signal(signal.SIGCONT)
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
        assert bridge.outages == 1
        assert not task.done()
    finally:
        stop.set()
        await task
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(books_workflow_id(account)).terminate("test over")
