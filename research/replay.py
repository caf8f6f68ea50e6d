"""The event-driven backtest: the hot path's engine, strategy, risk gate and paper broker,
fed the series bar by bar (bid bar with its ask bar), exactly as the live path runs them.
Its fills become the same round-trip trades the sweep reports, so the two can be compared."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from domain.instruments import Instrument
from domain.market import QuoteTick
from domain.market_data import Timeframe
from domain.paper import PaperBroker, PaperConfig
from domain.risk import RiskGate, RiskLimits
from domain.strategies import create
from hotpath.engine import Engine
from hotpath.outbox import Outbox
from research.series import BarSeries, Costs
from research.simulate import Detail, Prices, Trade, metrics_of, replayed_equity

ACCOUNT = "backtest"
BIG = Decimal(10**15)
# a backtest judges the strategy: the account-level brakes of live trading stay off
LIMITS = RiskLimits(
    max_order_volume=BIG,
    max_order_notional=BIG,
    max_position_volume=BIG,
    max_gross_exposure=BIG,
    daily_loss_reduce_only=BIG,
    daily_loss_halt=BIG,
    quote_max_age_ns=2**62,
    max_orders_per_window=2**62,
    max_repeats=2**62,
)


@dataclass(frozen=True)
class ReplayResult:
    trades: list[Trade]
    fills: int
    balance: float  # after realised profit and commission, account currency
    refusals: list[str]  # orders the risk gate or the broker refused, with the reason


def _engine(
    instrument: Instrument,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs,
    balance: float,
    currency: str,
    timeframe: Timeframe = Timeframe.M1,
) -> Engine:
    strategy = create(kind, instrument.symbol, params)
    instruments = {instrument.symbol: instrument}
    broker = PaperBroker(
        instruments,
        PaperConfig(
            spread_points=costs.spread_points,
            slippage_points=costs.slippage_points,
            commission_per_lot=Decimal(str(costs.commission_per_lot)),
        ),
    )
    return Engine(
        ACCOUNT,
        instruments,
        [strategy],
        broker,
        RiskGate(ACCOUNT, LIMITS),
        Outbox(capacity=2**31),
        currency=currency,
        balance=Decimal(str(balance)),
        timeframe=timeframe,
        quote_sample_ns=2**62,  # the quote samples feed live screens; a backtest has none
    )


class _Drain:
    """The engine's events, taken as they come: fills kept, refusals noted, the rest let go."""

    def __init__(self, engine: Engine) -> None:
        self.outbox = engine.outbox
        self.fills: list[dict[str, Any]] = []
        self.refusals: list[str] = []

    def __call__(self) -> None:
        for kind, payload in self.outbox.take(2**31):
            if kind == "fill":
                self.fills.append(payload)
            elif kind == "order_rejected":
                self.refusals.append(str(payload.get("reason")))


def replay(
    series: BarSeries,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs | None = None,
    balance: float = 100_000.0,
    currency: str = "USD",
) -> ReplayResult:
    """Bar by bar: each bid bar with its ask bar, the broker filling at the bar's prices."""
    costs = costs or Costs()
    engine = _engine(series.instrument, kind, params, costs, balance, currency, series.timeframe)
    drain = _Drain(engine)
    for n, (bid, ask) in enumerate(series.bars()):
        engine.on_bar(bid, ask)
        if n % 1_000 == 999:
            drain()
    drain()
    trades = _round_trips(series.ts, series.instrument, drain.fills, series.last_marks(costs))
    return ReplayResult(trades, len(drain.fills), float(engine.book.balance), drain.refusals)


def replay_ticks(
    instrument: Instrument,
    ts: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs | None = None,
    balance: float = 100_000.0,
    currency: str = "USD",
    timeframe: Timeframe = Timeframe.M1,
) -> ReplayResult:
    """Tick by tick: the engine builds the bars the strategy decides on, the broker fills at
    the quotes that follow; trades are indexed by tick."""
    costs = costs or Costs()
    engine = _engine(instrument, kind, params, costs, balance, currency, timeframe)
    drain = _Drain(engine)
    symbol, on_tick = instrument.symbol, engine.on_tick
    for n, (t, b, a) in enumerate(zip(ts.tolist(), bid.tolist(), ask.tolist(), strict=True)):
        on_tick(QuoteTick(symbol, t, b, a))
        if n % 10_000 == 9_999:
            drain()
    engine.close_bars(int(ts[-1]) + timeframe.nanos)
    drain()
    marks = (float(bid[-1]), float(ask[-1]))
    trades = _round_trips(ts, instrument, drain.fills, marks)
    return ReplayResult(trades, len(drain.fills), float(engine.book.balance), drain.refusals)


def _round_trips(
    ts: np.ndarray,
    instrument: Instrument,
    fills: list[dict[str, Any]],
    marks: tuple[float, float],
) -> list[Trade]:
    """Fills in order, paired into trades the way a one-position strategy makes them; a trade
    still open is marked at the last close (bid for a long, ask for a short)."""
    contract = float(instrument.contract_size)
    index = np.searchsorted(ts, [int(f["ts"]) for f in fills])
    trades: list[Trade] = []
    net = 0.0
    entry: tuple[float, int, float, float, float] | None = None  # side, index, px, lots, fee
    for fill, at in zip(fills, index.tolist(), strict=True):
        signed = float(fill["volume"]) * (1 if fill["side"] == "buy" else -1)
        price = float(fill["price"])
        fee = float(fill["commission"])
        if entry is not None and signed * net < 0:
            direction, opened, entry_px, volume, entry_fee = entry
            pnl = direction * (price - entry_px) * volume * contract - entry_fee - fee
            side = "buy" if direction > 0 else "sell"
            trades.append(Trade(side, volume, opened, entry_px, at, price, pnl))
            entry = None
        elif net == 0:
            entry = (1.0 if signed > 0 else -1.0, at, price, abs(signed), fee)
        net += signed
    if entry is not None:
        direction, opened, entry_px, volume, entry_fee = entry
        mark = marks[0] if direction > 0 else marks[1]
        pnl = direction * (mark - entry_px) * volume * contract - entry_fee
        side = "buy" if direction > 0 else "sell"
        trades.append(Trade(side, volume, opened, entry_px, None, None, pnl))
    return trades


def replay_detail(
    series: BarSeries,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs,
    balance: float,
    currency: str = "USD",
) -> tuple[Detail, ReplayResult]:
    """The replay's trades judged by the same metrics as the sweep's, its equity curve marked
    at each close from the broker's own fills."""
    result = replay(series, kind, params, costs, balance, currency)
    equity, held = replayed_equity(
        result.trades,
        Prices.of(series, costs),
        float(series.instrument.contract_size),
        costs.commission_per_lot,
        balance,
    )
    metrics = metrics_of(equity, series.ts, held, result.trades, balance)
    return Detail(result.trades, equity, held, metrics), result
