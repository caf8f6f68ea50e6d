"""What every part of the engine reads and writes: one account's orders, book and quotes.

The parts (`orders`, `broker_events`, `kill_switch`, `recovery`, `core`) each own one kind
of change and share this one state, so no part keeps a copy another could miss.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.instruments import Instrument
from domain.market import QuoteTick
from domain.messages import FillReported
from domain.orders import Order
from domain.positions import Book
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


@dataclass
class EngineState:
    """One account's trading state; the engine's parts change it, nothing else does."""

    account: str
    instruments: Mapping[str, Instrument]
    strategies: list[Strategy]
    broker: Venue
    gate: RiskGate
    outbox: Outbox
    quotes: dict[str, QuoteTick]  # the latest of each symbol, the book's rates read them
    book: Book
    stats: EngineStats = field(default_factory=EngineStats)
    orders: dict[str, Order] = field(default_factory=dict)
    # every deal, by client order id: what a query or a reconciliation reports
    fills: dict[str, list[FillReported]] = field(default_factory=dict)
    owner: dict[str, Strategy] = field(default_factory=dict)  # client order id -> its strategy
    intents: dict[str, OrderIntent] = field(default_factory=dict)  # client order id -> intent
    # strategy -> (its bar's ts, the intent) out to decide
    awaiting: dict[str, tuple[int, OrderIntent]] = field(default_factory=dict)
    day: DailyPnl = field(default_factory=DailyPnl)
    by_symbol: dict[str, list[Strategy]] = field(init=False)
    enabled: dict[str, bool] = field(init=False)

    def __post_init__(self) -> None:
        self.by_symbol = {s: [] for s in self.instruments}
        for strategy in self.strategies:
            self.by_symbol[strategy.symbol].append(strategy)
        self.enabled = {s.name: True for s in self.strategies}

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
