"""What every part of the engine reads and writes: one account's orders, book and quotes.

The parts (`orders`, `broker_events`, `kill_switch`, `recovery`, `core`) each own one kind
of change and share this one state, so no part keeps a copy another could miss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from domain.instruments import Instrument
from domain.market import QuoteTick
from domain.messages import FillReported
from domain.orders import Order
from domain.positions import Book, LiveQuoteRates
from domain.risk import AccountState, DailyPnl, RiskGate, account_state
from domain.strategies import OrderIntent, Strategy
from domain.venue import Venue
from engine.outbox import Outbox


@dataclass
class EngineStats:
    ticks: int = 0
    bars: int = 0
    orders: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    fills: int = 0
    exec_ns: list[int] = field(default_factory=list)  # risk gate + broker + events, per order


class EngineState:
    """One account's trading state; the engine's parts change it, nothing else does."""

    def __init__(
        self,
        account: str,
        instruments: Mapping[str, Instrument],
        strategies: Sequence[Strategy],
        broker: Venue,
        gate: RiskGate,
        outbox: Outbox,
        currency: str,
        balance: Decimal,
        hedging: bool,
        quotes: dict[str, QuoteTick] | None,
    ) -> None:
        self.account = account
        self.instruments = instruments
        self.strategies = list(strategies)
        self.broker = broker
        self.gate = gate
        self.outbox = outbox
        self.quotes: dict[str, QuoteTick] = quotes if quotes is not None else {}
        self.book = Book(currency, instruments, LiveQuoteRates(self.quotes), hedging, balance)
        self.stats = EngineStats()
        self.orders: dict[str, Order] = {}
        # every deal, by client order id: what a query or a reconciliation reports
        self.fills: dict[str, list[FillReported]] = {}
        self.by_symbol: dict[str, list[Strategy]] = {s: [] for s in instruments}
        for strategy in self.strategies:
            self.by_symbol[strategy.symbol].append(strategy)
        self.enabled = {s.name: True for s in self.strategies}
        self.owner: dict[str, Strategy] = {}  # client order id -> the strategy that sent it
        self.intents: dict[str, OrderIntent] = {}  # client order id -> the intent behind it
        self.awaiting: dict[str, OrderIntent] = {}  # strategy -> intent out for a decision
        self.day = DailyPnl()

    def strategy(self, name: str) -> Strategy | None:
        return next((s for s in self.strategies if s.name == name), None)

    def account_state(self, now: int) -> AccountState:
        """The account as the risk gate judges it, with today's realised profit."""
        self.day.roll(now)
        return account_state(
            self.book, self.instruments, self.quotes, self.day.realised, self.gate.limits.leverage
        )

    def last_quote_ts(self) -> int:
        return max((q.ts for q in self.quotes.values()), default=0)
