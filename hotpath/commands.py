"""Commands from the account's stream, each answered on the reply stream exactly once in effect.

Every command carries an id; its reply goes to `replies:{account}` with the same id. A
command seen before (a redelivery after a crash, a retried activity) is answered with the
stored reply and not carried out again. Entries are acknowledged only after the reply is out,
and entries a dead consumer left pending are reclaimed.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from adapters.redis.command_log import RedisCommandLog
from domain.orders import Order, OrderError, OrderType, Side, TimeInForce
from domain.ports import BusMessage, EventBus
from domain.positions import RateError
from hotpath.engine import Engine
from hotpath.switches import StrategySwitches

log = logging.getLogger("aitp.hotpath.commands")
GROUP = "hotpath"


class CommandError(ValueError):
    """A command that cannot be carried out as given; the reply says why."""


def commands_stream(account: str) -> str:
    return f"commands:{account}"


def replies_stream(account: str) -> str:
    return f"replies:{account}"


def events_stream(account: str) -> str:
    return f"events:{account}"


class CommandHandler:
    """What each command does to the engine; tested without a bus. Its one write is the
    strategy switches, when given a place to keep them."""

    def __init__(self, engine: Engine, switches: StrategySwitches | None = None) -> None:
        self.engine = engine
        self.switches = switches

    def handle(self, kind: str, data: dict[str, Any], now: int) -> dict[str, Any]:
        method = getattr(self, f"_{kind}", None)
        if method is None:
            raise CommandError(f"unknown command {kind!r}")
        result: dict[str, Any] = method(data, now)
        return result

    def _submit(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        cid = _required(data, "client_order_id")
        known = self.engine.recall(cid)
        if known is not None:  # the order exists: report it, never submit it twice
            return _order_view(known)
        order = _order(data)
        self.engine.submit(order, now)
        return _order_view(order)

    def _cancel(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        cid = _required(data, "client_order_id")
        cancelled = self.engine.cancel(cid)
        order = self.engine.orders.get(cid)
        return {"cancelled": cancelled, **(_order_view(order) if order else {"state": "unknown"})}

    def _amend(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        cid = _required(data, "client_order_id")
        price, volume = _decimal(data, "price"), _decimal(data, "volume")
        if price is None and volume is None:
            raise CommandError("amend needs a new price or volume")
        taken, why = self.engine.amend(cid, price, volume)
        order = self.engine.orders.get(cid)
        view = _order_view(order) if order is not None else {"state": "unknown"}
        return {"amended": taken, **({"reason": why} if why else {}), **view}

    def _query_order(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        cid = _required(data, "client_order_id")
        order = self.engine.recall(cid)
        if order is None:
            return {"state": "unknown"}
        fills = [
            {
                "fill_id": f.fill_id,
                "volume": str(f.volume),
                "price": str(f.price),
                "ts": f.ts,
                "commission": str(f.commission),
            }
            for f in self.engine.fills.get(cid, [])
        ]
        return {**_order_view(order), "fills": fills}

    def _positions(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        book = self.engine.book
        return {
            "positions": {p.position_id: str(p.volume) for p in book},
            "balance": str(book.balance),
            "working": sorted(o.client_order_id for o in self.engine.broker.working()),
        }

    def _balance(self, data: dict[str, Any], now: int) -> dict[str, Any]:
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

    def _intent_rejected(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        freed = self.engine.intent_rejected(_required(data, "strategy"))
        return {"freed": freed}

    def _kill(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        return self.engine.kill(bool(data.get("flatten", False)), now)

    def _rearm(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        self.engine.gate.kill_switch.rearm(self.engine.account)
        return {"engaged": False}

    def _strategy(self, data: dict[str, Any], now: int) -> dict[str, Any]:
        name = _required(data, "name")
        if name not in self.engine.enabled:
            raise CommandError(f"no strategy {name!r}; running: {', '.join(self.engine.enabled)}")
        self.engine.enabled[name] = bool(data.get("enabled", True))
        if self.switches is not None:
            self.switches.save(self.engine.enabled)
        return {"name": name, "enabled": self.engine.enabled[name]}

    def _strategies(self, data: dict[str, Any], now: int) -> dict[str, Any]:
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


def _required(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise CommandError(f"{field} is required")
    return value


def _decimal(data: dict[str, Any], field: str) -> Decimal | None:
    if data.get(field) is None:
        return None
    try:
        return Decimal(str(data[field]))
    except InvalidOperation:
        raise CommandError(f"{field}={data[field]!r} is not a number") from None


def _order(data: dict[str, Any]) -> Order:
    try:
        volume = _decimal(data, "volume")
        if volume is None:
            raise CommandError("volume is required")
        return Order(
            client_order_id=_required(data, "client_order_id"),
            symbol=_required(data, "symbol"),
            side=Side(_required(data, "side")),
            volume=volume,
            order_type=OrderType(data.get("order_type", "market")),
            time_in_force=TimeInForce(data.get("time_in_force", "gtc")),
            price=_decimal(data, "price"),
            stop_price=_decimal(data, "stop_price"),
            expire_at=data.get("expire_at"),
            strategy=data.get("strategy"),
            stop_loss=_decimal(data, "stop_loss"),
            take_profit=_decimal(data, "take_profit"),
        )
    except (OrderError, ValueError) as exc:
        raise CommandError(str(exc)) from None


def _order_view(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "state": order.state.value,
        "volume": str(order.volume),
        "price": str(order.price) if order.price is not None else None,
        "filled": str(order.filled),
        "avg_fill_price": str(order.avg_fill_price) if order.avg_fill_price is not None else None,
        "broker_order_id": order.broker_order_id,
        "reason": order.reason,
    }


class CommandConsumer:
    def __init__(
        self,
        account: str,
        bus: EventBus,
        replies: RedisCommandLog,
        handler: CommandHandler,
        consumer: str,
        clock: Any,
    ) -> None:
        self.account = account
        self.bus = bus
        self.replies = replies
        self.handler = handler
        self.consumer = consumer
        self.clock = clock
        self.handled = 0
        self.replayed = 0

    async def run(self, stop: asyncio.Event) -> None:
        stream = commands_stream(self.account)
        await self.bus.ensure_group(stream, GROUP)
        # one hot path per account: whatever a dead predecessor left pending is ours now
        await self._process(await self.bus.reclaim(stream, GROUP, self.consumer, 0))
        while not stop.is_set():
            try:
                messages = await self.bus.consume(stream, GROUP, self.consumer, 100, 200)
                await self._process(messages)
            except (ConnectionError, OSError) as exc:
                log.warning("command stream unavailable: %s", exc)
                await asyncio.sleep(1.0)

    async def _process(self, messages: list[BusMessage]) -> None:
        stream = commands_stream(self.account)
        for message in messages:
            reply = await self.answer(message)
            await self.bus.publish(
                replies_stream(self.account), {"id": message.fields.get("id", b""), "reply": reply}
            )
            await self.bus.ack(stream, GROUP, [message.id])

    async def answer(self, message: BusMessage) -> bytes:
        command_id = message.fields.get("id", b"").decode()
        if not command_id:
            return orjson.dumps({"ok": False, "error": "the command has no id"})
        stored = await self.replies.recall(self.account, command_id)
        if stored is not None:
            self.replayed += 1
            return stored
        kind = message.fields.get("kind", b"").decode()
        try:
            data = orjson.loads(message.fields.get("data", b"{}"))
            reply = {"ok": True, "data": self.handler.handle(kind, data, self.clock.now_ns())}
        except (CommandError, orjson.JSONDecodeError) as exc:
            reply = {"ok": False, "error": str(exc)}
        encoded = orjson.dumps(reply)
        self.handled += 1
        if not await self.replies.remember(self.account, command_id, encoded):
            encoded = await self.replies.recall(self.account, command_id) or encoded
        return encoded
