"""The paper venue's memory: what was submitted, cancelled and filled, appended as it happens.

With the paper broker inside the hot path, a `kill -9` would take the venue's state with it.
Every order the broker accepts and every broker event is appended to a JSON-lines file with
one unbuffered write (the page cache survives the process, so no fsync per order is paid),
and a restarted hot path replays it to rebuild the broker, the orders, the books and the
strategies' positions before it trades again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from domain.market import QuoteTick
from domain.orders import Fill, Order, OrderType, Side, TimeInForce
from domain.paper import Accepted, BrokerEvent, Cancelled, Expired, Filled, PaperBroker, Rejected


class PaperJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _append(self, record: dict[str, Any]) -> None:
        os.write(self._fd, orjson.dumps(record, default=str) + b"\n")

    def submitted(self, order: Order, now: int) -> None:
        self._append({"t": "submit", "now": now, "order": _order_record(order)})

    def event(self, event: BrokerEvent, quotes: Mapping[str, QuoteTick] | None = None) -> None:
        if isinstance(event, Filled):
            f = event.fill
            self._append(
                {
                    "t": "fill",
                    "symbol": event.symbol,
                    # the quotes the books converted this fill's profit with
                    "quotes": {s: [q.ts, q.bid, q.ask] for s, q in (quotes or {}).items()},
                    "fill": {
                        "fill_id": f.fill_id,
                        "client_order_id": f.client_order_id,
                        "side": f.side.value,
                        "volume": str(f.volume),
                        "price": str(f.price),
                        "ts": f.ts,
                        "commission": str(f.commission),
                        "position_id": f.position_id,
                        "reason": f.reason,
                    },
                }
            )
        elif isinstance(event, Accepted):
            self._append(
                {
                    "t": "accepted",
                    "id": event.client_order_id,
                    "broker_order_id": event.broker_order_id,
                }
            )
        elif isinstance(event, Rejected | Cancelled):
            self._append(
                {
                    "t": "removed",
                    "id": event.client_order_id,
                    "state": "rejected" if isinstance(event, Rejected) else "cancelled",
                    "reason": event.reason,
                }
            )
        elif isinstance(event, Expired):
            self._append(
                {
                    "t": "removed",
                    "id": event.client_order_id,
                    "state": "expired",
                    "reason": "expired",
                }
            )

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for line in handle:
                if line.endswith(b"\n"):  # a torn last line (killed mid-write) is not a record
                    yield orjson.loads(line)

    def close(self) -> None:
        os.close(self._fd)


class JournaledPaperBroker(PaperBroker):
    """The paper broker, with every accepted order and every event journaled as it happens."""

    def __init__(
        self,
        journal: PaperJournal,
        quotes: Mapping[str, QuoteTick],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.journal = journal
        self.quotes = quotes  # the engine's latest quotes, shared

    def submit(self, order: Order, now: int) -> list[BrokerEvent]:
        events = super().submit(order, now)
        if any(isinstance(e, Accepted) for e in events):
            self.journal.submitted(order, now)
        for event in events:
            self.journal.event(event, self.quotes)
        return events

    def cancel(self, client_order_id: str) -> list[BrokerEvent]:
        return self._journaled(super().cancel(client_order_id))

    def _on_prices(self, symbol: str, p: Any) -> list[BrokerEvent]:
        return self._journaled(super()._on_prices(symbol, p))

    def _journaled(self, events: list[BrokerEvent]) -> list[BrokerEvent]:
        for event in events:
            if not isinstance(event, Rejected):
                self.journal.event(event, self.quotes)
        return events


def _order_record(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "volume": str(order.volume),
        "order_type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
        "price": _s(order.price),
        "stop_price": _s(order.stop_price),
        "expire_at": order.expire_at,
        "strategy": order.strategy,
        "stop_loss": _s(order.stop_loss),
        "take_profit": _s(order.take_profit),
    }


def _s(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _d(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def order_from(record: dict[str, Any]) -> Order:
    return Order(
        client_order_id=record["client_order_id"],
        symbol=record["symbol"],
        side=Side(record["side"]),
        volume=Decimal(record["volume"]),
        order_type=OrderType(record["order_type"]),
        time_in_force=TimeInForce(record["time_in_force"]),
        price=_d(record["price"]),
        stop_price=_d(record["stop_price"]),
        expire_at=record["expire_at"],
        strategy=record["strategy"],
        stop_loss=_d(record["stop_loss"]),
        take_profit=_d(record["take_profit"]),
    )


def fill_from(record: dict[str, Any]) -> Fill:
    return Fill(
        record["fill_id"],
        record["client_order_id"],
        Side(record["side"]),
        Decimal(record["volume"]),
        Decimal(record["price"]),
        record["ts"],
        Decimal(record["commission"]),
        record["position_id"],
        record["reason"],
    )
