"""Draining the outbox to the event bus, without ever making the tick loop wait.

A failed publish puts the batch back at the head of the outbox and backs off; the hot path
keeps trading meanwhile, the outbox holds what it must (orders, fills) and sheds quote samples
first, and `bus_down_since` tells metrics and logs how long the bus has been away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

from domain.messages import Event, encode
from domain.ports import EventBus
from engine.outbox import Outbox

log = logging.getLogger("aitp.hotpath.publisher")


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        bus: EventBus,
        stream: str,
        batch: int = 500,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.bus = bus
        self.stream = stream
        self.batch = batch
        self.on_event = on_event
        self.published = 0
        self.failures = 0
        self.bus_down_since: float | None = None
        self.last_flush = time.monotonic()  # of the last flush that answered
        # envelope ids: unique across restarts of the process, in order within one
        self._id_prefix = f"{os.getpid():x}.{time.time_ns():x}"
        self._seq = 0

    async def flush(self) -> int:
        """Publish what waits, in order; on failure put it back and raise."""
        events = self.outbox.take(self.batch)
        done = 0
        try:
            for event in events:
                self._seq += 1
                fields = encode(event, f"{self._id_prefix}.{self._seq}", time.time_ns())
                await self.bus.publish(self.stream, fields)
                done += 1
                if self.on_event is not None:
                    self.on_event(event)
        except Exception:
            self.outbox.back(events[done:])
            raise
        finally:
            self.published += done
            self.outbox.sent(events[:done])
        self.last_flush = time.monotonic()
        return done

    def flush_age_s(self) -> float:
        """Seconds since a flush last answered: it runs at least every 50 ms while well."""
        return time.monotonic() - self.last_flush

    async def run(self, stop: asyncio.Event) -> None:
        ready = asyncio.Event()
        self.outbox.wakeup = ready.set  # an event waits for no poll interval
        backoff = 0.05
        while not stop.is_set() or len(self.outbox):
            try:
                sent = await self.flush()
                if self.bus_down_since is not None:
                    down = time.monotonic() - self.bus_down_since
                    log.warning("event bus back after %.1fs; %d events delivered", down, sent)
                    self.bus_down_since = None
                backoff = 0.05
                if not sent:
                    if stop.is_set():
                        return
                    ready.clear()
                    if not len(self.outbox):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(ready.wait(), 0.05)
            except Exception as exc:  # the bus is down: keep the events, keep trading
                self.failures += 1
                if self.bus_down_since is None:
                    self.bus_down_since = time.monotonic()
                    log.error(
                        "event bus unavailable (%s); %d events buffered", exc, len(self.outbox)
                    )
                if stop.is_set() and time.monotonic() - self.bus_down_since > 5:
                    log.error("stopping with %d events undelivered", len(self.outbox))
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
