"""Events leaving the engine, held in a bounded buffer until the bus takes them.

The engine never waits on the bus: it appends here and moves on. When the buffer is full
(the bus is down for long) the oldest quote samples go first, never an order or a fill; if
even those would be lost the outbox refuses and raises the alarm, and the counters say so.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from domain.messages import Event, QuoteSampled

DROPPABLE: tuple[type[Event], ...] = (QuoteSampled,)


class OutboxFullError(RuntimeError):
    pass


class Outbox:
    __slots__ = ("_events", "alarm", "capacity", "dropped", "emitted", "wakeup")

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._events: deque[Event] = deque()
        self.emitted = 0
        self.dropped = 0
        self.alarm = False
        self.wakeup: Callable[[], None] | None = None  # the publisher's doorbell

    def emit(self, event: Event) -> None:
        events = self._events
        if len(events) >= self.capacity and not self._drop_one_sample():
            self.alarm = True
            raise OutboxFullError(
                f"{len(events)} events wait for the bus and none can be dropped; "
                "the hot path stops trading rather than lose an order or a fill"
            )
        events.append(event)
        self.emitted += 1
        if self.wakeup is not None:
            self.wakeup()

    def _drop_one_sample(self) -> bool:
        for i, event in enumerate(self._events):
            if isinstance(event, DROPPABLE):
                del self._events[i]
                self.dropped += 1
                return True
        return False

    def take(self, limit: int = 1000) -> list[Event]:
        """The oldest events, for the publisher; put them `back` if publishing fails."""
        out: list[Event] = []
        events = self._events
        while events and len(out) < limit:
            out.append(events.popleft())
        return out

    def back(self, batch: list[Event]) -> None:
        self._events.extendleft(reversed(batch))

    def __len__(self) -> int:
        return len(self._events)
