"""The broker port: what the engine needs from wherever its orders go, and what comes back.

The paper broker (`domain.paper`) and the MetaTrader 5 venue (`hotpath.mt5_venue`) both speak
it, so the one engine (`engine.core`) trades live and replays history through either. Every
answer is a list of broker events: a venue hands over whatever it has to report with the
answer to a request, and the engine applies all of it.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domain.market import Bar, QuoteTick
from domain.orders import Fill, Order
from domain.replies import VenueReport


@dataclass(frozen=True, slots=True)
class Accepted:
    client_order_id: str
    broker_order_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    client_order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Cancelled:
    client_order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Expired:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class Filled:
    fill: Fill
    symbol: str
    final: bool  # the order is complete
    # Already counted in the positions a restarted hot path took over from the broker: the
    # order and the event stream learn of it, the books must not count it twice.
    in_book: bool = False


@dataclass(frozen=True, slots=True)
class SwapCharged:
    position_id: str
    symbol: str
    amount: Decimal  # profit currency; negative is a charge


@dataclass(frozen=True, slots=True)
class Amended:
    """The broker took the new price and/or volume; the order object carries them from now."""

    client_order_id: str
    price: Decimal | None
    volume: Decimal | None


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A real broker's outcome is unknown; the order is being looked up before any resend."""

    client_order_id: str
    detail: str


@dataclass(frozen=True, slots=True)
class Resubmitted:
    """Looked up and proved absent at the broker: sent once more."""

    client_order_id: str


BrokerEvent = (
    Accepted
    | Rejected
    | Cancelled
    | Expired
    | Filled
    | SwapCharged
    | Unresolved
    | Resubmitted
    | Amended
)


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
