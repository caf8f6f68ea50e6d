"""Orders and the one state machine they live by.

An order changes state only through the methods below; each checks the transition against
`TRANSITIONS` and raises `IllegalTransition` otherwise, so a late or duplicated broker event
can never silently rewrite an order. Fills carry the broker's deal id and are applied at most
once. An unknown outcome (a lost reply, a time-out) is `UNRESOLVED`, never a failure: the order
is looked up at the broker before anything is re-sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

MAX_CLIENT_ORDER_ID = 24  # travels in MT5's comment (31 documented, less at some brokers)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    DAY = "day"
    GTD = "gtd"
    IOC = "ioc"
    FOK = "fok"


class OrderState(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNRESOLVED = "unresolved"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def working(self) -> bool:
        """At the broker (or maybe at the broker) and not finished."""
        return not self.terminal and self is not OrderState.NEW


S = OrderState
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
_FILLABLE = {S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.CANCEL_REQUESTED, S.UNRESOLVED}
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED}),
    S.SUBMITTED: frozenset(
        {
            S.ACCEPTED,
            S.REJECTED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.EXPIRED,
            S.UNRESOLVED,
            S.CANCEL_REQUESTED,
            S.CANCELLED,
        }
    ),
    S.ACCEPTED: frozenset(
        {
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCEL_REQUESTED,
            S.CANCELLED,
            S.EXPIRED,
            S.UNRESOLVED,
            S.ACCEPTED,
        }  # an amend acknowledged
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_REQUESTED, S.CANCELLED, S.EXPIRED, S.UNRESOLVED}
    ),
    # a fill may overtake a cancel; a refused cancel returns the order to where it was
    S.CANCEL_REQUESTED: frozenset(
        {S.CANCELLED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED, S.ACCEPTED, S.UNRESOLVED}
    ),
    # looked up at the broker: found in some state, or not found and sent again (SUBMITTED)
    S.UNRESOLVED: frozenset(
        {S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
    ),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class OrderSeen:
    """An order's state and broker id as its owner last saw them: what a record of the order
    keeps where its state machine runs elsewhere (the order workflow's)."""

    state: OrderState
    broker_order_id: str | None = None


class OrderError(ValueError):
    """An order that cannot be as given. `field` names the one field at fault where there is
    one, and `why` says what is wrong with it, so an edge can point at the field (a 422's
    `errors[].field`) without reading the message."""

    def __init__(self, message: str, field: str | None = None, why: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.why = why or message


class IllegalTransition(OrderError):  # noqa: N818  (the name is the trader's)
    def __init__(self, order: Order, target: OrderState, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(
            f"order {order.client_order_id}: {order.state} -> {target} is not allowed{detail}"
        )
        self.current = order.state
        self.target = target


def validate_client_order_id(value: str) -> str:
    if not 1 <= len(value) <= MAX_CLIENT_ORDER_ID:
        raise OrderError(
            f"client order id {value!r} must be 1 to {MAX_CLIENT_ORDER_ID} characters",
            "client_order_id",
        )
    if not all(33 <= ord(ch) <= 126 for ch in value):
        raise OrderError(
            f"client order id {value!r} must be printable ASCII without spaces", "client_order_id"
        )
    return value


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str  # the broker's deal ticket
    client_order_id: str
    side: Side
    volume: Decimal
    price: Decimal
    ts: int
    commission: Decimal = Decimal(0)  # account currency, a cost (positive)
    position_id: str | None = None  # hedging accounts: the position this fill closes
    reason: str = "order"  # or "sl", "tp": a broker-side close nobody sent an order for
    swap: Decimal = Decimal(0)  # account currency, credited (+) or charged (-), as MT5 books it
    # The profit the venue says the deal realised (account currency, before costs): MT5
    # reports it on every deal, and the balance is the venue's. None: computed from the book.
    profit: Decimal | None = None


@dataclass(slots=True)
class Order:
    client_order_id: str
    symbol: str
    side: Side
    volume: Decimal
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.GTC
    price: Decimal | None = None  # limit price
    stop_price: Decimal | None = None
    expire_at: int | None = None  # ns, GTD
    stop_loss: Decimal | None = None  # brackets for the position this order opens
    take_profit: Decimal | None = None
    strategy: str | None = None
    magic: int | None = None
    reduce_only: bool = False
    state: OrderState = OrderState.NEW
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str | None = None  # why rejected, cancelled, expired or unresolved
    fill_ids: set[str] = field(default_factory=set)
    history: list[OrderState] = field(default_factory=list)

    @property
    def priced(self) -> bool:
        """Carries a price, a stop, a bracket or an expiry: something a broker checks."""
        return (
            self.price is not None
            or self.stop_price is not None
            or self.stop_loss is not None
            or self.take_profit is not None
            or self.expire_at is not None
        )

    def __post_init__(self) -> None:
        validate_client_order_id(self.client_order_id)
        if self.volume <= 0:
            raise self._invalid("volume", "volume must be positive")
        needs_price = self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_price and self.price is None:
            raise self._invalid("price", f"a {self.order_type} order needs a price")
        if needs_stop and self.stop_price is None:
            raise self._invalid("stop_price", f"a {self.order_type} order needs a stop price")
        if self.time_in_force is TimeInForce.GTD and self.expire_at is None:
            raise self._invalid("expire_at", "GTD needs an expiry time")

    def _invalid(self, field: str, why: str) -> OrderError:
        return OrderError(f"order {self.client_order_id}: {why}", field, why)

    @property
    def cancel_pending(self) -> bool:
        return self.state is S.CANCEL_REQUESTED

    @property
    def leaves(self) -> Decimal:
        return self.volume - self.filled

    def _move(self, target: OrderState, why: str = "") -> None:
        if target not in TRANSITIONS[self.state]:
            raise IllegalTransition(self, target, why)
        self.history.append(self.state)
        self.state = target

    def submit(self) -> None:
        self._move(S.SUBMITTED)

    def accept(self, broker_order_id: str | None = None) -> None:
        self._move(S.ACCEPTED)
        if broker_order_id is not None:
            self.broker_order_id = broker_order_id

    def reject(self, reason: str) -> None:
        self._move(S.REJECTED)
        self.reason = reason

    def amend(self, price: Decimal | None = None, volume: Decimal | None = None) -> None:
        """A working order's new limit price and/or total volume, acknowledged by the broker.
        A cancel may be on its way meanwhile: the venue works the order until it confirms the
        cancel, and an amend it took before stands."""
        if self.state not in (S.ACCEPTED, S.PARTIALLY_FILLED, S.CANCEL_REQUESTED):
            raise IllegalTransition(self, self.state, "only a working order can be amended")
        if volume is not None and volume <= self.filled:
            raise self._invalid(
                "volume", f"volume {volume} must stay above the {self.filled} already filled"
            )
        if price is not None and self.order_type is OrderType.MARKET:
            raise self._invalid("price", "a market order has no price")
        self.history.append(self.state)
        if price is not None:
            self.price = price
        if volume is not None:
            self.volume = volume

    def request_cancel(self) -> None:
        self._move(S.CANCEL_REQUESTED)

    def cancel_refused(self) -> None:
        """The broker kept the order: back to accepted, or partially filled."""
        if self.state is not S.CANCEL_REQUESTED:
            raise IllegalTransition(self, S.ACCEPTED, "no cancel was requested")
        self.history.append(self.state)
        self.state = S.PARTIALLY_FILLED if self.filled > 0 else S.ACCEPTED

    def cancel(self, reason: str = "cancelled") -> None:
        self._move(S.CANCELLED)
        self.reason = reason

    def expire(self) -> None:
        self._move(S.EXPIRED)
        self.reason = "expired"

    def mark_unresolved(self, reason: str) -> None:
        self._move(S.UNRESOLVED)
        self.reason = reason

    def apply_fill(self, fill: Fill) -> bool:
        """Apply a fill once; False (and nothing changes) if this deal was applied before."""
        if fill.fill_id in self.fill_ids:
            return False
        if fill.client_order_id != self.client_order_id or fill.side is not self.side:
            raise OrderError(f"fill {fill.fill_id} does not belong to order {self.client_order_id}")
        if self.state not in _FILLABLE:
            raise IllegalTransition(self, S.FILLED, f"fill {fill.fill_id} on a {self.state} order")
        if fill.volume <= 0 or fill.volume > self.leaves:
            raise OrderError(
                f"fill {fill.fill_id} of {fill.volume} exceeds the {self.leaves} left on "
                f"order {self.client_order_id}"
            )
        done = self.filled + fill.volume
        paid = (self.avg_fill_price or Decimal(0)) * self.filled + fill.price * fill.volume
        self._move(S.FILLED if done == self.volume else S.PARTIALLY_FILLED)
        self.filled = done
        self.avg_fill_price = paid / done
        self.fill_ids.add(fill.fill_id)
        return True
