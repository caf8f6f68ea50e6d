"""One contract for the event bus, on the embedded Redis and on AITP_REDIS__URL when set."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.redis.event_bus import RedisStreamBus
from tests.conftest import RunningPlatform, backends


@pytest.fixture(params=backends("embedded", server="AITP_REDIS__URL"))
async def bus(
    request: pytest.FixtureRequest, platform: RunningPlatform
) -> AsyncIterator[RedisStreamBus]:
    url = platform.redis_url if request.param == "embedded" else os.environ["AITP_REDIS__URL"]
    bus = RedisStreamBus.from_url(url, maxlen=50, exact_trim=True)
    yield bus
    await bus.close()


@pytest.fixture
def stream() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_events_arrive_in_order_and_ack_clears_them(bus: RedisStreamBus, stream: str) -> None:
    await bus.ensure_group(stream, "bridge")
    ids = [await bus.publish(stream, {"n": str(i), "raw": b"\x00\xff"}) for i in range(5)]
    got = await bus.consume(stream, "bridge", "c1", count=10, block_ms=100)
    assert [m.id for m in got] == ids
    assert [m.fields["n"] for m in got] == [b"0", b"1", b"2", b"3", b"4"]
    assert got[0].fields["raw"] == b"\x00\xff"
    assert await bus.pending(stream, "bridge") == 5
    assert await bus.ack(stream, "bridge", [m.id for m in got]) == 5
    assert await bus.pending(stream, "bridge") == 0
    assert await bus.consume(stream, "bridge", "c1", block_ms=50) == []


async def test_events_published_before_the_group_existed_are_delivered(
    bus: RedisStreamBus, stream: str
) -> None:
    await bus.publish(stream, {"early": "1"})
    await bus.ensure_group(stream, "bridge")
    await bus.ensure_group(stream, "bridge")  # a second call is harmless
    got = await bus.consume(stream, "bridge", "c1", block_ms=100)
    assert [m.fields["early"] for m in got] == [b"1"]


async def test_consumers_of_one_group_share_the_work(bus: RedisStreamBus, stream: str) -> None:
    await bus.ensure_group(stream, "g")
    for i in range(10):
        await bus.publish(stream, {"n": str(i)})
    first = await bus.consume(stream, "g", "a", count=4, block_ms=100)
    second = await bus.consume(stream, "g", "b", count=10, block_ms=100)
    assert len(first) == 4
    assert len(second) == 6
    assert {m.id for m in first}.isdisjoint({m.id for m in second})


async def test_a_dead_consumers_pending_entries_are_reclaimed(
    bus: RedisStreamBus, stream: str
) -> None:
    await bus.ensure_group(stream, "g")
    await bus.publish(stream, {"order": "c-1"})
    taken = await bus.consume(stream, "g", "crashed", block_ms=100)
    assert len(taken) == 1  # ...and "crashed" dies without acking
    assert await bus.reclaim(stream, "g", "survivor", min_idle_ms=60_000) == []
    await asyncio.sleep(0.05)
    reclaimed = await bus.reclaim(stream, "g", "survivor", min_idle_ms=20)
    assert [m.id for m in reclaimed] == [taken[0].id]
    assert reclaimed[0].fields == {"order": b"c-1"}
    assert reclaimed[0].deliveries == 2
    assert await bus.ack(stream, "g", [reclaimed[0].id]) == 1
    assert await bus.pending(stream, "g") == 0


async def test_streams_are_bounded(bus: RedisStreamBus, stream: str) -> None:
    for i in range(120):
        await bus.publish(stream, {"n": str(i)})
    assert await bus.length(stream) == 50
