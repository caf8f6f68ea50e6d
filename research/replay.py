"""The event-driven backtest: the live engine (`engine/`), strategy, risk gate and paper broker,
fed the series bar by bar (bid bar with its ask bar) or tick by tick, exactly as the live path
runs them. Its fills become the same round-trip trades the sweep reports, so the two can be
compared. Profit is converted to the account currency by the engine's own book, from the
quotes it is fed (the instrument's, and a conversion pair's where one is needed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from domain.instruments import Instrument
from domain.market import QuoteTick
from domain.market_data import Timeframe
from domain.messages import FillReported, OrderRejected
from domain.orders import Side
from domain.paper import PaperBroker, PaperConfig
from domain.risk import RiskGate, RiskLimits
from domain.strategies import create
from engine.core import Engine
from engine.outbox import Outbox
from research.series import BarSeries, Conversion, Costs, TickSeries
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
    balance: float  # after realised profit and commission, account currency (the engine's book)
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
        self.fills: list[FillReported] = []
        self.refusals: list[str] = []

    def __call__(self) -> None:
        for event in self.outbox.take(2**31):
            if isinstance(event, FillReported):
                self.fills.append(event)
            elif isinstance(event, OrderRejected):
                self.refusals.append(event.reason)


def replay(
    series: BarSeries,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs | None = None,
    balance: float = 100_000.0,
) -> ReplayResult:
    """Bar by bar: each bid bar with its ask bar, the broker filling at the bar's prices."""
    costs = costs or Costs()
    conversion = series.conversion
    engine = _engine(
        series.instrument, kind, params, costs, balance, _account(series), series.timeframe
    )
    drain = _Drain(engine)
    feed = _ConversionFeed(engine, series.instrument, conversion, series.ts)
    for n, (bid, ask) in enumerate(series.bars()):
        feed(n)
        engine.on_bar(bid, ask)
        if n % 1_000 == 999:
            drain()
    drain()
    trades = _round_trips(
        series.ts, series.instrument, drain.fills, series.last_marks(costs), series.rate
    )
    return ReplayResult(trades, len(drain.fills), float(engine.book.balance), drain.refusals)


def _account(series: BarSeries) -> str:
    if series.conversion is not None:
        return series.conversion.account
    return series.instrument.currency_profit


class _ConversionFeed:
    """Quotes of the conversion pair, fed to the engine before each bar or tick, so its book
    converts profit at the rate of that moment (the instrument's own quotes need no feed)."""

    def __init__(
        self, engine: Engine, instrument: Instrument, conversion: Conversion | None, ts: np.ndarray
    ) -> None:
        self._quotes = engine.quotes
        other = conversion is not None and conversion.symbol != instrument.symbol
        self._symbol = conversion.symbol if conversion is not None else ""
        self._mid = conversion.mid.tolist() if other and conversion is not None else None
        self._ts = ts.tolist() if other else None

    def __call__(self, n: int) -> None:
        if self._mid is not None and self._ts is not None:
            mid = self._mid[n]
            self._quotes[self._symbol] = QuoteTick(self._symbol, self._ts[n], mid, mid)


def replay_ticks(
    instrument: Instrument,
    ts: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs | None = None,
    balance: float = 100_000.0,
    timeframe: Timeframe = Timeframe.M1,
    conversion: Conversion | None = None,
) -> ReplayResult:
    """Tick by tick: the engine builds the bars the strategy decides on, the broker fills at
    the quotes that follow; trades are indexed by tick (`conversion` too: one mid per tick)."""
    costs = costs or Costs()
    account = conversion.account if conversion is not None else instrument.currency_profit
    engine = _engine(instrument, kind, params, costs, balance, account, timeframe)
    drain = _Drain(engine)
    feed = _ConversionFeed(engine, instrument, conversion, ts)
    symbol, on_tick = instrument.symbol, engine.on_tick
    for n, (t, b, a) in enumerate(zip(ts.tolist(), bid.tolist(), ask.tolist(), strict=True)):
        feed(n)
        on_tick(QuoteTick(symbol, t, b, a))
        if n % 10_000 == 9_999:
            drain()
    engine.close_bars(int(ts[-1]) + timeframe.nanos)
    drain()
    marks = (float(bid[-1]), float(ask[-1]))
    rate = np.ones(len(ts)) if conversion is None else conversion.rate
    trades = _round_trips(ts, instrument, drain.fills, marks, rate)
    return ReplayResult(trades, len(drain.fills), float(engine.book.balance), drain.refusals)


def _round_trips(
    ts: np.ndarray,
    instrument: Instrument,
    fills: list[FillReported],
    marks: tuple[float, float],
    rate: np.ndarray,
) -> list[Trade]:
    """Fills in order, paired into trades the way a one-position strategy makes them; a trade
    still open is marked at the last close (bid for a long, ask for a short). Profit is
    converted at the rate where the trade closed, commission is in the account currency."""
    contract = float(instrument.contract_size)
    index = np.searchsorted(ts, [f.ts for f in fills])
    trades: list[Trade] = []
    net = 0.0
    entry: tuple[float, int, float, float, float] | None = None  # side, index, px, lots, fee
    for fill, at in zip(fills, index.tolist(), strict=True):
        signed = float(fill.volume) * (1 if fill.side is Side.BUY else -1)
        price = float(fill.price)
        fee = float(fill.commission)
        if entry is not None and signed * net < 0:
            direction, opened, entry_px, volume, entry_fee = entry
            gross = direction * (price - entry_px) * volume * contract * rate[at]
            pnl = gross - entry_fee - fee
            side = "buy" if direction > 0 else "sell"
            trades.append(Trade(side, volume, opened, entry_px, at, price, pnl))
            entry = None
        elif net == 0:
            entry = (1.0 if signed > 0 else -1.0, at, price, abs(signed), fee)
        net += signed
    if entry is not None:
        direction, opened, entry_px, volume, entry_fee = entry
        mark = marks[0] if direction > 0 else marks[1]
        gross = direction * (mark - entry_px) * volume * contract * rate[-1]
        pnl = gross - entry_fee
        side = "buy" if direction > 0 else "sell"
        trades.append(Trade(side, volume, opened, entry_px, None, None, pnl))
    return trades


def replay_detail(
    series: BarSeries,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs,
    balance: float,
) -> tuple[Detail, ReplayResult]:
    """The replay's trades judged by the same metrics as the sweep's, its equity curve marked
    at each close from the broker's own fills."""
    result = replay(series, kind, params, costs, balance)
    equity, held = replayed_equity(
        result.trades,
        Prices.of(series, costs),
        float(series.instrument.contract_size),
        costs.commission_per_lot,
        balance,
    )
    metrics = metrics_of(equity, series.ts, held, result.trades, balance)
    return Detail(result.trades, equity, held, metrics), result


@dataclass(frozen=True)
class TickDetail:
    """A tick-by-tick replay in full: `trades` indexed by tick (when each fill happened),
    `detail` judged on the bars the engine built, as a bar replay is judged."""

    trades: list[Trade]
    bars: BarSeries
    detail: Detail
    result: ReplayResult


def replay_ticks_detail(
    ticks: TickSeries,
    timeframe: Timeframe,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs,
    balance: float,
) -> TickDetail:
    result = replay_ticks(
        ticks.instrument,
        ticks.ts,
        ticks.bid,
        ticks.ask,
        kind,
        params,
        costs,
        balance,
        timeframe,
        ticks.conversion,
    )
    bars = ticks.bars(timeframe)
    bar_of = ticks.bar_of(timeframe)
    by_bar = [
        dataclasses.replace(
            t,
            entry_index=int(bar_of[t.entry_index]),
            exit_index=None if t.exit_index is None else int(bar_of[t.exit_index]),
        )
        for t in result.trades
    ]
    equity, held = replayed_equity(
        by_bar,
        Prices.of(bars, costs),
        float(ticks.instrument.contract_size),
        costs.commission_per_lot,
        balance,
    )
    metrics = metrics_of(equity, bars.ts, held, by_bar, balance)
    return TickDetail(result.trades, bars, Detail(by_bar, equity, held, metrics), result)
