"""The engine: ticks or bars in, orders and events out; the same code live and in replay.

It holds no clock of its own (every input carries its timestamp) and does no I/O: the
process around it (`hotpath.__main__`) feeds it and drains its outbox to the bus, a backtest
(`research.replay`) replays history through it. Per tick it does the least it can: remember
the quote, let the broker see it only when something is working there, and extend the open
bar. Indicators and strategies run when a bar closes. This module routes; the order desk,
the broker events, the kill switch and the recovery each own their part of the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from domain.bars import BarBuilder
from domain.clock import Clock
from domain.instruments import Instrument
from domain.market import Bar, QuoteTick
from domain.market_data import Timeframe
from domain.messages import BarClosed, DecisionCandidate, FillReported, QuoteSampled
from domain.orders import Order
from domain.positions import Book, LiveQuoteRates, Position
from domain.replies import VenuePosition, VenueReport
from domain.risk import RiskGate
from domain.strategies import OrderIntent, Strategy
from domain.venue import Venue
from engine import kill_switch
from engine.broker_events import BrokerEvents
from engine.journal_codec import JournalEntry
from engine.orders import OrderDesk, rounded
from engine.outbox import Outbox
from engine.recovery import Recovery
from engine.state import EngineState, EngineStats
from ml.features import FeatureState

ROUTES = ("direct", "decision")


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
        deadline_clock: Clock | None = None,
    ) -> None:
        # "direct": intents become orders here; "decision": they go out as decision candidates
        # and come back as orders from the decision workflow. A candidate is worth deciding
        # for one bar from when it goes out, on `deadline_clock` (the wall's in a live
        # process, the clock the bridge reads); without one (a replay, on the data's own
        # time) it carries no deadline.
        if route not in ROUTES:
            raise ValueError(f"route must be direct or decision, not {route!r}")
        self.route = route
        self.deadline_clock = deadline_clock
        quotes = quotes if quotes is not None else {}
        self.state = EngineState(
            account=account,
            instruments=instruments,
            strategies=list(strategies),
            broker=broker,
            gate=gate,
            outbox=outbox,
            quotes=quotes,
            book=Book(currency, instruments, LiveQuoteRates(quotes), hedging, balance),
        )
        self.events = BrokerEvents(self.state)
        self.desk = OrderDesk(self.state, self.events, id_prefix or account[:8], measure)
        self.recovery = Recovery(self.state, self.desk, self.events)
        # the state as the process reads it: the same objects, never replaced
        self.account = account
        self.instruments = instruments
        self.strategies = self.state.strategies
        self.broker = broker
        self.gate = gate
        self.quotes = self.state.quotes
        self.book: Book = self.state.book
        self.orders = self.state.orders
        self.fills = self.state.fills
        self.stats: EngineStats = self.state.stats
        self.enabled = self.state.enabled
        self.timeframe = timeframe
        self._builders = {s: BarBuilder(s, timeframe) for s in instruments}
        # the model's features, one definition with training's (ml.features)
        self._features = {s: FeatureState() for s in instruments}
        self._quote_sample_ns = quote_sample_ns
        self._last_sample: dict[str, int] = {}

    @property
    def outbox(self) -> Outbox:
        """The events waiting for the bus (a test may wrap it to lose some)."""
        return self.state.outbox

    @outbox.setter
    def outbox(self, outbox: Outbox) -> None:
        self.state.outbox = outbox

    # --- inputs -------------------------------------------------------------------------
    def on_tick(self, tick: QuoteTick) -> None:
        state = self.state
        state.stats.ticks += 1
        symbol = tick.symbol
        last = state.quotes.get(symbol)  # the closing quote of a bar this tick closes
        state.quotes[symbol] = tick
        if state.broker.active:
            self.events.handle(state.broker.on_tick(tick))
        closed = self._builders[symbol].on_price(tick.ts, tick.bid, tick.bid_volume)
        if closed is not None:
            self._bar_closed(closed, None if last is None else last.ask - last.bid)
        if tick.ts - self._last_sample.get(symbol, 0) >= self._quote_sample_ns:
            self._last_sample[symbol] = tick.ts
            state.outbox.emit(QuoteSampled(symbol=symbol, ts=tick.ts, bid=tick.bid, ask=tick.ask))
        for strategy in state.by_symbol[symbol]:
            for intent in strategy.on_tick(tick):
                self.desk.execute(intent, tick.ts)

    def on_bar(self, bar: Bar, ask: Bar | None = None) -> None:
        """Bar replay: the broker fills at this bar first, then the bar closes for strategies."""
        self.state.quotes[bar.symbol] = QuoteTick(
            bar.symbol, bar.end_ts, bar.close, ask.close if ask is not None else bar.close
        )
        self.events.handle(self.state.broker.on_bar(bar, ask))
        self._bar_closed(bar, None if ask is None else ask.close - bar.close)

    def close_bars(self, now: int) -> None:
        """A timer: close bars whose period ended in a quiet market."""
        for builder in self._builders.values():
            closed = builder.close_until(now)
            if closed is not None:
                last = self.state.quotes.get(closed.symbol)
                self._bar_closed(closed, None if last is None else last.ask - last.bid)

    # --- bars and decisions -------------------------------------------------------------
    def _bar_closed(self, bar: Bar, spread: float | None) -> None:
        state = self.state
        state.stats.bars += 1
        features = self._features[bar.symbol]
        features.update(bar.ts, bar.high, bar.low, bar.close, spread)
        state.outbox.emit(
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
        for strategy in state.by_symbol[bar.symbol]:
            intents = strategy.on_bar(bar)
            if not intents:
                continue
            if not state.enabled[strategy.name]:
                for intent in intents:
                    strategy.on_reject(intent)
                continue
            snapshot, closes = features.snapshot(), features.closes()
            for intent in intents:
                state.outbox.emit(self._candidate(bar, intent, snapshot, closes))
                if self.route == "decision":
                    state.awaiting[intent.strategy] = (bar.ts, intent)
                else:
                    self.desk.execute(intent, bar.end_ts)

    def _candidate(
        self, bar: Bar, intent: OrderIntent, snapshot: dict[str, float | None], closes: list[float]
    ) -> DecisionCandidate:
        instrument = self.state.instruments[bar.symbol]
        return DecisionCandidate(
            account=self.state.account,
            symbol=intent.symbol,
            strategy=intent.strategy,
            bar_ts=bar.ts,
            side=intent.side,
            volume=intent.volume,
            reason=intent.reason,
            features={**snapshot, **intent.features},
            closes=closes,
            order_type=intent.order_type,
            price=rounded(instrument, intent.price),
            stop_loss=rounded(instrument, intent.stop_loss),
            take_profit=rounded(instrument, intent.take_profit),
            decide=self.route == "decision",
            expires_ns=self._deadline(bar),
        )

    def _deadline(self, bar: Bar) -> int:
        """One bar from now on the deadline clock; 0 (none) without one."""
        clock = self.deadline_clock
        return 0 if clock is None else clock.now_ns() + bar.timeframe.nanos

    def intent_rejected(self, strategy_name: str, bar_ts: int = 0) -> bool:
        """The decision said no, or came too late: the strategy stops waiting for a fill. With
        `bar_ts`, only if what it waits for is that bar's intent: a late answer about an
        older bar must not free the intent a newer decision is still deciding."""
        waiting = self.state.awaiting.get(strategy_name)
        owner = self.state.strategy(strategy_name)
        if waiting is None or owner is None or (bar_ts and waiting[0] != bar_ts):
            return False
        del self.state.awaiting[strategy_name]
        owner.on_reject(waiting[1])
        return True

    # --- orders, the kill switch and recovery: each in its own part ---------------------
    def next_client_order_id(self) -> str:
        return self.desk.next_client_order_id()

    def submit(self, order: Order, now: int) -> bool:
        """An order from outside the engine (a trader's, a decision's): through the order
        desk's one path, risk gate then broker. True if the broker took it."""
        return self.desk.submit(order, now)

    def cancel(self, client_order_id: str) -> bool:
        return self.desk.cancel(client_order_id)

    def amend(
        self, client_order_id: str, price: Decimal | None, volume: Decimal | None
    ) -> tuple[bool, str]:
        """Ask the venue for a new price and/or volume; (taken now, or why not)."""
        return self.desk.amend(client_order_id, price, volume)

    def kill(self, flatten: bool, now: int) -> dict[str, Any]:
        """Engage the kill switch: cancel every working order, and flatten if asked."""
        return kill_switch.engage(self.state, self.desk, flatten, now)

    def restore(self, entries: Iterable[JournalEntry]) -> int:
        """Rebuild from the venue's journal before the first tick after a restart."""
        return self.recovery.restore(entries)

    def adopt(
        self, positions: Iterable[tuple[Position, str | None]], resting: Iterable[Order]
    ) -> None:
        """Take over the positions and resting orders a real broker reports after a restart."""
        self.recovery.adopt(positions, resting)

    def recall(self, client_order_id: str) -> Order | None:
        """The order under this id, here or found at the venue after a restart."""
        return self.recovery.recall(client_order_id)

    # --- what the venue holds -----------------------------------------------------------
    def venue_state(self, since_ns: int = 0) -> VenueReport:
        """What the venue holds for the account: every deal it reported, positions and cash.
        The books in PostgreSQL must equal this; reconciliation compares against it."""
        state = self.state
        fills: list[FillReported] = [
            f for fills in state.fills.values() for f in fills if f.ts >= since_ns
        ]
        return VenueReport(
            fills=fills,
            positions=[VenuePosition.of(p) for p in state.book],
            balance=state.book.balance,
            currency=state.book.currency,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "orders": len(self.state.orders),
            "positions": {p.symbol: str(p.volume) for p in self.state.book},
        }
