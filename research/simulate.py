"""From a strategy's wanted positions to what a broker would have done: fills at the next
bar's open (buys at the ask, sells at the bid, slippage against us, on the tick grid), the
round-trip trades, the equity curve marked at each close, and the metrics of the run.

Amounts are in the account currency: profit arises in the instrument's profit currency (JPY
for USDJPY) and is converted at the rate of the bar it is realised or marked in, as the
engine's book converts it; commission is charged in the account currency as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from research.series import BarSeries, Costs, price_scale, tick_points, to_points

YEAR_NS = 365.25 * 86_400 * 1e9


@dataclass(frozen=True)
class Trade:
    side: str  # buy (long) | sell (short)
    volume: float
    entry_index: int
    entry_price: float
    exit_index: int | None  # None while open at the end of the data
    exit_price: float | None
    pnl: float  # closed: realised, net of commission; open: marked at the last close


@dataclass(frozen=True)
class Prices:
    """Execution and marking prices of a series under given costs, in points."""

    buy: np.ndarray  # what a buy at each bar's open pays
    sell: np.ndarray  # what a sell at each bar's open gets
    mark_long: np.ndarray  # each close, as a long position would be closed (bid)
    mark_short: np.ndarray  # each close, as a short position would be closed (ask)
    scale: int  # points per 1.0 of price
    rate: np.ndarray  # profit currency to account currency at each bar

    @classmethod
    def of(cls, series: BarSeries, costs: Costs) -> Prices:
        inst = series.instrument
        tick = tick_points(inst)
        bid_open = to_points(series.open, inst)
        bid_close = to_points(series.close, inst)
        if series.ask_open is not None and series.ask_close is not None:
            ask_open = to_points(series.ask_open, inst)
            ask_close = to_points(series.ask_close, inst)
        else:
            ask_open = bid_open + costs.spread_points
            ask_close = bid_close + costs.spread_points
        slip = costs.slippage_points

        def grid(points: np.ndarray) -> np.ndarray:
            return (np.rint(points / tick) * tick).astype(np.int64)

        return cls(
            grid(ask_open + slip),
            grid(bid_open - slip),
            bid_close,
            ask_close,
            price_scale(inst),
            series.rate,
        )


def held_positions(target: np.ndarray) -> np.ndarray:
    """The position held during each bar: what was decided at the previous bar's close."""
    held = np.zeros_like(target)
    held[1:] = target[:-1]
    return held


@njit(cache=True, nogil=True)
def equity_curve(
    held: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    mark_long: np.ndarray,
    mark_short: np.ndarray,
    rate: np.ndarray,
    units_per_point: float,
    commission: float,
    balance: float,
) -> np.ndarray:
    """Equity at each close: profit is realised at fills (at the open) and converted at the
    bar's rate, the open position marked at the close; commission per lot charged."""
    n = held.shape[0]
    equity = np.empty(n, np.float64)
    cash = balance
    pos = 0
    entry = 0.0  # average entry, in points
    for t in range(n):
        h = held[t]
        if h != pos:
            delta = h - pos
            px = buy[t] if delta > 0 else sell[t]
            if pos != 0 and (h == 0 or (h > 0) != (pos > 0)):  # closed (or reversed)
                cash += pos * (px - entry) * units_per_point * rate[t]
                pos = 0
            elif pos != 0 and abs(h) < abs(pos):  # reduced
                cash += (pos - h) * (px - entry) * units_per_point * rate[t]
                pos = h
            if h != pos:  # opened or added to
                entry = (entry * pos + px * (h - pos)) / h
                pos = h
            cash -= abs(delta) * commission
        if pos > 0:
            equity[t] = cash + pos * (mark_long[t] - entry) * units_per_point * rate[t]
        elif pos < 0:
            equity[t] = cash + pos * (mark_short[t] - entry) * units_per_point * rate[t]
        else:
            equity[t] = cash
    return equity


def trades_of(
    held: np.ndarray, prices: Prices, volume: float, contract: float, commission: float
) -> list[Trade]:
    """Round trips from the positions held; a reversal closes one trade and opens the next at
    the same open. The last trade stays open when the data ends with a position."""
    scale = prices.scale
    units = volume * contract / scale  # money per point
    trades: list[Trade] = []
    entry: tuple[int, int, int] | None = None  # (direction, index, price in points)
    changes = np.flatnonzero(np.diff(held)) + 1
    for t in changes.tolist():
        before, after = int(held[t - 1]), int(held[t])
        if before != 0 and entry is not None:
            direction, at, entry_px = entry
            exit_px = int(prices.buy[t] if before < 0 else prices.sell[t])
            gross = direction * (exit_px - entry_px) * units * prices.rate[t]
            pnl = gross - 2 * commission * volume
            trades.append(
                Trade(
                    "buy" if direction > 0 else "sell",
                    volume,
                    at,
                    entry_px / scale,
                    t,
                    exit_px / scale,
                    pnl,
                )
            )
            entry = None
        if after != 0:
            px = int(prices.buy[t] if after > 0 else prices.sell[t])
            entry = (after, t, px)
    if entry is not None:
        direction, at, entry_px = entry
        last = len(held) - 1
        mark = int(prices.mark_long[last] if direction > 0 else prices.mark_short[last])
        pnl = direction * (mark - entry_px) * units * prices.rate[last] - commission * volume
        trades.append(
            Trade("buy" if direction > 0 else "sell", volume, at, entry_px / scale, None, None, pnl)
        )
    return trades


@dataclass(frozen=True)
class Metrics:
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_duration_s: float
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    exposure: float
    trades: int
    final_equity: float


def metrics_of(
    equity: np.ndarray, ts: np.ndarray, held: np.ndarray, trades: list[Trade], balance: float
) -> Metrics:
    """Returns per bar, annualised by the bars the data has per year (sessions and gaps
    included as they are)."""
    n = equity.shape[0]
    span = (ts[-1] - ts[0]) / YEAR_NS if n > 1 else 0.0
    total = equity[-1] / balance - 1.0
    cagr = (equity[-1] / balance) ** (1.0 / span) - 1.0 if span > 0 and equity[-1] > 0 else None
    returns = np.diff(equity) / equity[:-1] if n > 1 else np.zeros(0)
    per_year = (n - 1) / span if span > 0 else 0.0
    sharpe = sortino = None
    if returns.size > 1 and per_year > 0:
        mean, std = float(returns.mean()), float(returns.std(ddof=1))
        sharpe = mean / std * math.sqrt(per_year) if std > 0 else None
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        sortino = mean / downside * math.sqrt(per_year) if downside > 0 else None
    peaks = np.maximum.accumulate(equity)
    drawdown = 1.0 - equity / peaks
    # the longest time from a peak to the next time equity stood there again (or the end)
    at_peak = np.where(equity >= peaks, np.arange(n), 0)
    since_peak = ts - ts[np.maximum.accumulate(at_peak)] if n else np.zeros(0)
    longest = float(since_peak.max()) / 1e9 if n else 0.0
    closed = [t.pnl for t in trades if t.exit_index is not None]
    wins = [p for p in closed if p > 0]
    losses = [-p for p in closed if p < 0]
    return Metrics(
        total_return=total,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=float(drawdown.max()) if n else 0.0,
        max_drawdown_duration_s=longest,
        win_rate=len(wins) / len(closed) if closed else None,
        profit_factor=sum(wins) / sum(losses) if losses else None,
        expectancy=sum(closed) / len(closed) if closed else None,
        exposure=float(np.count_nonzero(held)) / n if n else 0.0,
        trades=len(trades),
        final_equity=float(equity[-1]),
    )


@dataclass(frozen=True)
class Detail:
    """One parameter set in full: what the archive keeps and the report draws."""

    trades: list[Trade]
    equity: np.ndarray  # at each bar's close
    held: np.ndarray  # position during each bar (+1, 0, -1)
    metrics: Metrics


def replayed_equity(
    trades: list[Trade], prices: Prices, contract: float, commission: float, balance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Equity at each close and the position held, rebuilt from trades whose prices came from
    elsewhere (the replay's broker): closed trades count from the bar their exit filled at,
    open ones are marked at each close net of the entry commission."""
    n = prices.mark_long.shape[0]
    realised = np.zeros(n + 1, np.float64)
    unrealised = np.zeros(n, np.float64)
    mark_long = prices.mark_long / prices.scale
    mark_short = prices.mark_short / prices.scale
    rate = prices.rate
    for t in trades:
        direction = 1 if t.side == "buy" else -1
        end = n if t.exit_index is None else t.exit_index
        marks = mark_long[t.entry_index : end] if direction > 0 else mark_short[t.entry_index : end]
        units = t.volume * contract
        unrealised[t.entry_index : end] += (
            direction * (marks - t.entry_price) * units * rate[t.entry_index : end]
            - commission * t.volume
        )
        if t.exit_index is not None:
            realised[t.exit_index] += t.pnl
    return balance + np.cumsum(realised[:n]) + unrealised, held_of(trades, n)


def held_of(trades: list[Trade], n: int) -> np.ndarray:
    """The position during each of n bars, as round-trip trades took it."""
    held = np.zeros(n, np.int64)
    for t in trades:
        held[t.entry_index : n if t.exit_index is None else t.exit_index] = (
            1 if t.side == "buy" else -1
        )
    return held
