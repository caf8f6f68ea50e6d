"""The engine: ticks or bars in, orders and events out; the same code live and in replay.

It holds no clock of its own (every input carries its timestamp) and does no I/O: the
process around it (`hotpath.__main__`) feeds it and drains its outbox to the bus, a backtest
replays history through it. Per tick it does the least it can: remember the quote, let the
broker see it only when something is working there, and extend the open bar. Indicators and
strategies run when a bar closes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.bars import BarBuilder
from domain.instruments import Instrument
from domain.market import Bar, QuoteTick
from domain.market_data import Timeframe
from domain.messages import (
    BarClosed,
    DecisionCandidate,
    FillReported,
    FillSource,
    KillSwitchEngaged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderResubmitted,
    OrderUnresolved,
    QuoteSampled,
    SubmitOrder,
)
from domain.messages import SwapCharged as SwapBooked
from domain.orders import Fill, Order, OrderState, Side
from domain.paper import (
    Accepted,
    Amended,
    BrokerEvent,
    Cancelled,
    Expired,
    Filled,
    Rejected,
    Resubmitted,
    SwapCharged,
    Unresolved,
)
from domain.positions import Book, LiveQuoteRates, Position
from domain.replies import VenuePosition, VenueReport
from domain.risk import (
    KILL_SWITCH,
    AccountState,
    DailyPnl,
    Reason,
    RiskGate,
    account_state,
)
from domain.strategies import OrderIntent, Strategy
from hotpath.journal import JournalEntry
from hotpath.outbox import Outbox
from hotpath.venue import Venue
from ml.features import FeatureState


def _highest_seq(prefix: str, orders: Mapping[str, Order]) -> int:
    seqs = [
        int(cid.rsplit("-", 1)[1])
        for cid in orders
        if cid.startswith(prefix + "-") and cid.rsplit("-", 1)[1].isdigit()
    ]
    return max(seqs, default=0)


@dataclass
class EngineStats:
    ticks: int = 0
    bars: int = 0
    orders: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    exec_ns: list[int] = field(default_factory=list)  # risk gate + broker + events, per order


class Engine:
    def __init__(
        self,
        account: str,
        instruments: Mapping[str, Instrument],
        strategies: Sequence[Strategy],
        broker: Venue,
        gate: RiskGate,
        outbox: Outbox,
        currency: str = "USD",
        balance: Decimal = Decimal(0),
        hedging: bool = False,
        timeframe: Timeframe = Timeframe.M1,
        id_prefix: str = "",
        quote_sample_ns: int = 250_000_000,
        measure: bool = False,
        quotes: dict[str, QuoteTick] | None = None,
        route: str = "direct",
    ) -> None:
        self.account = account
        self.instruments = instruments
        self.strategies = list(strategies)
        self.broker = broker
        self.gate = gate
        self.quotes: dict[str, QuoteTick] = quotes if quotes is not None else {}
        self.book = Book(currency, instruments, LiveQuoteRates(self.quotes), hedging, balance)
        self.outbox = outbox
        self.timeframe = timeframe
        self.stats = EngineStats()
        self.orders: dict[str, Order] = {}
        # every deal, by client order id: what a query or a reconciliation reports
        self.fills: dict[str, list[FillReported]] = {}
        self._builders = {s: BarBuilder(s, timeframe) for s in instruments}
        # the model's features, one definition with training's (ml.features)
        self._features = {s: FeatureState() for s in instruments}
        self._by_symbol: dict[str, list[Strategy]] = {s: [] for s in instruments}
        for strategy in self.strategies:
            self._by_symbol[strategy.symbol].append(strategy)
        self._owner: dict[str, Strategy] = {}  # client order id -> strategy
        self._intents: dict[str, OrderIntent] = {}
        self._prefix = id_prefix or account[:8]
        self._seq = 0
        self._quote_sample_ns = quote_sample_ns
        self._last_sample: dict[str, int] = {}
        self._measure = measure
        self.enabled = {s.name: True for s in self.strategies}
        # "direct": intents become orders here; "decision": they go out as decision candidates
        # and come back as orders from the decision workflow
        if route not in ("direct", "decision"):
            raise ValueError(f"route must be direct or decision, not {route!r}")
        self.route = route
        self._awaiting: dict[str, OrderIntent] = {}  # strategy -> intent out for a decision
        self._day = DailyPnl()

    # --- inputs -------------------------------------------------------------------------
    def on_tick(self, tick: QuoteTick) -> None:
        self.stats.ticks += 1
        symbol = tick.symbol
        last = self.quotes.get(symbol)  # the closing quote of a bar this tick closes
        self.quotes[symbol] = tick
        if self.broker.active:
            self._handle(self.broker.on_tick(tick))
        closed = self._builders[symbol].on_price(tick.ts, tick.bid, tick.bid_volume)
        if closed is not None:
            self._bar_closed(closed, None if last is None else last.ask - last.bid)
        if tick.ts - self._last_sample.get(symbol, 0) >= self._quote_sample_ns:
            self._last_sample[symbol] = tick.ts
            self.outbox.emit(QuoteSampled(symbol=symbol, ts=tick.ts, bid=tick.bid, ask=tick.ask))
        for strategy in self._by_symbol[symbol]:
            for intent in strategy.on_tick(tick):
                self._execute(intent, tick.ts)

    def on_bar(self, bar: Bar, ask: Bar | None = None) -> None:
        """Bar replay: the broker fills at this bar first, then the bar closes for strategies."""
        self.quotes[bar.symbol] = QuoteTick(
            bar.symbol, bar.end_ts, bar.close, ask.close if ask is not None else bar.close
        )
        self._handle(self.broker.on_bar(bar, ask))
        self._bar_closed(bar, None if ask is None else ask.close - bar.close)

    def close_bars(self, now: int) -> None:
        """A timer: close bars whose period ended in a quiet market."""
        for builder in self._builders.values():
            closed = builder.close_until(now)
            if closed is not None:
                last = self.quotes.get(closed.symbol)
                self._bar_closed(closed, None if last is None else last.ask - last.bid)

    # --- bars and decisions -------------------------------------------------------------
    def _bar_closed(self, bar: Bar, spread: float | None) -> None:
        self.stats.bars += 1
        features = self._features[bar.symbol]
        features.update(bar.ts, bar.high, bar.low, bar.close, spread)
        self.outbox.emit(
            BarClosed(
                symbol=bar.symbol,
                timeframe=bar.timeframe.value,
                ts=bar.ts,
                o=bar.open,
                h=bar.high,
                l=bar.low,
                c=bar.close,
                v=bar.volume,
            )
        )
        for strategy in self._by_symbol[bar.symbol]:
            intents = strategy.on_bar(bar)
            if not intents:
                continue
            if not self.enabled[strategy.name]:
                for intent in intents:
                    strategy.on_reject(intent)
                continue
            snapshot, closes = features.snapshot(), features.closes()
            instrument = self.instruments[bar.symbol]
            for intent in intents:
                self.outbox.emit(
                    DecisionCandidate(
                        account=self.account,
                        symbol=intent.symbol,
                        strategy=intent.strategy,
                        bar_ts=bar.ts,
                        side=intent.side,
                        volume=intent.volume,
                        reason=intent.reason,
                        features={**snapshot, **intent.features},
                        closes=closes,
                        order_type=intent.order_type,
                        price=_price(instrument, intent.price),
                        stop_loss=_price(instrument, intent.stop_loss),
                        take_profit=_price(instrument, intent.take_profit),
                        decide=self.route == "decision",
                    )
                )
                if self.route == "decision":
                    self._awaiting[intent.strategy] = intent
                else:
                    self._execute(intent, bar.end_ts)

    # --- orders -------------------------------------------------------------------------
    def next_client_order_id(self) -> str:
        self._seq += 1
        return f"{self._prefix}-{self._seq}"

    def _execute(self, intent: OrderIntent, now: int) -> None:
        started = time.perf_counter_ns() if self._measure else 0
        instrument = self.instruments[intent.symbol]
        order = Order(
            self.next_client_order_id(),
            intent.symbol,
            intent.side,
            intent.volume,
            intent.order_type,
            strategy=intent.strategy,
            price=_price(instrument, intent.price),
            stop_loss=_price(instrument, intent.stop_loss),
            take_profit=_price(instrument, intent.take_profit),
        )
        self.submit(order, now, owner=self._strategy(intent.strategy), intent=intent)
        if self._measure:
            self.stats.exec_ns.append(time.perf_counter_ns() - started)

    def submit(
        self,
        order: Order,
        now: int,
        owner: Strategy | None = None,
        intent: OrderIntent | None = None,
    ) -> bool:
        """Risk gate, then broker; the one path every order takes. True if the broker took it."""
        self.stats.orders += 1
        if order.client_order_id in self.orders:  # never let a duplicate replace the original
            self._refuse(order, Reason.DUPLICATE_CLIENT_ID, "this client order id was already used")
            return False
        instrument = self.instruments.get(order.symbol)
        if instrument is None:
            self._refuse(order, Reason.UNKNOWN_SYMBOL, f"{order.symbol} is not traded here")
            return False
        self.orders[order.client_order_id] = order
        quote = self.quotes.get(order.symbol)
        decision = self.gate.check(order, instrument, quote, self._account(now), now)
        if not decision.accepted:
            assert decision.reason is not None
            self._refuse(order, decision.reason, decision.detail)
            if owner is not None and intent is not None:
                owner.on_reject(intent)
            return False
        if owner is not None and intent is not None:
            self._owner[order.client_order_id] = owner
            self._intents[order.client_order_id] = intent
        order.submit()
        self._handle(self.broker.submit(order, now))
        return order.state is not OrderState.REJECTED

    def _refuse(self, order: Order, reason: Reason, detail: str) -> None:
        order.reject(reason.value)
        self.stats.rejected[reason.value] = self.stats.rejected.get(reason.value, 0) + 1
        self.outbox.emit(
            OrderRejected(client_order_id=order.client_order_id, reason=reason.value, detail=detail)
        )

    def cancel(self, client_order_id: str) -> bool:
        order = self.orders.get(client_order_id)
        if order is None or order.state.terminal:
            return False
        order.request_cancel()
        # a remote venue hands over whatever else it has to report with its answer
        events = self.broker.cancel(client_order_id)
        refused = _refusals(events, client_order_id)
        if refused:
            order.cancel_refused()
        self._handle([e for e in events if e not in refused])  # the rest: through on_tick
        return not refused

    def amend(
        self, client_order_id: str, price: Decimal | None, volume: Decimal | None
    ) -> tuple[bool, str]:
        """Ask the venue for a new price and/or volume; (taken now, or why not)."""
        order = self.orders.get(client_order_id)
        if order is None or order.state not in (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED):
            return False, "no working order with this id"
        if price is not None:
            price = self.instruments[order.symbol].round_price(price)
        events = self.broker.amend(client_order_id, price, volume)
        refused = _refusals(events, client_order_id)
        self._handle([e for e in events if e not in refused])
        return (False, refused[0].reason) if refused else (True, "")

    def kill(self, flatten: bool, now: int) -> dict[str, Any]:
        """Engage the kill switch: cancel every working order, and flatten if asked."""
        self.gate.kill_switch.engage(self.account, flatten)
        cancelled = [
            o.client_order_id for o in self.broker.working() if self.cancel(o.client_order_id)
        ]
        flattened = []
        if flatten:
            for pos in list(self.book):
                order = Order(
                    self.next_client_order_id(),
                    pos.symbol,
                    Side.SELL if pos.volume > 0 else Side.BUY,
                    abs(pos.volume),
                    strategy=KILL_SWITCH,
                )
                self.submit(order, now)
                flattened.append(order.client_order_id)
        self.outbox.emit(
            KillSwitchEngaged(
                account=self.account, flatten=flatten, cancelled=cancelled, flattened=flattened
            )
        )
        return {"engaged": True, "cancelled": cancelled, "flattened": flattened}

    def restore(self, entries: Iterable[JournalEntry]) -> int:
        """Rebuild orders, books, broker and strategy positions from the venue's journal.

        Runs before the first tick after a restart; nothing is emitted or sent, since all of
        it happened before. Returns the number of entries replayed.
        """
        replayed = 0
        for entry in entries:
            replayed += 1
            message = entry.message
            if isinstance(message, SubmitOrder):
                order = message.order()
                order.submit()
                self.orders[order.client_order_id] = order
                self.gate.remember(order.client_order_id)
                self.broker.restore_order(order)
            elif isinstance(message, OrderAccepted):
                order = self.orders[message.client_order_id]
                if order.state is OrderState.SUBMITTED:
                    order.accept(message.broker_order_id)
            elif isinstance(message, FillReported):
                self.quotes.update(entry.quotes)
                fill, symbol = message.fill(), message.symbol
                known = self.orders.get(fill.client_order_id)
                self.broker.restore_fill(fill, symbol, known)
                if known is not None:
                    known.apply_fill(fill)
                profit = self._book(fill, symbol)
                named = known.strategy if known else None
                source = FillSource.of(fill.reason, named, known is not None, direct=False)
                self._report(fill, symbol, known, source, profit)
                owner = self._strategy(known.strategy) if known and known.strategy else None
                for strategy in [owner] if owner else self._by_symbol[symbol]:
                    strategy.on_fill(fill)
            else:  # rejected, cancelled or expired: the venue no longer works it
                self.broker.restore_removed(message.client_order_id)
                gone = self.orders.get(message.client_order_id)
                if gone is not None and not gone.state.terminal:
                    if isinstance(message, OrderCancelled):
                        gone.cancel(message.reason)
                    elif isinstance(message, OrderExpired):
                        gone.expire()
                    else:
                        gone.reject(message.reason)
        self._seq = max(self._seq, _highest_seq(self._prefix, self.orders))
        return replayed

    def adopt(
        self, positions: Iterable[tuple[Position, str | None]], resting: Iterable[Order]
    ) -> None:
        """Take over what a real broker reports after a restart: positions (each strategy gets
        its own back) and resting orders (known ids, never to be sent again)."""
        for position, strategy_name in positions:
            self.book.adopt(position)
            owner = self._strategy(strategy_name) if strategy_name else None
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
            self.orders[order.client_order_id] = order
            self.gate.remember(order.client_order_id)

    def recall(self, client_order_id: str) -> Order | None:
        """The order under this id: known here, or sent by the process before a restart and
        found at the venue (then taken back, never to be sent again)."""
        known = self.orders.get(client_order_id)
        if known is not None:
            return known
        found = self.broker.recall(client_order_id)
        if found is None:
            return None
        order, events = found
        order.submit()
        self.orders[client_order_id] = order
        self.gate.remember(client_order_id)
        self._handle(events)
        return order

    def intent_rejected(self, strategy_name: str) -> bool:
        """The decision said no: the strategy stops waiting for a fill."""
        intent = self._awaiting.pop(strategy_name, None)
        owner = self._strategy(strategy_name)
        if intent is None or owner is None:
            return False
        owner.on_reject(intent)
        return True

    def _strategy(self, name: str) -> Strategy | None:
        return next((s for s in self.strategies if s.name == name), None)

    def _account(self, now: int) -> AccountState:
        self._day.roll(now)
        limits = self.gate.limits
        return account_state(
            self.book, self.instruments, self.quotes, self._day.realised, limits.leverage
        )

    def _handle(self, events: list[BrokerEvent]) -> None:
        for event in events:
            if isinstance(event, Filled):
                self._filled(event.fill, event.symbol, event.in_book)
            elif isinstance(event, Accepted):
                order = self.orders[event.client_order_id]
                if order.state is OrderState.SUBMITTED:
                    order.accept(event.broker_order_id)
                self.outbox.emit(
                    OrderAccepted(
                        client_order_id=event.client_order_id,
                        broker_order_id=event.broker_order_id,
                    )
                )
            elif isinstance(event, Rejected):
                order = self.orders[event.client_order_id]
                if not order.state.terminal:
                    order.reject(event.reason)
                self._release(event.client_order_id, reject=True)
                self.outbox.emit(
                    OrderRejected(client_order_id=event.client_order_id, reason=event.reason)
                )
            elif isinstance(event, Cancelled | Expired):
                order = self.orders[event.client_order_id]
                self._release(event.client_order_id, reject=True)
                if isinstance(event, Cancelled):
                    order.cancel(event.reason)
                    self.outbox.emit(
                        OrderCancelled(client_order_id=order.client_order_id, reason=event.reason)
                    )
                else:
                    order.expire()
                    self.outbox.emit(OrderExpired(client_order_id=order.client_order_id))
            elif isinstance(event, Amended):
                order = self.orders[event.client_order_id]
                order.amend(event.price, event.volume)
                self.outbox.emit(
                    OrderAmended(
                        client_order_id=event.client_order_id,
                        price=order.price,
                        volume=order.volume,
                    )
                )
            elif isinstance(event, Unresolved):
                order = self.orders[event.client_order_id]
                order.mark_unresolved(event.detail)
                self.outbox.emit(
                    OrderUnresolved(client_order_id=event.client_order_id, detail=event.detail)
                )
            elif isinstance(event, Resubmitted):
                self.orders[event.client_order_id].submit()
                self.outbox.emit(OrderResubmitted(client_order_id=event.client_order_id))
            elif isinstance(event, SwapCharged):
                rate = self.book.rates.rate(
                    self.instruments[event.symbol].currency_profit, self.book.currency
                )
                amount = event.amount * rate
                self.book.charge_swap(event.position_id, amount)
                ts = max((q.ts for q in self.quotes.values()), default=0)
                self._day.add(ts, amount)
                self.outbox.emit(
                    SwapBooked(
                        position_id=event.position_id,
                        symbol=event.symbol,
                        amount=amount,
                        ts=ts,
                    )
                )

    def _filled(self, fill: Fill, symbol: str, in_book: bool = False) -> None:
        self.stats.fills += 1
        if symbol not in self.instruments:  # the broker's deal in a symbol not traded here
            source = FillSource.of(fill.reason, None, known=False, direct=False)
            self.outbox.emit(self._report(fill, symbol, None, source, fill.profit or Decimal(0)))
            return  # for the books; this engine has no contract to value it with
        order = self.orders.get(fill.client_order_id)
        if order is not None:
            order.apply_fill(fill)
        owner = self._owner.get(fill.client_order_id)
        source = FillSource.of(
            fill.reason, order.strategy if order else None, order is not None, owner is not None
        )
        if owner is None and order is not None and order.strategy:
            owner = self._strategy(order.strategy)  # sent by a decision on its behalf
            if owner is not None:
                self._awaiting.pop(order.strategy, None)
        profit = Decimal(0)
        if in_book:  # the adopted positions hold it, for the books and the strategies alike
            pass
        elif owner is None:  # a broker-side close (SL/TP): every strategy on the symbol hears it
            profit = self._book(fill, symbol)
            for strategy in self._by_symbol[symbol]:
                strategy.on_fill(fill)
        else:
            profit = self._book(fill, symbol)
            owner.on_fill(fill)
        if order is not None and order.state.terminal:
            self._release(fill.client_order_id)
        self.outbox.emit(self._report(fill, symbol, order, source, profit))

    def _book(self, fill: Fill, symbol: str) -> Decimal:
        """Book the deal; the profit it realised, before its costs."""
        return self.book.apply(fill, symbol) + fill.commission - fill.swap

    def _report(
        self, fill: Fill, symbol: str, order: Order | None, source: FillSource, profit: Decimal
    ) -> FillReported:
        """The deal as the venue reports it, kept for queries and reconciliation."""
        report = FillReported.of(
            fill,
            symbol,
            profit=profit,
            source=source,
            strategy=order.strategy if order is not None else None,
            order_state=order.state.value if order is not None else None,
            net_volume=self.book.net(symbol),
        )
        self.fills.setdefault(fill.client_order_id, []).append(report)
        self._day.add(fill.ts, profit - fill.commission + fill.swap)
        return report

    def _release(self, client_order_id: str, reject: bool = False) -> None:
        owner = self._owner.pop(client_order_id, None)
        intent = self._intents.pop(client_order_id, None)
        if reject and owner is not None and intent is not None:
            owner.on_reject(intent)

    def venue_state(self, since_ns: int = 0) -> VenueReport:
        """What the venue holds for the account: every deal it reported, positions and cash.
        The books in PostgreSQL must equal this; reconciliation compares against it."""
        return VenueReport(
            fills=[f for fills in self.fills.values() for f in fills if f.ts >= since_ns],
            positions=[VenuePosition.of(p) for p in self.book],
            balance=self.book.balance,
            currency=self.book.currency,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "orders": len(self.orders),
            "positions": {p.symbol: str(p.volume) for p in self.book},
        }


def _refusals(events: list[BrokerEvent], client_order_id: str) -> list[Rejected]:
    """The venue's refusal of this request, among the other news it hands over with it."""
    return [e for e in events if isinstance(e, Rejected) and e.client_order_id == client_order_id]


def _price(instrument: Instrument, price: float | None) -> Decimal | None:
    return instrument.round_price(price) if price is not None else None
