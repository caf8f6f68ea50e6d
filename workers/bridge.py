"""The bridge: hot-path events in, workflow signals out, acknowledged only once delivered.

It reads each account's event stream in a consumer group. An order event becomes a signal to
`order-{client_order_id}`; the entry is acknowledged only after Temporal accepted the signal,
so a bridge that dies leaves its entries pending and the next one reclaims them. Events for
orders no workflow owns (a strategy's own orders on the direct path) are acknowledged and
counted. Decision candidates start decision workflows once those exist.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

import orjson
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.ports import BusMessage, EventBus
from temporal.decisions import DECISION_WORKFLOW, DecisionRequest
from temporal.orders import OrderEvent, order_workflow_id
from temporal.queues import TRADING

log = logging.getLogger("aitp.bridge")
GROUP = "bridge"
ORDER_KINDS = {
    "order_accepted": "accepted",
    "order_rejected": "rejected",
    "order_cancelled": "cancelled",
    "order_expired": "expired",
    "order_amended": "amended",
    "fill": "fill",
}


class Bridge:
    def __init__(
        self,
        bus: EventBus,
        client: Client,
        accounts: list[str],
        consumer: str,
        reclaim_idle_ms: int = 30_000,
        task_queue: str = TRADING,
    ) -> None:
        self.bus = bus
        self.client = client
        self.accounts = accounts
        self.consumer = consumer
        self.reclaim_idle_ms = reclaim_idle_ms
        self.task_queue = task_queue
        self.signalled = 0
        self.unowned = 0
        self.decisions = 0
        self.duplicates = 0

    async def run(self, stop: asyncio.Event) -> None:
        for account in self.accounts:
            await self.bus.ensure_group(f"events:{account}", GROUP)
        next_reclaim = 0.0
        while not stop.is_set():
            reclaim_now = time.monotonic() >= next_reclaim
            if reclaim_now:
                next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
            for account in self.accounts:
                stream = f"events:{account}"
                try:
                    reclaimed = (
                        []
                        if not reclaim_now
                        else await self.bus.reclaim(
                            stream, GROUP, self.consumer, self.reclaim_idle_ms
                        )
                    )
                    fresh = await self.bus.consume(stream, GROUP, self.consumer, 200, 50)
                except (ConnectionError, OSError) as exc:
                    log.warning("event bus unavailable: %s", exc)
                    await asyncio.sleep(1.0)
                    continue
                for message in [*reclaimed, *fresh]:
                    await self.deliver(account, stream, message)

    async def deliver(self, account: str, stream: str, message: BusMessage) -> None:
        kind = message.fields.get("kind", b"").decode()
        target = ORDER_KINDS.get(kind)
        if target is not None:
            payload = orjson.loads(message.fields.get("data", b"{}"))
            if not await self._signal(payload, target):
                return  # not acknowledged: it stays pending and is delivered again
        elif kind == "decision_candidate":
            payload = orjson.loads(message.fields.get("data", b"{}"))
            if not await self._decide(payload):
                return
        await self.bus.ack(stream, GROUP, [message.id])

    async def _decide(self, payload: dict[str, Any]) -> bool:
        request = DecisionRequest(
            account=payload["account"],
            symbol=payload["symbol"],
            strategy=payload["strategy"],
            bar_ts=int(payload["bar_ts"]),
            side=payload["side"],
            volume=Decimal(payload["volume"]),
            reason=payload.get("reason", ""),
            features=payload.get("features") or {},
            closes=payload.get("closes") or [],
        )
        try:
            await self.client.start_workflow(
                DECISION_WORKFLOW,
                request,
                id=request.workflow_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=request.summary,
            )
        except WorkflowAlreadyStartedError:
            self.duplicates += 1  # the same candidate again: decided once already
            return True
        except RPCError as exc:
            log.warning("decision %s not started, will retry: %s", request.workflow_id, exc)
            return False
        self.decisions += 1
        return True

    async def _signal(self, payload: dict[str, Any], kind: str) -> bool:
        cid = payload.get("client_order_id")
        if not cid:
            return True
        event = OrderEvent(
            kind=kind,
            broker_order_id=payload.get("broker_order_id"),
            reason=payload.get("reason"),
            fill_id=payload.get("fill_id"),
            volume=Decimal(payload["volume"]) if payload.get("volume") else None,
            price=Decimal(payload["price"]) if payload.get("price") else None,
            ts=int(payload.get("ts") or 0),
        )
        try:
            await self.client.get_workflow_handle(order_workflow_id(cid)).signal("event", event)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                self.unowned += 1  # no workflow owns this order (or it already finished)
                return True
            log.warning("signal to %s failed, will retry: %s", cid, exc)
            return False
        self.signalled += 1
        return True


async def _serve(accounts: list[str]) -> None:
    import os
    import signal

    from adapters.redis.event_bus import RedisStreamBus
    from config.logs import configure_logging
    from config.settings import Settings
    from embedded.endpoints import redis_url, temporal_address
    from temporal.client import connect

    configure_logging()
    settings = Settings()
    client = await connect(temporal_address(settings), settings.temporal)
    bridge = Bridge(
        RedisStreamBus.from_url(redis_url(settings)), client, accounts, f"bridge-{os.getpid()}"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("bridge up for %s", ", ".join(accounts))
    await bridge.run(stop)


def main(argv: list[str] | None = None) -> None:
    """`python -m workers.bridge --accounts demo,...`"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m workers.bridge")
    parser.add_argument("--accounts", default="demo", help="comma-separated account ids")
    args = parser.parse_args(argv)
    asyncio.run(_serve([a.strip() for a in args.accounts.split(",") if a.strip()]))


if __name__ == "__main__":
    main()
