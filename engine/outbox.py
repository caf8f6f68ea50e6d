"""Events leaving the engine, held until the bus takes them.

The engine never waits on the bus: it appends here and moves on. `capacity` is the backlog
the account trades with: past it the oldest quote samples go first, and the order desk
halts new orders (reason `backlog`) while protective ones (closing a position, the kill
switch's flattening) still go. An order's or a fill's event is never dropped, so what the
protective orders and the working orders' fills add is kept past the bound, with the alarm
raised, until the bus is back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from domain.messages import Event, QuoteSampled

DROPPABLE: tuple[type[Event], ...] = (QuoteSampled,)


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
            self.alarm = True  # kept all the same: an order's or a fill's event is never lost
        events.append(event)
        self.emitted += 1
        if self.wakeup is not None:
            self.wakeup()

    @property
    def backlogged(self) -> bool:
        """At or past the bound: the bus is away long enough that new orders halt."""
        return len(self._events) >= self.capacity

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

    def sent(self, batch: list[Event]) -> None:
        """The bus took `batch`, the oldest taken. Nothing to do in memory; an outbox that
        keeps its events on disk (`hotpath.spool`) records its progress here."""

    def __len__(self) -> int:
        return len(self._events)
