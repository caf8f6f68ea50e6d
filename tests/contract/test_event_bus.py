"""One contract for the event bus, stated as its delivery guarantees (`domain.ports.EventBus`):
on the embedded Redis, and on AITP_REDIS__URL when set. The tests speak only the port, so
another adapter (NATS JetStream) is held to the same suite by adding it to the fixture."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.redis.event_bus import RedisStreamBus
from domain.messages import dead_letter_stream
from domain.ports import BusMessage, DeliveryPolicy, EventBus
from tests.conftest import RunningPlatform, backends
from tests.waits import until

QUICK = DeliveryPolicy(ack_wait_ms=100, max_deliveries=3)


@pytest.fixture(params=backends("embedded", server="AITP_REDIS__URL"))
async def bus(request: pytest.FixtureRequest, platform: RunningPlatform) -> AsyncIterator[EventBus]:
    url = platform.redis_url if request.param == "embedded" else os.environ["AITP_REDIS__URL"]
    bus = RedisStreamBus.from_url(url, maxlen=50, exact_trim=True)
    yield bus
    await bus.close()


@pytest.fixture
def stream() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_events_arrive_in_order_and_ack_clears_them(bus: EventBus, stream: str) -> None:
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
    bus: EventBus, stream: str
) -> None:
    await bus.publish(stream, {"early": "1"})
    await bus.ensure_group(stream, "bridge")
    await bus.ensure_group(stream, "bridge")  # a second call is harmless
    got = await bus.consume(stream, "bridge", "c1", block_ms=100)
    assert [m.fields["early"] for m in got] == [b"1"]


async def test_consumers_of_one_group_share_the_work(bus: EventBus, stream: str) -> None:
    await bus.ensure_group(stream, "g")
    for i in range(10):
        await bus.publish(stream, {"n": str(i)})
    first = await bus.consume(stream, "g", "a", count=4, block_ms=100)
    second = await bus.consume(stream, "g", "b", count=10, block_ms=100)
    assert len(first) == 4
    assert len(second) == 6
    assert {m.id for m in first}.isdisjoint({m.id for m in second})


async def redelivered(bus: EventBus, stream: str, group: str, consumer: str) -> list[BusMessage]:
    """The next read that brings anything, once the deadline has passed."""
    return await until(
        lambda: bus.consume(stream, group, consumer, count=10, block_ms=20),
        bool,
        f"a redelivery on {stream}",
        within=10,
    )


async def test_what_is_not_acknowledged_comes_back_after_the_deadline_and_not_before(
    bus: EventBus, stream: str
) -> None:
    await bus.ensure_group(stream, "patient", DeliveryPolicy(ack_wait_ms=60_000))
    await bus.ensure_group(stream, "g", QUICK)
    await bus.publish(stream, {"order": "c-1"})
    taken = await bus.consume(stream, "g", "crashed", block_ms=100)
    assert len(taken) == 1  # ...and "crashed" dies without acknowledging it
    assert (await bus.consume(stream, "patient", "p", block_ms=100))[0].deliveries == 1
    assert await bus.consume(stream, "patient", "p", block_ms=100) == []  # 60 s not yet up
    again = await redelivered(bus, stream, "g", "survivor")
    assert [(m.id, m.fields, m.deliveries) for m in again] == [(taken[0].id, {"order": b"c-1"}, 2)]
    assert await bus.ack(stream, "g", [again[0].id]) == 1
    assert await bus.pending(stream, "g") == 0


async def test_an_acknowledged_message_never_comes_back(bus: EventBus, stream: str) -> None:
    await bus.ensure_group(stream, "g", QUICK)
    await bus.publish(stream, {"n": "1"})
    [done] = await bus.consume(stream, "g", "c", block_ms=100)
    assert await bus.ack(stream, "g", [done.id]) == 1
    await bus.publish(stream, {"n": "2"})
    [kept] = await bus.consume(stream, "g", "c", block_ms=100)
    # "2", read after "1" was acknowledged, comes back past its deadline; "1" never does
    again = await redelivered(bus, stream, "g", "c")
    assert [(m.fields["n"], m.deliveries) for m in again] == [(b"2", 2)]
    assert await bus.ack(stream, "g", [kept.id, done.id]) == 1


async def test_an_exclusive_reader_that_rejoins_takes_over_first_what_was_left_in_order(
    bus: EventBus, platform: RunningPlatform, stream: str
) -> None:
    policy = DeliveryPolicy(ack_wait_ms=60_000, max_deliveries=3, exclusive=True)
    await bus.ensure_group(stream, "g", policy)
    ids = [await bus.publish(stream, {"n": str(i)}) for i in range(5)]
    first = await bus.consume(stream, "g", "gone", count=3, block_ms=100)
    await bus.ack(stream, "g", [first[0].id])  # 1 and 2 read, not acknowledged; 3, 4 unread
    # its successor, long before the deadline: what was left comes first, then the rest
    await bus.ensure_group(stream, "g", policy)
    again = await bus.consume(stream, "g", "next", count=10, block_ms=100)
    assert [m.id for m in again] == ids[1:]
    assert [m.deliveries for m in again] == [2, 2, 1, 1]


async def test_a_message_delivered_too_often_goes_to_the_dead_letter_stream(
    bus: EventBus, stream: str
) -> None:
    await bus.ensure_group(stream, "g", QUICK)
    await bus.ensure_group(dead_letter_stream(stream), "ops")
    await bus.publish(stream, {"poison": "1"})
    seen = [m.deliveries for m in await bus.consume(stream, "g", "c", block_ms=100)]
    while len(seen) < QUICK.max_deliveries:  # type: ignore[operator]
        seen += [m.deliveries for m in await redelivered(bus, stream, "g", "c")]
    assert seen == [1, 2, 3]

    async def read_again() -> int:  # the group's next read past the last deadline moves it
        assert await bus.consume(stream, "g", "c", block_ms=20) == []
        return await bus.length(dead_letter_stream(stream))

    await until(read_again, lambda dead: dead == 1, "the message dead-lettered")
    [dead] = await bus.consume(dead_letter_stream(stream), "ops", "ops", block_ms=100)
    assert dead.fields["poison"] == b"1"
    assert dead.fields["dead.reason"] == b"not acknowledged after 3 deliveries"
    assert await bus.pending(stream, "g") == 0
    assert await bus.consume(stream, "g", "c", block_ms=300) == []


async def test_without_a_delivery_limit_a_message_comes_back_until_acknowledged(
    bus: EventBus, stream: str
) -> None:
    await bus.ensure_group(stream, "g", DeliveryPolicy(ack_wait_ms=50, max_deliveries=None))
    await bus.publish(stream, {"fill": "d-1"})
    deliveries = [m.deliveries for m in await bus.consume(stream, "g", "c", block_ms=100)]
    while len(deliveries) < 6:
        deliveries += [m.deliveries for m in await redelivered(bus, stream, "g", "c")]
    assert deliveries == [1, 2, 3, 4, 5, 6]
    assert await bus.length(dead_letter_stream(stream)) == 0


async def test_an_unreadable_message_is_dead_lettered_with_its_reason_at_once(
    bus: EventBus, stream: str
) -> None:
    await bus.ensure_group(stream, "g", QUICK)
    await bus.publish(stream, {"garbage": b"\xff"})
    [message] = await bus.consume(stream, "g", "c", block_ms=100)
    await bus.dead_letter(stream, "g", message, "no kind")
    assert await bus.pending(stream, "g") == 0
    await bus.ensure_group(dead_letter_stream(stream), "ops")
    [dead] = await bus.consume(dead_letter_stream(stream), "ops", "ops", block_ms=100)
    assert dead.fields["garbage"] == b"\xff"
    assert dead.fields["dead.reason"] == b"no kind"
    assert dead.fields["dead.id"] == message.id.encode()


async def test_streams_are_bounded(bus: EventBus, stream: str) -> None:
    for i in range(120):
        await bus.publish(stream, {"n": str(i)})
    assert await bus.length(stream) == 50


def test_a_policy_that_could_never_deliver_is_refused() -> None:
    with pytest.raises(ValueError, match="ack_wait_ms"):
        DeliveryPolicy(ack_wait_ms=0)
    with pytest.raises(ValueError, match="max_deliveries"):
        DeliveryPolicy(max_deliveries=0)


async def test_an_entry_trimmed_before_it_was_acknowledged_is_counted_not_forgotten(
    platform: RunningPlatform, stream: str
) -> None:
    bus = RedisStreamBus.from_url(platform.redis_url, maxlen=5, exact_trim=True)
    try:
        policy = DeliveryPolicy(exclusive=True)
        await bus.ensure_group(stream, "g", policy)
        await bus.publish(stream, {"fill": "d-1"})
        assert len(await bus.consume(stream, "g", "gone", block_ms=100)) == 1
        for i in range(5):  # the cap pushes the unacknowledged entry out
            await bus.publish(stream, {"n": str(i)})
        await bus.ensure_group(stream, "g", policy)
        assert len(await bus.consume(stream, "g", "next", count=10, block_ms=100)) == 5
        assert bus.trimmed_unacknowledged == 1
    finally:
        await bus.close()
