"""Commands from the account's stream, each answered on the reply stream exactly once in effect.

Every command carries an id; its reply goes to `replies:{account}` with the same id. A
command seen before (a redelivery after a crash, a retried activity) is answered with the
stored reply and not carried out again. Entries are acknowledged only after the reply is out;
what a dead consumer left unacknowledged is delivered again after `COMMANDS_DELIVERY`'s
deadline, and a command that kills its consumer every time goes to the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from adapters.background import Outage
from adapters.redis.command_log import RedisCommandLog
from domain.clock import Clock
from domain.messages import (
    AmendOrder,
    AnyMessage,
    CancelOrder,
    FillReported,
    IntentRejected,
    Kill,
    ListStrategies,
    QueryBalance,
    QueryOrder,
    QueryPositions,
    QueryVenue,
    Rearm,
    Reply,
    SetStrategy,
    SubmitOrder,
    UnreadableMessageError,
    as_dict,
    commands_stream,
    decode,
    replies_stream,
)
from domain.orders import Order, OrderError
from domain.ports import BusMessage, DeliveryPolicy, EventBus
from domain.positions import RateError
from domain.replies import OrderStatus, VenueReport
from engine.core import Engine
from hotpath.pacing import wait_or_stop
from hotpath.switches import StrategySwitches

log = logging.getLogger("aitp.hotpath.commands")
GROUP = "hotpath"
# One hot path reads an account's commands: on its (re)start it takes over at once, oldest
# first, what its predecessor read and did not answer, so a cancel never overtakes the submit
# before it. A command is answered in about a millisecond and its reply kept by id.
COMMANDS_DELIVERY = DeliveryPolicy(ack_wait_ms=2_000, max_deliveries=5, exclusive=True)
# questions that change nothing: their replies are kept long enough to be read, no longer
READS = (QueryVenue, QueryPositions, QueryBalance, QueryOrder, ListStrategies)
READ_REPLY_TTL_S = 300
STATEMENT_S = 4.0  # within the books' 5 s wait for the answer


class CommandError(ValueError):
    """A command that cannot be carried out as given; the reply says why."""


class CommandHandler:
    """What each command does to the engine; tested without a bus. Its one write is the
    strategy switches, when given a place to keep them."""

    def __init__(self, engine: Engine, switches: StrategySwitches | None = None) -> None:
        self.engine = engine
        self.switches = switches
        self._handlers: Mapping[
            type[Any], Callable[[Any, int], dict[str, Any] | Awaitable[dict[str, Any]]]
        ] = {
            SubmitOrder: self._submit,
            CancelOrder: self._cancel,
            AmendOrder: self._amend,
            QueryOrder: self._query_order,
            QueryPositions: self._positions,
            QueryBalance: self._balance,
            QueryVenue: self._venue,
            IntentRejected: self._intent_rejected,
            Kill: self._kill,
            Rearm: self._rearm,
            SetStrategy: self._strategy,
            ListStrategies: self._strategies,
        }

    async def handle(self, command: AnyMessage, now: int) -> dict[str, Any]:
        """Carry the command out; an event on the command stream is unreadable as a command.
        Only a question put to a venue that keeps its own record is awaited; every other
        command is carried out at once, on the tick loop."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise UnreadableMessageError(f"{command.TYPE} is not a command")
        answer = handler(command, now)
        return await answer if inspect.isawaitable(answer) else answer

    def _submit(self, command: SubmitOrder, now: int) -> dict[str, Any]:
        known = self.engine.recall(command.client_order_id)
        if known is not None:  # the order exists: report it, never submit it twice
            return _order_view(known)
        try:
            order = command.order()
        except OrderError as exc:
            raise CommandError(str(exc)) from None
        self.engine.submit(order, now)
        return _order_view(order)

    def _cancel(self, command: CancelOrder, now: int) -> dict[str, Any]:
        cid = command.client_order_id
        cancelled = self.engine.cancel(cid)
        order = self.engine.orders.get(cid)
        if order is None:
            return {"cancelled": cancelled, "state": "unknown"}
        return _order_view(order, cancelled=cancelled)

    def _amend(self, command: AmendOrder, now: int) -> dict[str, Any]:
        cid = command.client_order_id
        if command.price is None and command.volume is None:
            raise CommandError("amend needs a new price or volume")
        taken, why = self.engine.amend(cid, command.price, command.volume)
        order = self.engine.orders.get(cid)
        if order is None:
            return {"amended": taken, "reason": why, "state": "unknown"}
        view = _order_view(order, amended=taken)
        return {**view, "reason": why} if why else view

    def _query_order(self, command: QueryOrder, now: int) -> dict[str, Any]:
        cid = command.client_order_id
        order = self.engine.recall(cid)
        if order is None:
            return {"state": "unknown"}
        return _order_view(order, fills=self.engine.fills.get(cid, []))

    def _positions(self, command: QueryPositions, now: int) -> dict[str, Any]:
        book = self.engine.book
        return {
            "positions": {p.position_id: str(p.volume) for p in book},
            "balance": str(book.balance),
            "working": sorted(o.client_order_id for o in self.engine.broker.working()),
        }

    async def _venue(self, command: QueryVenue, now: int) -> dict[str, Any]:
        """The venue's deals, positions and cash, as the books must show them: its own
        statement where it keeps one (MT5), with the provenance the engine knows of each
        deal; otherwise the engine's record, which is the paper venue's."""
        pending = self.engine.broker.statement(command.since_ns)
        if pending is None:
            return as_dict(self.engine.venue_state(command.since_ns))
        try:  # bounded: the commands behind this question wait for it
            statement = await asyncio.wait_for(asyncio.wrap_future(pending), STATEMENT_S)
        except Exception as exc:
            raise CommandError(f"the venue's statement cannot be read: {exc!r}") from None
        known = {f.fill_id: f for fills in self.engine.fills.values() for f in fills}
        return as_dict(_attributed(statement, known))

    def _balance(self, command: QueryBalance, now: int) -> dict[str, Any]:
        book = self.engine.book
        marks = {
            s: (Decimal(str(q.bid)), Decimal(str(q.ask))) for s, q in self.engine.quotes.items()
        }
        try:
            equity: Decimal | None = book.equity(marks)
        except (KeyError, RateError):  # a position with no quote or rate cannot be valued
            equity = None
        return {
            "currency": book.currency,
            "balance": str(book.balance),
            "equity": None if equity is None else str(equity),
            "positions": len(book.positions),
            "working_orders": len(list(self.engine.broker.working())),
        }

    def _intent_rejected(self, command: IntentRejected, now: int) -> dict[str, Any]:
        return {"freed": self.engine.intent_rejected(command.strategy, command.bar_ts)}

    def _kill(self, command: Kill, now: int) -> dict[str, Any]:
        return self.engine.kill(command.flatten, now)

    def _rearm(self, command: Rearm, now: int) -> dict[str, Any]:
        self.engine.gate.kill_switch.rearm(self.engine.account)
        return {"engaged": False}

    def _strategy(self, command: SetStrategy, now: int) -> dict[str, Any]:
        name = command.name
        if name not in self.engine.enabled:
            raise CommandError(f"no strategy {name!r}; running: {', '.join(self.engine.enabled)}")
        self.engine.enabled[name] = command.enabled
        if self.switches is not None:
            self.switches.save(self.engine.enabled)
        return {"name": name, "enabled": self.engine.enabled[name]}

    def _strategies(self, command: ListStrategies, now: int) -> dict[str, Any]:
        return {
            "strategies": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "symbol": s.symbol,
                    "params": {
                        k: str(v) if isinstance(v, Decimal) else v for k, v in s.params().items()
                    },
                    "enabled": self.engine.enabled[s.name],
                }
                for s in self.engine.strategies
            ]
        }


def _attributed(statement: VenueReport, known: Mapping[str, FillReported]) -> VenueReport:
    """The venue's figures, with who caused each deal as the engine saw it: a strategy's own
    order on the direct route, an order's client id the broker cut short."""
    fills = [
        dataclasses.replace(
            f, source=k.source, strategy=k.strategy, client_order_id=k.client_order_id
        )
        if (k := known.get(f.fill_id)) is not None
        else f
        for f in statement.fills
    ]
    return dataclasses.replace(statement, fills=fills)


def _order_view(order: Order, **answer: Any) -> dict[str, Any]:
    """Only what is set: an answer without fills or flags leaves them out."""
    return {k: v for k, v in as_dict(OrderStatus.of(order, **answer)).items() if v is not None}


class CommandConsumer:
    def __init__(
        self,
        account: str,
        bus: EventBus,
        replies: RedisCommandLog,
        handler: CommandHandler,
        consumer: str,
        clock: Clock,
    ) -> None:
        self.account = account
        self.bus = bus
        self.replies = replies
        self.handler = handler
        self.consumer = consumer
        self.clock = clock
        self.handled = 0
        self.unreadable = 0
        self.replayed = 0
        self.failed = 0
        self.outage = Outage("command stream", log)
        self.last_read: float | None = None  # monotonic, of the last read that answered

    def read_age_s(self) -> float:
        """Seconds since the last read that answered (0 before the first)."""
        return 0.0 if self.last_read is None else time.monotonic() - self.last_read

    async def run(self, stop: asyncio.Event) -> None:
        """Read and answer until stopped. A bus that is away is waited out with bounded
        back-off; on its return the group is made sure of, and every command left
        unacknowledged (by a dead predecessor, or by this consumer when the bus went) comes
        back past its deadline, so nothing sent before or during the outage goes unanswered."""
        stream = commands_stream(self.account)
        resume = True
        while not stop.is_set():
            try:
                if resume:
                    await self.bus.ensure_group(stream, GROUP, COMMANDS_DELIVERY)
                    resume = False
                messages = await self.bus.consume(stream, GROUP, self.consumer, 100, 200)
                self.last_read = time.monotonic()
                await self._process(messages)
                self.outage.back()
            except Exception as exc:  # the bus away, or anything it answered amiss: wait, retry
                resume = True
                if await wait_or_stop(stop, self.outage.went(exc)):
                    return

    async def _process(self, messages: list[BusMessage]) -> None:
        stream = commands_stream(self.account)
        for message in messages:
            reply = await self.answer(message)
            if reply:  # a command without an id has nobody to answer; it was dead-lettered
                command_id = message.fields.get("id", b"")
                await self.bus.publish(replies_stream(self.account), Reply.entry(command_id, reply))
            await self.bus.ack(stream, GROUP, [message.id])

    async def _bury(self, message: BusMessage, reason: str) -> None:
        """Unreadable: to the dead-letter stream with the reason, counted and logged."""
        self.unreadable += 1
        log.error("unreadable command %s dead-lettered: %s", message.id, reason)
        await self.bus.dead_letter(commands_stream(self.account), GROUP, message, reason)

    async def answer(self, message: BusMessage) -> bytes:
        command_id = message.fields.get("id", b"").decode(errors="replace")
        if not command_id:
            await self._bury(message, "the command has no id")
            return b""
        stored = await self.replies.recall(self.account, command_id)
        if stored is not None:
            self.replayed += 1
            return stored
        read_only = False  # a question's reply is kept only briefly
        try:
            command = decode(message.fields).message
            read_only = isinstance(command, READS)
            reply = Reply(True, await self.handler.handle(command, self.clock.now_ns()))
        except UnreadableMessageError as exc:
            await self._bury(message, str(exc))
            reply = Reply(False, error=str(exc))
        except CommandError as exc:
            reply = Reply(False, error=str(exc))
        except Exception as exc:  # a fault in one command must not stop every command behind it
            self.failed += 1
            log.exception("command %s failed", command_id)
            reply = Reply(False, error=f"the hot path could not carry it out: {exc!r}")
        encoded = reply.encode()
        self.handled += 1
        ttl = READ_REPLY_TTL_S if read_only else None
        if not await self.replies.remember(self.account, command_id, encoded, ttl):
            encoded = await self.replies.recall(self.account, command_id) or encoded
        return encoded
