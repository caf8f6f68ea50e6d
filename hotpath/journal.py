"""The paper venue's memory: what was submitted, cancelled and filled, appended as it happens.

With the paper broker inside the hot path, a `kill -9` would take the venue's state with it.
Every order the broker accepts and every broker event is appended to a JSON-lines file with
one unbuffered write (the page cache survives the process, so no fsync per order is paid),
and a restarted hot path replays it to rebuild the broker, the orders, the books and the
strategies' positions before it trades again.

Each line is written and read by the one codec (`engine.journal_codec`): the order as
submitted, acceptance, rejection, cancellation, expiry and the deal with the quotes its profit
was converted at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from domain.market import QuoteTick
from domain.messages import FillReported, SubmitOrder, UnreadableMessageError
from domain.orders import Order
from domain.paper import PaperBroker
from domain.venue import Accepted, BrokerEvent, Rejected
from engine.journal_codec import JournalEntry, entry, line, message_of


class PaperJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def submitted(self, order: Order, now: int) -> None:
        os.write(self._fd, line(SubmitOrder.of(order), now))

    def event(self, event: BrokerEvent, quotes: Mapping[str, QuoteTick] | None = None) -> None:
        record = message_of(event)
        if record is not None:
            message, ts = record
            kept = quotes if isinstance(message, FillReported) else None  # a deal's conversion
            os.write(self._fd, line(message, ts, kept))

    def entries(self) -> Iterator[JournalEntry]:
        """Every record, oldest first; a torn last line (killed mid-write) is not a record."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for n, raw in enumerate(handle, 1):
                if not raw.endswith(b"\n"):
                    continue
                try:
                    yield entry(orjson.loads(raw))
                except (orjson.JSONDecodeError, UnreadableMessageError, KeyError) as exc:
                    raise UnreadableMessageError(f"{self.path} line {n}: {exc}") from None

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
