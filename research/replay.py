"""The event-driven backtest: the hot path's engine, strategy, risk gate and paper broker,
fed the series bar by bar (bid bar with its ask bar), exactly as the live path runs them.
Its fills become the same round-trip trades the sweep reports, so the two can be compared."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from domain.paper import PaperBroker, PaperConfig
from domain.risk import RiskGate, RiskLimits
from domain.strategies import create
from hotpath.engine import Engine
from hotpath.outbox import Outbox
from research.series import BarSeries, Costs
from research.simulate import Trade

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


def replay(
    series: BarSeries,
    kind: str,
    params: Mapping[str, Any],
    costs: Costs | None = None,
    balance: float = 100_000.0,
    currency: str = "USD",
) -> ReplayResult:
    costs = costs or Costs()
    strategy = create(kind, series.symbol, params)
    instruments = {series.symbol: series.instrument}
    broker = PaperBroker(
        instruments,
        PaperConfig(
            spread_points=costs.spread_points,
            slippage_points=costs.slippage_points,
            commission_per_lot=Decimal(str(costs.commission_per_lot)),
        ),
    )
    outbox = Outbox(capacity=2**31)
    engine = Engine(
        ACCOUNT,
        instruments,
        [strategy],
        broker,
        RiskGate(ACCOUNT, LIMITS),
        outbox,
        currency=currency,
        balance=Decimal(str(balance)),
    )
    fills: list[dict[str, Any]] = []
    refusals: list[str] = []

    def drain() -> None:
        for kind_, payload in outbox.take(2**31):
            if kind_ == "fill":
                fills.append(payload)
            elif kind_ == "order_rejected":
                refusals.append(str(payload.get("reason")))

    for n, (bid, ask) in enumerate(series.bars()):
        engine.on_bar(bid, ask)
        if n % 1_000 == 999:
            drain()
    drain()
    trades = _round_trips(series, fills, costs)
    return ReplayResult(trades, len(fills), float(engine.book.balance), refusals)


def _round_trips(series: BarSeries, fills: list[dict[str, Any]], costs: Costs) -> list[Trade]:
    """Fills in order, paired into trades the way a one-position strategy makes them; a trade
    still open is marked at the last close (bid for a long, ask for a short)."""
    contract = float(series.instrument.contract_size)
    index = np.searchsorted(series.ts, [int(f["ts"]) for f in fills])
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
        if direction > 0:
            mark = float(series.close[-1])
        elif series.ask_close is not None:
            mark = float(series.ask_close[-1])
        else:
            mark = float(series.close[-1]) + costs.spread_points * float(series.instrument.point)
        pnl = direction * (mark - entry_px) * volume * contract - entry_fee
        side = "buy" if direction > 0 else "sell"
        trades.append(Trade(side, volume, opened, entry_px, None, None, pnl))
    return trades
