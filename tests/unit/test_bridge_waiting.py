"""A bridge whose every account waits for Temporal sleeps until the next offer is due: it
does not spin on the event loop it shares with everything else in its process."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from domain.messages import OrderAccepted, encode
from domain.ports import BusMessage
from workers.bridge import Bridge


class OneEventBus:
    """An account's stream holding one order event, never acknowledged."""

    def __init__(self) -> None:
        self.reads = 0

    async def ensure_group(self, *args: Any) -> None:
        return None

    async def consume(self, *args: Any) -> list[BusMessage]:
        self.reads += 1
        return (
            [BusMessage("1-0", encode(OrderAccepted(client_order_id="o-1")))]
            if self.reads == 1
            else []
        )


class AwayTemporal:
    """Every call refused at once, as by a Temporal that is down."""

    def __init__(self) -> None:
        self.calls = 0

    def get_workflow_handle(self, *args: Any) -> AwayTemporal:
        return self

    async def signal(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    async def start_workflow(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


class CountingBridge(Bridge):
    passes = 0

    async def _pass(self, account: str, stream: str) -> bool:
        self.passes += 1
        return await super()._pass(account, stream)


async def test_a_bridge_waiting_for_temporal_sleeps_between_offers() -> None:
    bus, temporal = OneEventBus(), AwayTemporal()
    bridge = CountingBridge(bus, temporal, ["a"], "b")  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    await asyncio.sleep(1.5)  # what is observed is how often it turns in that time
    stop.set()
    await task
    assert bridge.temporal_refusing
    assert bridge.held_back >= 2  # the event was offered again...
    # ...a few times, with back-off (0.2 s, 0.4 s, ...), not in a loop that never yields
    assert bridge.passes < 100, bridge.passes
