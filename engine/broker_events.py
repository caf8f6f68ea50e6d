"""What the venue reports, applied: orders move through their states, deals reach the book
and the strategy that owns them, and every change leaves as an event.

A venue hands over whatever it has to report with each answer, so this is the one place a
broker event is applied, whichever request brought it.
"""

from __future__ import annotations

from decimal import Decimal

from domain import messages, venue
from domain.messages import SwapCharged as SwapBooked
from domain.orders import Fill, Order, OrderState
from engine.state import EngineState


class BrokerEvents:
    def __init__(self, state: EngineState) -> None:
        self.state = state

    def handle(self, events: list[venue.BrokerEvent]) -> None:
        for event in events:
            if isinstance(event, venue.Filled):
                self.filled(event.fill, event.symbol, event.in_book)
            elif isinstance(event, venue.Accepted):
                self._accepted(event)
            elif isinstance(event, venue.Rejected):
                self._rejected(event)
            elif isinstance(event, venue.Cancelled | venue.Expired):
                self._removed(event)
            elif isinstance(event, venue.Amended):
                order = self.state.orders[event.client_order_id]
                order.amend(event.price, event.volume)
                self.state.outbox.emit(
                    messages.OrderAmended(
                        client_order_id=event.client_order_id,
                        price=order.price,
                        volume=order.volume,
                    )
                )
            elif isinstance(event, venue.Unresolved):
                self.state.orders[event.client_order_id].mark_unresolved(event.detail)
                self.state.outbox.emit(
                    messages.OrderUnresolved(
                        client_order_id=event.client_order_id, detail=event.detail
                    )
                )
            elif isinstance(event, venue.Resubmitted):
                self.state.orders[event.client_order_id].submit()
                self.state.outbox.emit(
                    messages.OrderResubmitted(client_order_id=event.client_order_id)
                )
            elif isinstance(event, venue.SwapCharged):
                self._swap(event)

    def _accepted(self, event: venue.Accepted) -> None:
        order = self.state.orders[event.client_order_id]
        if order.state is OrderState.SUBMITTED:
            order.accept(event.broker_order_id)
        self.state.outbox.emit(
            messages.OrderAccepted(
                client_order_id=event.client_order_id, broker_order_id=event.broker_order_id
            )
        )

    def _rejected(self, event: venue.Rejected) -> None:
        order = self.state.orders[event.client_order_id]
        if not order.state.terminal:
            order.reject(event.reason)
        self.release(event.client_order_id, reject=True)
        self.state.outbox.emit(
            messages.OrderRejected(client_order_id=event.client_order_id, reason=event.reason)
        )

    def _removed(self, event: venue.Cancelled | venue.Expired) -> None:
        order = self.state.orders[event.client_order_id]
        self.release(event.client_order_id, reject=True)
        if isinstance(event, venue.Cancelled):
            order.cancel(event.reason)
            self.state.outbox.emit(
                messages.OrderCancelled(client_order_id=order.client_order_id, reason=event.reason)
            )
        else:
            order.expire()
            self.state.outbox.emit(messages.OrderExpired(client_order_id=order.client_order_id))

    def _swap(self, event: venue.SwapCharged) -> None:
        state = self.state
        rate = state.book.rates.rate(
            state.instruments[event.symbol].currency_profit, state.book.currency
        )
        amount = event.amount * rate
        state.book.charge_swap(event.position_id, amount)
        ts = state.last_quote_ts()
        state.day.add(ts, amount)
        state.outbox.emit(
            SwapBooked(position_id=event.position_id, symbol=event.symbol, amount=amount, ts=ts)
        )

    def filled(self, fill: Fill, symbol: str, in_book: bool = False) -> None:
        state = self.state
        state.stats.fills += 1
        if symbol not in state.instruments:  # the broker's deal in a symbol not traded here
            source = messages.FillSource.of(fill.reason, None, known=False, direct=False)
            state.outbox.emit(self.report(fill, symbol, None, source, fill.profit or Decimal(0)))
            return  # for the books; this engine has no contract to value it with
        order = state.orders.get(fill.client_order_id)
        if order is not None:
            order.apply_fill(fill)
        owner = state.owner.get(fill.client_order_id)
        source = messages.FillSource.of(
            fill.reason, order.strategy if order else None, order is not None, owner is not None
        )
        if owner is None and order is not None and order.strategy:
            owner = state.strategy(order.strategy)  # sent by a decision on its behalf
            if owner is not None:
                state.awaiting.pop(order.strategy, None)
        profit = Decimal(0)
        if in_book:  # the adopted positions hold it, for the books and the strategies alike
            pass
        elif owner is None:  # a broker-side close (SL/TP): every strategy on the symbol hears it
            profit = self.book(fill, symbol)
            for strategy in state.by_symbol[symbol]:
                strategy.on_fill(fill)
        else:
            profit = self.book(fill, symbol)
            owner.on_fill(fill)
        if order is not None and order.state.terminal:
            self.release(fill.client_order_id)
        state.outbox.emit(self.report(fill, symbol, order, source, profit))

    def book(self, fill: Fill, symbol: str) -> Decimal:
        """Book the deal; the profit it realised, before its costs."""
        return self.state.book.apply(fill, symbol) + fill.commission - fill.swap

    def report(
        self,
        fill: Fill,
        symbol: str,
        order: Order | None,
        source: messages.FillSource,
        profit: Decimal,
    ) -> messages.FillReported:
        """The deal as the venue reports it, kept for queries and reconciliation."""
        state = self.state
        report = messages.FillReported.of(
            fill,
            symbol,
            profit=profit,
            source=source,
            strategy=order.strategy if order is not None else None,
            order_state=order.state.value if order is not None else None,
            net_volume=state.book.net(symbol),
        )
        state.fills.setdefault(fill.client_order_id, []).append(report)
        state.day.add(fill.ts, profit - fill.commission + fill.swap)
        return report

    def release(self, client_order_id: str, reject: bool = False) -> None:
        """The order no longer works: its strategy stops waiting (told of a refusal if so)."""
        owner = self.state.owner.pop(client_order_id, None)
        intent = self.state.intents.pop(client_order_id, None)
        if reject and owner is not None and intent is not None:
            owner.on_reject(intent)
