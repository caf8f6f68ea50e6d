"""The outbox that survives the process: every event but market data is written to a file
before it is queued, and the publisher's progress is recorded, so that a hot path killed
while the bus was away sends on its restart what it had not delivered, in order.

The spool holds one JSON line per event, numbered; a small marker file holds the number of
the last event the bus took, replaced atomically after each delivery that moved it. A restart
queues the events numbered past the marker before anything new. Market data (quote samples,
closed bars) is not written: the feed and the market-data store give it again, and a bar a
minute per symbol would cost the tick loop a write each. An event delivered just before a
crash, whose marker was not yet written, is sent again: consumers key on the event's own
identity (a deal id, an order id and its state), so a second copy changes nothing. Writes are
unbuffered `os.write` calls (the page cache outlives the process; no fsync per event), like
the paper venue's journal; the spool is emptied once everything in it is delivered and it
has grown past `compact_bytes`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from domain.messages import (
    EVENTS,
    BarClosed,
    Event,
    QuoteSampled,
    UnreadableMessageError,
    body,
    read,
)
from engine.outbox import Outbox

MARKET_DATA: tuple[type[Event], ...] = (QuoteSampled, BarClosed)  # not spooled


class SpooledOutbox(Outbox):
    __slots__ = ("_compact_bytes", "_delivered", "_fd", "_marker", "_path", "_written", "restored")

    def __init__(
        self, path: Path, capacity: int = 100_000, compact_bytes: int = 16 * 2**20
    ) -> None:
        super().__init__(capacity)
        self._path = path
        self._marker = path.with_name(path.name + ".delivered")
        self._compact_bytes = compact_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._delivered = int(self._marker.read_text()) if self._marker.exists() else 0
        self._written = self._delivered
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._cut_torn_tail()
        self.restored = 0  # events a previous process left undelivered, queued first
        for number, event in self._spooled():
            self._written = max(self._written, number)
            if number > self._delivered:
                self._events.append(event)
                self.restored += 1

    def emit(self, event: Event) -> None:
        if not isinstance(event, MARKET_DATA):
            self._written += 1
            os.write(self._fd, b'{"n":%d,"type":"%s","v":%d,"data":%s}\n' % (
                self._written, event.TYPE.encode(), event.VERSION, body(event)
            ))  # fmt: skip
        super().emit(event)

    def sent(self, events: list[Event]) -> None:
        """The bus took `events`, the oldest queued: move the marker past the kept ones."""
        kept = sum(1 for e in events if not isinstance(e, MARKET_DATA))
        if not kept:
            return
        self._delivered += kept
        staged = self._marker.with_name(self._marker.name + ".tmp")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"%d" % self._delivered)
        finally:
            os.close(fd)
        os.replace(staged, self._marker)
        if self._delivered == self._written and os.fstat(self._fd).st_size > self._compact_bytes:
            os.ftruncate(self._fd, 0)  # all delivered: the numbers go on from the marker

    @property
    def undelivered(self) -> int:
        """Kept events written and not yet taken by the bus."""
        return self._written - self._delivered

    def close(self) -> None:
        os.close(self._fd)

    def _spooled(self) -> Iterator[tuple[int, Event]]:
        with self._path.open("rb") as handle:
            for n, raw in enumerate(handle, 1):
                try:
                    record = orjson.loads(raw)
                    event = read(record["type"], record["v"], record["data"])
                    number = int(record["n"])
                except (orjson.JSONDecodeError, UnreadableMessageError, KeyError) as exc:
                    raise UnreadableMessageError(f"{self._path} line {n}: {exc}") from None
                if not isinstance(event, EVENTS):
                    raise UnreadableMessageError(f"{self._path} line {n}: {event.TYPE} is no event")
                yield number, event

    def _cut_torn_tail(self) -> None:
        """A process killed mid-write leaves a last line without its newline: not an event,
        and the next one must not be appended to it."""
        size = os.fstat(self._fd).st_size
        if not size:
            return
        with self._path.open("rb") as handle:
            data = handle.read()
        if not data.endswith(b"\n"):
            os.ftruncate(self._fd, data.rfind(b"\n") + 1)
