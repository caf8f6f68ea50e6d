"""A restart's rebuild: the paper venue's journal replayed, or what a real broker holds taken
over, before the first tick; and an order sent by an earlier life looked up at the venue.

Nothing here is emitted or sent again: all of it happened before the restart.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.messages import (
    FillReported,
    FillSource,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    SubmitOrder,
)
from domain.orders import Fill, Order, OrderState, Side
from domain.positions import Position
from engine.broker_events import BrokerEvents
from engine.journal_codec import JournalEntry
from engine.orders import OrderDesk
from engine.state import EngineState


class Recovery:
    def __init__(self, state: EngineState, desk: OrderDesk, events: BrokerEvents) -> None:
        self.state = state
        self.desk = desk
        self.events = events

    def restore(self, entries: Iterable[JournalEntry]) -> int:
        """Rebuild orders, books, broker and strategy positions from the venue's journal.
        Returns the number of entries replayed."""
        state = self.state
        replayed = 0
        for entry in entries:
            replayed += 1
            message = entry.message
            if isinstance(message, SubmitOrder):
                order = message.order()
                order.submit()
                state.orders[order.client_order_id] = order
                state.gate.remember(order.client_order_id)
                state.broker.restore_order(order)
            elif isinstance(message, OrderAccepted):
                order = state.orders[message.client_order_id]
                if order.state is OrderState.SUBMITTED:
                    order.accept(message.broker_order_id)
            elif isinstance(message, FillReported):
                state.quotes.update(entry.quotes)
                self._restore_fill(message)
            else:  # rejected, cancelled or expired: the venue no longer works it
                state.broker.restore_removed(message.client_order_id)
                gone = state.orders.get(message.client_order_id)
                if gone is not None and not gone.state.terminal:
                    if isinstance(message, OrderCancelled):
                        gone.cancel(message.reason)
                    elif isinstance(message, OrderExpired):
                        gone.expire()
                    else:
                        gone.reject(message.reason)
        self.desk.resume_ids(state.orders)
        return replayed

    def _restore_fill(self, message: FillReported) -> None:
        state = self.state
        fill, symbol = message.fill(), message.symbol
        known = state.orders.get(fill.client_order_id)
        state.broker.restore_fill(fill, symbol, known)
        if known is not None:
            known.apply_fill(fill)
        profit = self.events.book(fill, symbol)
        named = known.strategy if known else None
        source = FillSource.of(fill.reason, named, known is not None, direct=False)
        self.events.report(fill, symbol, known, source, profit)
        owner = state.strategy(known.strategy) if known and known.strategy else None
        for strategy in [owner] if owner else state.by_symbol[symbol]:
            strategy.on_fill(fill)

    def adopt(
        self, positions: Iterable[tuple[Position, str | None]], resting: Iterable[Order]
    ) -> None:
        """Take over what a real broker reports after a restart: positions (each strategy gets
        its own back) and resting orders (known ids, never to be sent again)."""
        state = self.state
        for position, strategy_name in positions:
            state.book.adopt(position)
            owner = state.strategy(strategy_name) if strategy_name else None
            if owner is not None:
                side = Side.BUY if position.volume > 0 else Side.SELL
                owner.on_fill(
                    Fill(
                        f"adopt-{position.position_id}",
                        "adopted",
                        side,
                        abs(position.volume),
                        position.avg_price,
                        0,
                    )
                )
        for order in resting:
            order.submit()
            order.accept()
            state.orders[order.client_order_id] = order
            state.gate.remember(order.client_order_id)

    def recall(self, client_order_id: str) -> Order | None:
        """The order under this id: known here, or sent by the process before a restart and
        found at the venue (then taken back, never to be sent again)."""
        state = self.state
        known = state.orders.get(client_order_id)
        if known is not None:
            return known
        found = state.broker.recall(client_order_id)
        if found is None:
            return None
        order, events = found
        order.submit()
        state.orders[client_order_id] = order
        state.gate.remember(client_order_id)
        self.events.handle(events)
        return order
