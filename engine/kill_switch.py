"""The account's emergency stop, engaged from the engine: every working order cancelled and,
if asked, every position closed by orders that the engaged switch still lets through."""

from __future__ import annotations

from typing import Any

from domain.messages import KillSwitchEngaged
from domain.orders import Order, Side
from domain.risk import KILL_SWITCH
from engine.orders import OrderDesk
from engine.state import EngineState


def engage(state: EngineState, desk: OrderDesk, flatten: bool, now: int) -> dict[str, Any]:
    """Engage the switch; what was cancelled and which orders flatten the account."""
    state.gate.kill_switch.engage(state.account, flatten)
    cancelled = [
        o.client_order_id for o in state.broker.working() if desk.cancel(o.client_order_id)
    ]
    flattened = []
    if flatten:
        for position in list(state.book):
            order = Order(
                desk.next_client_order_id(),
                position.symbol,
                Side.SELL if position.volume > 0 else Side.BUY,
                abs(position.volume),
                strategy=KILL_SWITCH,
            )
            desk.submit(order, now)
            flattened.append(order.client_order_id)
    state.outbox.emit(
        KillSwitchEngaged(
            account=state.account, flatten=flatten, cancelled=cancelled, flattened=flattened
        )
    )
    return {"engaged": True, "cancelled": cancelled, "flattened": flattened}
