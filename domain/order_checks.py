"""What a broker refuses, checked before anything is sent: a symbol it does not list, a volume
off the instrument's step or outside its limits, a price off the tick (refused, never rounded:
the trader must see the price that will be sent), stops on the wrong side of the price they
protect, and an expiry that does not fit the time in force.

The API answers each refusal with a 422 naming the field before any workflow starts; the
risk gate refuses the same order with `invalid_order`, so an order from any other path meets
the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.instruments import Instrument, InstrumentError
from domain.orders import Order, OrderType, Side, TimeInForce

MAX_EXPIRY_NS = 366 * 86_400 * 1_000_000_000  # a GTD order lives a year at most


@dataclass(frozen=True, slots=True)
class Refusal:
    field: str
    message: str


def refusals(
    order: Order,
    instrument: Instrument,
    bid_ask: tuple[Decimal, Decimal] | None,
    now_ns: int,
) -> list[Refusal]:
    """Every reason the broker would refuse the order, by the field at fault (none: fine)."""
    found: list[Refusal] = []
    try:
        instrument.check_volume(order.volume)
    except InstrumentError as exc:
        found.append(Refusal("volume", str(exc).removeprefix(f"{instrument.symbol}: ")))
    for name in ("price", "stop_price", "stop_loss", "take_profit"):
        value: Decimal | None = getattr(order, name)
        if value is None:
            continue
        try:
            on_tick = value % instrument.tick_size == 0
        except InvalidOperation:  # too many digits for the tick grid
            on_tick = False
        if not on_tick:
            found.append(Refusal(name, f"{value} is not on the tick of {instrument.tick_size}"))
    found.extend(_stops(order, bid_ask))
    found.extend(_expiry(order, now_ns))
    return found


def _stops(order: Order, bid_ask: tuple[Decimal, Decimal] | None) -> list[Refusal]:
    """A buy's stop-loss below the price it protects and its take-profit above; a sell's the
    other way round. The price is the order's own, or the market's for a market order."""
    if order.order_type is OrderType.MARKET:
        if bid_ask is None:
            return []  # no quote here: the broker judges it
        reference = bid_ask[1] if order.side is Side.BUY else bid_ask[0]
    elif order.order_type is OrderType.STOP:
        assert order.stop_price is not None
        reference = order.stop_price
    else:
        assert order.price is not None
        reference = order.price
    buy = order.side is Side.BUY
    found = []
    if order.stop_loss is not None and (
        order.stop_loss >= reference if buy else order.stop_loss <= reference
    ):
        where = "below" if buy else "above"
        found.append(
            Refusal("stop_loss", f"a {order.side.value}'s stop-loss must be {where} {reference}")
        )
    if order.take_profit is not None and (
        order.take_profit <= reference if buy else order.take_profit >= reference
    ):
        where = "above" if buy else "below"
        found.append(
            Refusal(
                "take_profit", f"a {order.side.value}'s take-profit must be {where} {reference}"
            )
        )
    return found


def _expiry(order: Order, now_ns: int) -> list[Refusal]:
    if order.time_in_force is not TimeInForce.GTD:
        if order.expire_at is not None:
            return [Refusal("expire_at", "only a gtd order expires at a time")]
        return []
    if order.expire_at is None:
        return [Refusal("expire_at", "a gtd order needs expire_at")]
    if order.expire_at <= now_ns:
        return [Refusal("expire_at", "expire_at is in the past")]
    if order.expire_at - now_ns > MAX_EXPIRY_NS:
        return [Refusal("expire_at", "expire_at is more than a year ahead")]
    return []
