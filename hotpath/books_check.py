"""After a restart: do the books in PostgreSQL agree with what the broker says?

The broker is the truth for positions and working orders; PostgreSQL holds what the order
workflows recorded. Every disagreement is reported (logged as an error and counted), never
silently "fixed": an order the books think is working but the broker does not know, or a
position that differs, needs a person or the order's workflow to reconcile it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from domain.orders import OrderState

WORKING = {
    OrderState.SUBMITTED,
    OrderState.ACCEPTED,
    OrderState.PARTIALLY_FILLED,
    OrderState.CANCEL_REQUESTED,
    OrderState.UNRESOLVED,
}


def differences(
    broker_orders: Mapping[str, OrderState],
    broker_positions: Mapping[str, Decimal],
    book_orders: Mapping[str, str],
    book_positions: Mapping[str, Decimal],
) -> list[str]:
    """What the books (PostgreSQL) get wrong, in words an operator can act on."""
    found = []
    for cid, state in sorted(book_orders.items()):
        if OrderState(state) not in WORKING:
            continue
        at_broker = broker_orders.get(cid)
        if at_broker is None:
            found.append(f"order {cid} is {state} in the books but unknown to the broker")
        elif at_broker.terminal:
            found.append(f"order {cid} is {state} in the books but {at_broker.value} at the broker")
    for symbol in sorted(set(broker_positions) | set(book_positions)):
        held = broker_positions.get(symbol, Decimal(0))
        booked = book_positions.get(symbol, Decimal(0))
        if held != booked:
            found.append(f"{symbol}: the broker holds {held}, the books say {booked}")
    return found
