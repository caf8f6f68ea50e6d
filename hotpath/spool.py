"""The outbox that survives the process: every event that speaks of money (orders, fills, the
kill switch, a session's start) is written to a file before it is queued, and the publisher's
progress is recorded, so that a hot path killed while the bus was away sends on its restart
what it had not delivered, in order.

The spool holds one JSON line per event, numbered; each queued event keeps its number, and a
small marker file holds the number of the last one the bus took, replaced atomically after
each delivery that moved it. A restart queues the events numbered past the marker before
anything new (lines at or below it are not even decoded). Not written: market data (quote
samples, closed bars), which the feed and the market-data store give again and which would
cost the tick loop a write a bar; and decision candidates, which only the process that made
them is waiting for (a restarted strategy decides afresh on its next bar). An event delivered
just before a crash, whose marker was not yet written, is sent again: consumers key on the
event's own identity (a deal id, an order id and its state), so a second copy changes
nothing. Writes are unbuffered `os.write` calls (the page cache outlives the process; no
fsync per event), like the paper venue's journal. A write that fails (a full disk) does not
lose the event: it is queued all the same, counted in `unspooled` and logged, and only a
crash before the bus takes it would lose it. The spool is emptied once everything in it is
delivered and it has grown past `compact_bytes`, and on a clean close.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import orjson

from domain.messages import (
    EVENTS,
    BarClosed,
    DecisionCandidate,
    Event,
    QuoteSampled,
    UnreadableMessageError,
    body,
    read,
)
from engine.outbox import Outbox

NOT_SPOOLED: tuple[type[Event], ...] = (QuoteSampled, BarClosed, DecisionCandidate)
UNSPOOLED = 0  # the number of a queued event whose write failed: it is in memory only
log = logging.getLogger("aitp.hotpath.spool")


class SpooledOutbox(Outbox):
    __slots__ = (
        "_compact_bytes",
        "_delivered",
        "_fd",
        "_marker",
        "_numbers",
        "_path",
        "_written",
        "restored",
        "unspooled",
    )

    def __init__(
        self, path: Path, capacity: int = 100_000, compact_bytes: int = 16 * 2**20
    ) -> None:
        super().__init__(capacity)
        self._path = path
        self._marker = path.with_name(path.name + ".delivered")
        self._compact_bytes = compact_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._delivered = self._read_marker()
        self._written = self._delivered
        self._numbers: deque[int] = deque()  # of the spooled events queued, oldest first
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._cut_torn_tail()
        self.restored = 0  # events a previous process left undelivered, queued first
        self.unspooled = 0  # events whose write failed (queued in memory all the same)
        for number, event in self._undelivered():
            self._events.append(event)
            self._numbers.append(number)
            self.restored += 1

    def emit(self, event: Event) -> None:
        if not isinstance(event, NOT_SPOOLED):
            self._numbers.append(self._spool(event))
        super().emit(event)

    def sent(self, events: list[Event]) -> None:
        """The bus took `events`, the oldest queued: move the marker past their numbers."""
        last = UNSPOOLED
        for event in events:
            if not isinstance(event, NOT_SPOOLED):
                last = self._numbers.popleft() or last
        if last == UNSPOOLED:
            return
        self._delivered = last
        staged = self._marker.with_name(self._marker.name + ".tmp")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"%d" % last)
        finally:
            os.close(fd)
        os.replace(staged, self._marker)
        if not self._numbers and os.fstat(self._fd).st_size > self._compact_bytes:
            os.ftruncate(self._fd, 0)  # all delivered: the numbers go on from the marker

    @property
    def undelivered(self) -> int:
        """Spooled events queued and not yet taken by the bus."""
        return len(self._numbers)

    def close(self) -> None:
        """A clean stop: with everything delivered, the spool is emptied."""
        if not self._numbers:
            os.ftruncate(self._fd, 0)
        os.close(self._fd)

    def _spool(self, event: Event) -> int:
        number = self._written + 1
        line = b'{"n":%d,"type":"%s","v":%d,"data":%s}\n' % (
            number, event.TYPE.encode(), event.VERSION, body(event)
        )  # fmt: skip
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.unspooled += 1
            log.error("event %s not spooled (%s): kept in memory only", event.TYPE, exc)
            self._cut_torn_tail()  # a part written must not stand before the next line
            return UNSPOOLED
        self._written = number
        return number

    def _read_marker(self) -> int:
        if not self._marker.exists():
            return 0
        text = self._marker.read_text().strip()
        if not text.isdigit():
            # a marker torn by a power cut: send the whole spool again (copies change nothing)
            log.warning("outbox marker %s unreadable (%r): resending the spool", self._marker, text)
            return 0
        return int(text)

    def _undelivered(self) -> Iterator[tuple[int, Event]]:
        with self._path.open("rb") as handle:
            for n, raw in enumerate(handle, 1):
                try:
                    record = orjson.loads(raw)
                    number = int(record["n"])
                    self._written = max(self._written, number)
                    if number <= self._delivered:
                        continue  # delivered: not decoded, whatever its version
                    event = read(record["type"], record["v"], record["data"])
                except (orjson.JSONDecodeError, UnreadableMessageError, KeyError) as exc:
                    raise UnreadableMessageError(f"{self._path} line {n}: {exc}") from None
                if not isinstance(event, EVENTS):
                    raise UnreadableMessageError(f"{self._path} line {n}: {event.TYPE} is no event")
                yield number, event

    def _cut_torn_tail(self) -> None:
        """A process killed mid-write leaves a last line without its newline: not an event,
        and the next one must not be appended to it."""
        if not os.fstat(self._fd).st_size:
            return
        with self._path.open("rb") as handle:
            data = handle.read()
        if not data.endswith(b"\n"):
            os.ftruncate(self._fd, data.rfind(b"\n") + 1)
