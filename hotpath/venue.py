"""What the engine needs from wherever its orders go: the paper broker or a real one."""

from __future__ import annotations

from concurrent.futures import Future
from decimal import Decimal
from typing import Protocol

from domain.market import Bar, QuoteTick
from domain.orders import Fill, Order
from domain.paper import BrokerEvent
from domain.replies import VenueReport


class Venue(Protocol):
    @property
    def active(self) -> bool:
        """Something a price may act on, or a reply to collect: call on_tick."""

    def submit(self, order: Order, now: int) -> list[BrokerEvent]: ...

    def cancel(self, client_order_id: str) -> list[BrokerEvent]: ...

    def amend(
        self, client_order_id: str, price: Decimal | None, volume: Decimal | None
    ) -> list[BrokerEvent]: ...

    def on_tick(self, tick: QuoteTick) -> list[BrokerEvent]: ...

    def on_bar(self, bar: Bar, ask: Bar | None = None) -> list[BrokerEvent]: ...

    def working(self) -> list[Order]: ...

    def restore_order(self, order: Order) -> None: ...

    def restore_fill(self, fill: Fill, symbol: str, order: Order | None) -> None: ...

    def restore_removed(self, client_order_id: str) -> None: ...

    def recall(self, client_order_id: str) -> tuple[Order, list[BrokerEvent]] | None:
        """An order sent before a restart that the restored state does not show, if the venue
        holds it, with the events that bring it up to date; None when it never got there."""

    def statement(self, since_ns: int) -> Future[VenueReport] | None:
        """The venue's own statement of the account, read where it keeps it (MT5's history,
        positions and account), for reconciliation; None where every deal passes through the
        engine and its record is the venue's (the paper broker, journaled)."""
