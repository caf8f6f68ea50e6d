"""One strategy, three engines, the same trades: the vectorised sweep (numba kernels), the
event-driven replay through the hot path's own engine and paper broker, and vectorbt called
directly with the signals shifted one bar and filled at the open. On the shared real data:
GBPUSD and USDJPY M1 (bid and ask), Euro FX futures and a BTC perpetual."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from adapters.files.market_files import read_market_file
from domain.instruments import Instrument, fx_major
from domain.market_data import SeriesKind, Timeframe
from research.replay import replay
from research.series import BarSeries, Costs, conversion
from research.simulate import held_positions
from research.sweep import trades
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def _contract(symbol: str, digits: int, tick: str, contract: int, ccy: str) -> Instrument:
    point = Decimal(1).scaleb(-digits)
    return Instrument(
        symbol=symbol,
        digits=digits,
        point=point,
        tick_size=Decimal(tick),
        tick_value=Decimal(tick) * contract,
        contract_size=Decimal(contract),
        volume_min=Decimal("0.01"),
        volume_step=Decimal("0.01"),
        volume_max=Decimal(1000),
        currency_base=symbol[:3],
        currency_profit=ccy,
        currency_margin=ccy,
    )


DATA: dict[str, tuple[str, str | None, Instrument]] = {
    "GBPUSD": ("fx/GBPUSD-M1-bid-2012-02.csv", "fx/GBPUSD-M1-ask-2012-02.csv", fx_major("GBPUSD")),
    "USDJPY": ("fx/USDJPY-M1-bid-2013.csv", "fx/USDJPY-M1-ask-2013.csv", fx_major("USDJPY", 3)),
    "6E": ("futures/6EH4-M1-2024-01.csv.gz", None, _contract("6EH4", 5, "0.00005", 125_000, "USD")),
    "BTC": ("crypto/BTCPERP-M1-2022-01.csv", None, _contract("BTCUSD", 1, "0.1", 1, "USD")),
}

PARAMS: list[tuple[str, dict[str, Any]]] = [
    ("ma_cross", {"fast": 10, "slow": 30}),
    ("ma_cross", {"fast": 5, "slow": 20, "allow_short": True}),
    ("ma_cross", {"fast": 20, "slow": 60, "allow_short": True, "volume": "2"}),
    ("rsi_reversion", {"period": 14}),
    ("rsi_reversion", {"period": 7, "lower": 25, "upper": 75, "allow_short": True}),
]


@cache
def series(name: str, with_ask: bool) -> BarSeries:
    bid_file, ask_file, instrument = DATA[name]
    bid = read_market_file(SHARED_DATA / bid_file, SeriesKind.BARS).frame
    ask = None
    if with_ask and ask_file is not None:
        ask = read_market_file(SHARED_DATA / ask_file, SeriesKind.BARS).frame
    bars = BarSeries.from_frames(instrument.symbol, Timeframe.M1, instrument, bid, ask)
    # a USD account: USDJPY's yen are converted at each bar's mid, as the engine's book does
    return bars.converted(conversion(instrument, "USD", bars.ts, bars.closing_mids()))


def swept(s: BarSeries, kind: str, params: dict[str, Any], costs: Costs) -> list[tuple[Any, ...]]:
    return [key(t) for t in trades(s, kind, params, costs)]


def key(t: Any) -> tuple[Any, ...]:
    exit_price = None if t.exit_price is None else round(t.exit_price, 8)
    return (t.side, t.entry_index, round(t.entry_price, 8), t.exit_index, exit_price)


CASES = [(name, kind, params) for name in DATA for kind, params in PARAMS]
IDS = [f"{name}-{kind}-{n % len(PARAMS)}" for n, (name, kind, _) in enumerate(CASES)]


@pytest.mark.parametrize(("name", "kind", "params"), CASES, ids=IDS)
def test_sweep_and_replay_take_the_same_trades_with_real_spread_and_costs(
    shared_data: Path, name: str, kind: str, params: dict[str, Any]
) -> None:
    s = series(name, with_ask=True)
    costs = Costs(
        slippage_points=2 * int(s.instrument.tick_size / s.instrument.point),
        spread_points=0 if s.ask_open is not None else 3,
    )
    made = trades(s, kind, params, costs)
    replayed = replay(s, kind, params, costs)
    assert replayed.refusals == []
    got = [key(t) for t in replayed.trades]
    assert len(made) > 10
    assert got == [key(t) for t in made]
    # and the same money, in the account currency, the engine's book agreeing
    assert [t.pnl for t in replayed.trades] == pytest.approx([t.pnl for t in made], abs=1e-6)
    closed = sum(t.pnl for t in made if t.exit_index is not None)
    assert replayed.balance == pytest.approx(100_000 + closed, abs=1e-4)


def vectorbt_trades(s: BarSeries, target: np.ndarray) -> list[tuple[Any, ...]]:
    """vectorbt given the signals the documented way: decided at t's close, so shifted one
    bar, and filled at that bar's open."""
    held = pd.Series(held_positions(target))
    before = held.shift(1, fill_value=0)
    entries = (held > 0) & (before <= 0)
    exits = (before > 0) & (held <= 0)
    short_entries = (held < 0) & (before >= 0)
    short_exits = (before < 0) & (held >= 0)
    close = pd.Series(s.close)
    pf = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        short_entries=short_entries,
        short_exits=short_exits,
        price=pd.Series(s.open),
        size=1.0,
        init_cash=1e12,
        fees=0.0,
    )
    records = pf.trades.values  # the structured array of trade records
    out = []
    for r in records:
        is_open = r["status"] == 0
        out.append(
            (
                "buy" if r["direction"] == 0 else "sell",
                int(r["entry_idx"]),
                round(float(r["entry_price"]), 8),
                None if is_open else int(r["exit_idx"]),
                None if is_open else round(float(r["exit_price"]), 8),
            )
        )
    return out


@pytest.mark.parametrize(("name", "kind", "params"), CASES, ids=IDS)
def test_the_sweep_takes_vectorbts_trades_on_one_sided_bars_without_costs(
    shared_data: Path, name: str, kind: str, params: dict[str, Any]
) -> None:
    s = series(name, with_ask=False)
    want = vectorbt_trades(s, reference_targets(s, kind, params))
    assert len(want) > 10
    assert swept(s, kind, params, Costs()) == want


def reference_targets(s: BarSeries, kind: str, params: dict[str, Any]) -> np.ndarray:
    """The documented semantics written plainly, apart from the kernels under test."""
    closes = s.close.tolist()
    short = bool(params.get("allow_short", False))
    target, pos = [], 0
    if kind == "ma_cross":
        fast, slow = params["fast"], params["slow"]
        units = [round(c * 10**8) for c in closes]
        prev = None
        for t in range(len(units)):
            if t + 1 < slow:
                target.append(pos)
                continue
            diff = sum(units[t + 1 - fast : t + 1]) * slow - sum(units[t + 1 - slow : t + 1]) * fast
            now = (diff > 0) - (diff < 0)
            if prev is not None:
                above, below = now > 0 >= prev, now < 0 <= prev
                if pos == 1 and below:
                    pos = -1 if short else 0
                elif (pos == -1 and above) or (pos == 0 and above):
                    pos = 1
                elif pos == 0 and below and short:
                    pos = -1
            prev = now
            target.append(pos)
        return np.array(target, dtype=np.int8)
    period = params["period"]
    lower, upper = float(params.get("lower", 30)), float(params.get("upper", 70))
    exit_level = float(params.get("exit", 50))
    gains: list[float] = []
    losses: list[float] = []
    avg_gain = avg_loss = None
    target.append(0)
    for t in range(1, len(closes)):
        change = closes[t] - closes[t - 1]
        g, lo = max(change, 0.0), max(-change, 0.0)
        if avg_gain is None:
            gains.append(g)
            losses.append(lo)
            if len(gains) == period:
                avg_gain, avg_loss = sum(gains) / period, sum(losses) / period
        else:
            avg_gain = (avg_gain * (period - 1) + g) / period
            avg_loss = (avg_loss * (period - 1) + lo) / period
        if avg_gain is not None and avg_loss is not None:
            total = avg_gain + avg_loss
            rsi = 100.0 * avg_gain / total if total != 0.0 else 0.0
            if (pos > 0 and rsi > exit_level) or (pos < 0 and rsi < exit_level):
                pos = 0
            elif pos == 0 and rsi < lower:
                pos = 1
            elif pos == 0 and short and rsi > upper:
                pos = -1
        target.append(pos)
    return np.array(target, dtype=np.int8)
