"""Replies of the hot path that carry money, in the shape their readers rely on.

The command consumer answers every command with a `Reply` (`domain.messages`); these are the
`data` of the answers that workflows and reconciliation read field by field: an order's
status with its deals, and the venue's own account of deals, positions and cash. They are
written with the messages' codec and read back with `read_reply`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.messages import FillReported
from domain.orders import Order
from domain.positions import Position


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatus:
    """An order as the hot path knows it: the answer to submit, cancel, amend and query."""

    client_order_id: str
    state: str
    volume: Decimal
    filled: Decimal
    price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str | None = None
    fills: list[FillReported] | None = None  # a query's answer: every deal so far
    cancelled: bool | None = None  # a cancel's answer
    amended: bool | None = None  # an amend's answer

    @classmethod
    def of(cls, order: Order, **answer: Any) -> OrderStatus:
        return cls(
            client_order_id=order.client_order_id,
            state=order.state.value,
            volume=order.volume,
            filled=order.filled,
            price=order.price,
            avg_fill_price=order.avg_fill_price,
            broker_order_id=order.broker_order_id,
            reason=order.reason,
            **answer,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VenuePosition:
    position_id: str
    symbol: str
    volume: Decimal  # signed
    avg_price: Decimal

    @classmethod
    def of(cls, position: Position) -> VenuePosition:
        return cls(
            position_id=position.position_id,
            symbol=position.symbol,
            volume=position.volume,
            avg_price=position.avg_price,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueReport:
    """The answer to `QueryVenue`: what the venue holds, which the books must equal."""

    fills: list[FillReported]
    positions: list[VenuePosition]
    balance: Decimal
    currency: str
