"""The order desk: ids, the risk gate and the venue, for every order whoever sends it.

A strategy's intent, a trader's order, a decision's order and the kill switch's flattening
all take `submit`: duplicate ids are refused, the gate judges the account as it stands, and
only then does the venue see the order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal

from domain.instruments import Instrument
from domain.messages import OrderRejected
from domain.orders import Order, OrderState, OrderType
from domain.risk import Reason, RiskDecision, closes_only
from domain.strategies import OrderIntent, Strategy
from domain.venue import BrokerEvent, Rejected
from engine.broker_events import BrokerEvents
from engine.state import EngineState


class OrderDesk:
    def __init__(
        self, state: EngineState, events: BrokerEvents, id_prefix: str, measure: bool = False
    ) -> None:
        self.state = state
        self.events = events
        self.prefix = id_prefix
        self.seq = 0
        self._measure = measure

    def next_client_order_id(self) -> str:
        self.seq += 1
        return f"{self.prefix}-{self.seq}"

    def resume_ids(self, orders: Mapping[str, Order]) -> None:
        """After a restart: never hand out an id an earlier life already used."""
        self.seq = max(self.seq, highest_seq(self.prefix, orders))

    def execute(self, intent: OrderIntent, now: int) -> None:
        """A strategy's intent becomes its order."""
        started = time.perf_counter_ns() if self._measure else 0
        instrument = self.state.instruments[intent.symbol]
        order = Order(
            self.next_client_order_id(),
            intent.symbol,
            intent.side,
            intent.volume,
            intent.order_type,
            strategy=intent.strategy,
            price=rounded(instrument, intent.price),
            stop_loss=rounded(instrument, intent.stop_loss),
            take_profit=rounded(instrument, intent.take_profit),
        )
        self.submit(order, now, owner=self.state.strategy(intent.strategy), intent=intent)
        if self._measure:
            self.state.stats.exec_ns.append(time.perf_counter_ns() - started)

    def submit(
        self,
        order: Order,
        now: int,
        owner: Strategy | None = None,
        intent: OrderIntent | None = None,
    ) -> bool:
        """Risk gate, then broker; the one path every order takes. True if the broker took it."""
        state = self.state
        state.stats.orders += 1
        if order.client_order_id in state.orders:  # never let a duplicate replace the original
            self._refuse(order, Reason.DUPLICATE_CLIENT_ID, "this client order id was already used")
            return False
        instrument = state.instruments.get(order.symbol)
        if instrument is None:
            self._refuse(order, Reason.UNKNOWN_SYMBOL, f"{order.symbol} is not traded here")
            return False
        state.orders[order.client_order_id] = order
        quote = state.quotes.get(order.symbol)
        if state.outbox.backlogged and not closes_only(order, state.book.net(order.symbol)):
            waiting = len(state.outbox)
            decision = RiskDecision(
                False,
                Reason.BACKLOG,
                f"{waiting} events wait for the bus; new orders halt until it takes them "
                "(closing orders still go)",
            )
        else:
            decision = state.gate.check(order, instrument, quote, state.account_state(now), now)
        if not decision.accepted:
            assert decision.reason is not None
            self._refuse(order, decision.reason, decision.detail)
            if owner is not None and intent is not None:
                owner.on_reject(intent)
            return False
        if owner is not None and intent is not None:
            state.owner[order.client_order_id] = owner
            state.intents[order.client_order_id] = intent
        order.submit()
        self.events.handle(state.broker.submit(order, now))
        return order.state is not OrderState.REJECTED

    def _refuse(self, order: Order, reason: Reason, detail: str) -> None:
        order.reject(reason.value)
        rejected = self.state.stats.rejected
        rejected[reason.value] = rejected.get(reason.value, 0) + 1
        self.state.outbox.emit(
            OrderRejected(client_order_id=order.client_order_id, reason=reason.value, detail=detail)
        )

    def cancel(self, client_order_id: str) -> bool:
        order = self.state.orders.get(client_order_id)
        if order is None or order.state.terminal:
            return False
        order.request_cancel()
        # a remote venue hands over whatever else it has to report with its answer
        events = self.state.broker.cancel(client_order_id)
        refused = refusals(events, client_order_id)
        if refused:
            order.cancel_refused()
        self.events.handle([e for e in events if e not in refused])
        return not refused

    def amend(
        self, client_order_id: str, price: Decimal | None, volume: Decimal | None
    ) -> tuple[bool, str]:
        """Ask the venue for a new price and/or volume; (taken now, or why not)."""
        order = self.state.orders.get(client_order_id)
        if order is None or order.state not in (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED):
            return False, "no working order with this id"
        if price is not None and order.order_type is OrderType.MARKET:
            return False, "a market order has no price to amend"
        if price is not None:
            price = self.state.instruments[order.symbol].round_price(price)
        events = self.state.broker.amend(client_order_id, price, volume)
        refused = refusals(events, client_order_id)
        self.events.handle([e for e in events if e not in refused])
        return (False, refused[0].reason) if refused else (True, "")


def refusals(events: list[BrokerEvent], client_order_id: str) -> list[Rejected]:
    """The venue's refusal of this request, among the other news it hands over with it."""
    return [e for e in events if isinstance(e, Rejected) and e.client_order_id == client_order_id]


def rounded(instrument: Instrument, price: float | None) -> Decimal | None:
    """A strategy's price on the instrument's tick grid."""
    return instrument.round_price(price) if price is not None else None


def highest_seq(prefix: str, orders: Mapping[str, Order]) -> int:
    seqs = [
        int(cid.rsplit("-", 1)[1])
        for cid in orders
        if cid.startswith(prefix + "-") and cid.rsplit("-", 1)[1].isdigit()
    ]
    return max(seqs, default=0)
