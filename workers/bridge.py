"""The bridge: hot-path events in, workflow signals out, acknowledged only once delivered.

It reads each account's event stream in a consumer group. An order event becomes a signal to
`order-{client_order_id}`; the entry is acknowledged only after Temporal accepted the signal.
An event Temporal does not take is held, with every later one of its account, and offered
again with back-off before anything newer is read: an account's events reach their workflows
in the order the hot path emitted them (a cancellation never overtakes the fill before it),
however long Temporal is away. A bridge that (re)starts takes over at once what its group
holds unacknowledged, oldest first (`EVENTS_DELIVERY` is exclusive); nothing is dead-lettered
for waiting. A fill that
no order workflow owns (a bracket leg, the kill switch's flattening, a strategy's own order on
the direct route, the broker's own deal) goes to the account's books workflow, started on
demand; so does the hot path's start, which asks for a comparison with the venue. Decision
candidates start decision workflows, unless the next bar has closed since (Temporal was away
too long for the decision to mean anything): such a candidate is dropped, counted, and its
strategy told, as if the decision had said no. A message nobody can read goes to the
dead-letter stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Literal

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.background import Outage
from domain.clock import Clock, WallClock
from domain.messages import (
    DecisionCandidate,
    FillReported,
    IntentRejected,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    SessionStarted,
    UnreadableMessageError,
    commands_stream,
    decode,
    encode,
    events_stream,
)
from domain.ports import BusMessage, DeliveryPolicy, EventBus
from temporal.books import BOOKS_WORKFLOW, BooksRequest, books_workflow_id
from temporal.decisions import DECISION_WORKFLOW, DecisionRequest
from temporal.orders import FillRecord, OrderEvent, order_workflow_id
from temporal.queues import TRADING

log = logging.getLogger("aitp.bridge")
GROUP = "bridge"
OrderMessage = OrderAccepted | OrderRejected | OrderCancelled | OrderExpired | OrderAmended
Delivery = Literal["signalled", "unowned", "retry"]
SIGNALLED: Delivery = "signalled"
UNOWNED: Delivery = "unowned"  # no workflow owns the order, or it has finished
RETRY: Delivery = "retry"  # Temporal did not take it: leave the entry pending
# One bridge reads an account's events at a time. A signal takes milliseconds; ten seconds
# without an acknowledgement means the bridge that read the event is gone. Unreadable events
# are dead-lettered at once; the others wait for Temporal as long as it takes.
EVENTS_DELIVERY = DeliveryPolicy(ack_wait_ms=10_000, max_deliveries=None, exclusive=True)
# A stalled Temporal answers nothing: a call waits this long, then counts as not taken.
RPC_TIMEOUT = timedelta(seconds=5)
# What Temporal says of the event itself, which no retry changes; anything else (away,
# overloaded, restarting, a credential to renew) is waited out.
UNACCEPTABLE = frozenset({RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.OUT_OF_RANGE})


class UnacceptableEventError(Exception):
    """Temporal refuses the event for what it is: dead-lettered, never retried forever."""


class Bridge:
    def __init__(
        self,
        bus: EventBus,
        client: Client,
        accounts: list[str],
        consumer: str,
        delivery: DeliveryPolicy = EVENTS_DELIVERY,
        task_queue: str = TRADING,
        reconcile_s: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.bus = bus
        self.client = client
        self.accounts = accounts
        self.consumer = consumer
        self.delivery = delivery
        self.task_queue = task_queue
        self.signalled = 0
        self.unowned = 0
        self.decisions = 0
        self.duplicates = 0
        self.unreadable = 0
        self.booked = 0  # fills handed to the account's books workflow
        self.reconcile_s = reconcile_s
        self.clock = clock or WallClock()  # the wall's: candidates' deadlines are set on it
        self.expired = 0  # candidates dropped because their deadline had passed
        self.outage = Outage("event bus", log)
        self.temporal = Outage("Temporal, for the bridge's deliveries", log)
        self.last_read: float | None = None  # monotonic, of the last sign of progress
        self.started = time.monotonic()
        self.held_back = 0  # times an account's events were held behind one Temporal refused
        self._held: dict[str, list[BusMessage]] = {}  # account -> refused event and later ones
        self._retry_at: dict[str, float] = {}  # account -> when to offer them again
        self._wait_s = 0.0  # the back-off Temporal's last refusal asked for

    @property
    def temporal_refusing(self) -> bool:
        """Some account's events wait behind one Temporal did not take."""
        return bool(self._held)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until stopped. A bus that is away is waited out with bounded back-off;
        what was read but not acknowledged when it went is taken over when it is back."""
        started: set[str] = set()
        while not stop.is_set():
            read = False  # whether any account's stream was read (a read waits up to 50 ms)
            try:
                for account in self.accounts:
                    stream = events_stream(account)
                    if account not in started:
                        self._held.pop(account, None)  # taken over again, in order, below
                        await self.bus.ensure_group(stream, GROUP, self.delivery)
                        await self._books(account, "reconcile")  # checked from now on
                        started.add(account)
                    read = await self._pass(account, stream) or read
                self.last_read = time.monotonic()
                self.outage.back()
                if not read and self._held:  # all wait for Temporal: sleep until one may go
                    due = min(self._retry_at[a] for a in self._held) - time.monotonic()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), max(due, 0.01))
            except Exception as exc:  # the bus away, or anything it answered amiss: wait, retry
                started.clear()  # a Redis back without its data needs its groups again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.outage.went(exc))

    async def _pass(self, account: str, stream: str) -> bool:
        """Offer the account's held events again when their back-off is up, else read on;
        True where the stream was read."""
        messages = self._held.pop(account, None)
        if messages is not None and time.monotonic() < self._retry_at[account]:
            self._held[account] = messages
            return False
        read = messages is None
        if messages is None:
            messages = await self.bus.consume(stream, GROUP, self.consumer, 200, 50)
        for i, message in enumerate(messages):
            if not await self.deliver(account, stream, message):
                self._held[account] = messages[i:]
                self._retry_at[account] = time.monotonic() + self._wait_s
                self.held_back += 1
                return read
            self.last_read = time.monotonic()
        return read

    def read_age_s(self) -> float:
        """Seconds since the last sign of progress: a pass over every stream or an event
        delivered (since the start before the first)."""
        return time.monotonic() - (self.last_read or self.started)

    async def deliver(self, account: str, stream: str, message: BusMessage) -> bool:
        """True once the message is acknowledged; False where Temporal did not take it (it
        stays unacknowledged: the caller holds it and offers it again). One that cannot be
        read, or that Temporal refuses for what it holds, goes to the dead-letter stream."""
        try:
            event = decode(message.fields).message
            return await self._deliver(account, stream, message, event)
        except (UnreadableMessageError, UnacceptableEventError) as exc:
            self.unreadable += 1
            log.error("event %s on %s dead-lettered: %s", message.id, stream, exc)
            await self.bus.dead_letter(stream, GROUP, message, str(exc))
            return True

    async def _deliver(self, account: str, stream: str, message: BusMessage, event: object) -> bool:
        done = True
        if isinstance(event, FillReported):
            sent = await self._signal(event.client_order_id, OrderEvent.of(event))
            done = sent != RETRY
            if sent == UNOWNED:  # no order workflow: the account's books own this deal
                done = await self._books(account, "fill", FillRecord.of(account, event))
        elif isinstance(event, OrderMessage):
            done = await self._signal(event.client_order_id, OrderEvent.of(event)) != RETRY
        elif isinstance(event, DecisionCandidate) and event.decide:
            done = await self._decide(event)
        elif isinstance(event, SessionStarted):  # a hot path came up: compare the books now
            done = await self._books(account, "reconcile")
        if done:  # not acknowledged otherwise: it stays pending and is delivered again
            await self.bus.ack(stream, GROUP, [message.id])
        return done

    async def _decide(self, candidate: DecisionCandidate) -> bool:
        request = DecisionRequest.of(candidate)
        if candidate.expires_ns and self.clock.now_ns() > candidate.expires_ns:
            return await self._expire(candidate, request)
        try:
            await self.client.start_workflow(
                DECISION_WORKFLOW,
                request,
                id=request.workflow_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=request.summary,
                rpc_timeout=RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            self.duplicates += 1  # the same candidate again: decided once already
            return self._taken()
        except RPCError as exc:
            log.warning("decision %s not started, will retry: %s", request.workflow_id, exc)
            return self._refused(exc)
        self.decisions += 1
        return self._taken()

    async def _expire(self, candidate: DecisionCandidate, request: DecisionRequest) -> bool:
        """Past its deadline: dropped, unless its decision started before (a redelivery whose
        acknowledgement was lost), and the strategy waiting for it told no."""
        try:
            await self.client.get_workflow_handle(request.workflow_id).describe(
                rpc_timeout=RPC_TIMEOUT
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                return self._refused(exc)
        else:
            self.duplicates += 1  # decided (or deciding) already: it answers for itself
            return self._taken()
        self.expired += 1
        log.warning("decision %s expired before it could start: dropped", request.workflow_id)
        release = IntentRejected(strategy=candidate.strategy, bar_ts=candidate.bar_ts)
        command_id = f"expired-{request.workflow_id}"
        stream = commands_stream(candidate.account)
        await self.bus.publish(stream, encode(release, command_id, self.clock.now_ns()))
        return self._taken()

    def _taken(self) -> bool:
        self.temporal.back()
        return True

    def _refused(self, exc: RPCError) -> bool:
        """Temporal did not take it: wait and offer it again, unless what it says is about
        the event itself (no retry would change that)."""
        if exc.status in UNACCEPTABLE:
            raise UnacceptableEventError(f"Temporal refuses it: {exc.status.name}: {exc}") from exc
        self._wait_s = self.temporal.went(exc)
        return False

    async def _signal(self, client_order_id: str, event: OrderEvent) -> Delivery:
        try:
            handle = self.client.get_workflow_handle(order_workflow_id(client_order_id))
            await handle.signal("event", event, rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                self.unowned += 1  # no workflow owns this order (or it already finished)
                self._taken()
                return UNOWNED
            log.warning("signal to %s failed, will retry: %s", client_order_id, exc)
            self._refused(exc)
            return RETRY
        self.signalled += 1
        self._taken()
        return SIGNALLED

    async def _books(self, account: str, signal: str, *args: FillRecord) -> bool:
        """Signal the account's books workflow, starting it if it does not run."""
        try:
            await self.client.start_workflow(
                BOOKS_WORKFLOW,
                BooksRequest(account=account, reconcile_s=self.reconcile_s),
                id=books_workflow_id(account),
                task_queue=self.task_queue,
                start_signal=signal,
                start_signal_args=list(args),
                static_summary=f"books of {account}",
                rpc_timeout=RPC_TIMEOUT,
            )
        except RPCError as exc:
            log.warning("books of %s not signalled (%s), will retry: %s", account, signal, exc)
            return self._refused(exc)
        self.booked += signal == "fill"
        return self._taken()


async def _serve(accounts: list[str], metrics_port: int) -> None:
    import os
    import signal

    from prometheus_client import start_http_server

    from adapters.redis.event_bus import RedisStreamBus
    from config.logs import configure_logging
    from config.settings import Settings
    from embedded.endpoints import redis_url, temporal_address
    from temporal.client import connect
    from workers.bridge_metrics import bridge_registry

    configure_logging()
    settings = Settings()
    client = await connect(temporal_address(settings), settings.temporal)
    bridge = Bridge(
        RedisStreamBus.from_url(redis_url(settings)), client, accounts, f"bridge-{os.getpid()}"
    )
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1", registry=bridge_registry(bridge))
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
    parser.add_argument("--metrics-port", type=int, default=0, help="0: no metrics endpoint")
    args = parser.parse_args(argv)
    accounts = [a.strip() for a in args.accounts.split(",") if a.strip()]
    asyncio.run(_serve(accounts, args.metrics_port))


if __name__ == "__main__":
    main()
