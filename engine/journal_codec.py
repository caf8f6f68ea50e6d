"""The paper venue's journal lines: each a message of `domain.messages` in its envelope, with
the time the venue wrote it and, for a deal, the quotes its profit was converted at.

The hot path writes them (`hotpath.journal`) and the engine's recovery reads them back; one
codec for both, so a line written is a line read. Journals written before the envelope (lines
with a `t` key) are read as the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
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
    body,
    read,
)
from domain.orders import Side
from domain.venue import Accepted, BrokerEvent, Cancelled, Expired, Filled, Rejected

JournalMessage = (
    SubmitOrder | OrderAccepted | OrderRejected | OrderCancelled | OrderExpired | FillReported
)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    message: JournalMessage
    ts: int = 0  # when the venue wrote it (a submission's engine time)
    quotes: Mapping[str, QuoteTick] = field(default_factory=dict)  # a fill's conversion quotes


def line(
    message: JournalMessage, ts: int = 0, quotes: Mapping[str, QuoteTick] | None = None
) -> bytes:
    """One journal line, newline included."""
    out = b'{"type":"%s","v":%d,"ts":%d,"data":%s' % (
        message.TYPE.encode(),
        message.VERSION,
        ts,
        body(message),
    )
    if quotes:
        out += b',"quotes":' + orjson.dumps({s: [q.ts, q.bid, q.ask] for s, q in quotes.items()})
    return out + b"}\n"


def message_of(event: BrokerEvent) -> tuple[JournalMessage, int] | None:
    """The journal's record of a broker event, with its time; None for what it does not keep."""
    if isinstance(event, Filled):
        return FillReported.of(event.fill, event.symbol), event.fill.ts
    if isinstance(event, Accepted):
        accepted = OrderAccepted(
            client_order_id=event.client_order_id, broker_order_id=event.broker_order_id
        )
        return accepted, 0
    if isinstance(event, Rejected):
        return OrderRejected(client_order_id=event.client_order_id, reason=event.reason), 0
    if isinstance(event, Cancelled):
        return OrderCancelled(client_order_id=event.client_order_id, reason=event.reason), 0
    if isinstance(event, Expired):
        return OrderExpired(client_order_id=event.client_order_id), 0
    return None


_SOURCE = {"sl": FillSource.STOP_LOSS, "tp": FillSource.TAKE_PROFIT}


def entry(record: dict[str, Any]) -> JournalEntry:
    """A parsed journal line as the engine replays it."""
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
