"""The paper venue's memory: what was submitted, cancelled and filled, appended as it happens.

With the paper broker inside the hot path, a `kill -9` would take the venue's state with it.
Every order the broker accepts and every broker event is appended to a JSON-lines file with
one unbuffered write (the page cache survives the process, so no fsync per order is paid),
and a restarted hot path replays it to rebuild the broker, the orders, the books and the
strategies' positions before it trades again.

Each line is a message of `domain.messages` in its envelope, written by the one codec: the
order as submitted (`SubmitOrder`), acceptance, rejection, cancellation, expiry and the deal
(`FillReported`, with the quotes its profit was converted at). Journals written before the
envelope (lines with a `t` key) are read as the same messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from domain.market import QuoteTick
from domain.messages import (
    FillReported,
    FillSource,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    SubmitOrder,
    UnreadableMessageError,
    body,
    read,
)
from domain.orders import Order, Side
from domain.paper import Accepted, BrokerEvent, Cancelled, Expired, Filled, PaperBroker, Rejected

JournalMessage = (
    SubmitOrder | OrderAccepted | OrderRejected | OrderCancelled | OrderExpired | FillReported
)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    message: JournalMessage
    ts: int = 0  # when the venue wrote it (a submission's engine time)
    quotes: Mapping[str, QuoteTick] = field(default_factory=dict)  # a fill's conversion quotes


class PaperJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _append(
        self, message: JournalMessage, ts: int = 0, quotes: Mapping[str, QuoteTick] | None = None
    ) -> None:
        line = b'{"type":"%s","v":%d,"ts":%d,"data":%s' % (
            message.TYPE.encode(),
            message.VERSION,
            ts,
            body(message),
        )
        if quotes:
            line += b',"quotes":' + orjson.dumps(
                {s: [q.ts, q.bid, q.ask] for s, q in quotes.items()}
            )
        os.write(self._fd, line + b"}\n")

    def submitted(self, order: Order, now: int) -> None:
        self._append(SubmitOrder.of(order), now)

    def event(self, event: BrokerEvent, quotes: Mapping[str, QuoteTick] | None = None) -> None:
        if isinstance(event, Filled):
            self._append(FillReported.of(event.fill, event.symbol), event.fill.ts, quotes)
        elif isinstance(event, Accepted):
            self._append(
                OrderAccepted(
                    client_order_id=event.client_order_id, broker_order_id=event.broker_order_id
                )
            )
        elif isinstance(event, Rejected):
            self._append(OrderRejected(client_order_id=event.client_order_id, reason=event.reason))
        elif isinstance(event, Cancelled):
            self._append(OrderCancelled(client_order_id=event.client_order_id, reason=event.reason))
        elif isinstance(event, Expired):
            self._append(OrderExpired(client_order_id=event.client_order_id))

    def entries(self) -> Iterator[JournalEntry]:
        """Every record, oldest first; a torn last line (killed mid-write) is not a record."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for n, line in enumerate(handle, 1):
                if not line.endswith(b"\n"):
                    continue
                try:
                    yield _entry(orjson.loads(line))
                except (orjson.JSONDecodeError, UnreadableMessageError, KeyError) as exc:
                    raise UnreadableMessageError(f"{self.path} line {n}: {exc}") from None

    def close(self) -> None:
        os.close(self._fd)


_SOURCE = {"sl": FillSource.STOP_LOSS, "tp": FillSource.TAKE_PROFIT}


def _entry(record: dict[str, Any]) -> JournalEntry:
    if "t" in record:
        return _legacy(record)
    message = read(record["type"], record["v"], record["data"])
    quotes = {
        s: QuoteTick(s, ts, bid, ask) for s, (ts, bid, ask) in record.get("quotes", {}).items()
    }
    return JournalEntry(message, record.get("ts", 0), quotes)  # type: ignore[arg-type]


def _legacy(record: dict[str, Any]) -> JournalEntry:
    """A line of a journal written before the envelope."""
    kind = record["t"]
    if kind == "submit":
        return JournalEntry(read("submit", 1, record["order"]), record.get("now", 0))  # type: ignore[arg-type]
    if kind == "accepted":
        accepted = OrderAccepted(
            client_order_id=record["id"], broker_order_id=record.get("broker_order_id")
        )
        return JournalEntry(accepted)
    if kind == "fill":
        f = record["fill"]
        deal = FillReported(
            fill_id=f["fill_id"],
            client_order_id=f["client_order_id"],
            symbol=record["symbol"],
            side=Side(f["side"]),
            volume=Decimal(f["volume"]),
            price=Decimal(f["price"]),
            ts=f["ts"],
            commission=Decimal(f["commission"]),
            position_id=f.get("position_id"),
            source=_SOURCE.get(f.get("reason") or "", FillSource.ORDER),
        )
        quotes = {s: QuoteTick(s, ts, bid, ask) for s, (ts, bid, ask) in record["quotes"].items()}
        return JournalEntry(deal, f["ts"], quotes)
    cid, state = record["id"], record["state"]
    reason = record.get("reason") or state
    if state == "cancelled":
        return JournalEntry(OrderCancelled(client_order_id=cid, reason=reason))
    if state == "expired":
        return JournalEntry(OrderExpired(client_order_id=cid))
    return JournalEntry(OrderRejected(client_order_id=cid, reason=reason))


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
