"""Costs charged by a backtest, against a computation by hand on nine bars: the real spread
from the ask bars, slippage on both fills, commission per lot on both sides."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from adapters.files.market_files import read_market_file
from domain.instruments import fx_major
from domain.market_data import SeriesKind, Timeframe
from domain.param_grid import param_sets
from research.replay import replay, replay_detail, replay_ticks
from research.series import BarSeries, Costs
from research.simulate import Prices, held_positions, trades_of
from research.strategies import targets
from research.sweep import detail, evaluate, trades

CLOSES = [1.1000, 1.0990, 1.0980, 1.0990, 1.1010, 1.1020, 1.1000, 1.0980, 1.0970]
PARAMS = {"fast": 2, "slow": 3, "volume": "0.5"}
COSTS = Costs(commission_per_lot=3.5, slippage_points=2)
# ma_cross 2/3 crosses above at bar 4's close and below at bar 7's close, so it
# buys at bar 5's open: ask 1.10115 + 2 points = 1.10117,
# sells at bar 8's open: bid 1.09800 - 2 points = 1.09798;
# 0.5 lot = 50,000 EUR: (1.09798 - 1.10117) x 50,000 = -159.50 USD,
# commission 3.50 per lot per side: 2 x 0.5 x 3.50 = 3.50 USD; in all -163.00 USD.
HAND_PNL = -163.0


@pytest.fixture
def series() -> BarSeries:
    opens = [1.1000, *CLOSES[:-1]]
    bid = pl.DataFrame(
        {
            "ts": [i * 60 * 10**9 for i in range(len(CLOSES))],
            "open": opens,
            "high": [max(o, c) + 0.0005 for o, c in zip(opens, CLOSES, strict=True)],
            "low": [min(o, c) - 0.0005 for o, c in zip(opens, CLOSES, strict=True)],
            "close": CLOSES,
        }
    )
    ask = bid.with_columns(
        [(pl.col(c) + 0.00015).round(5) for c in ("open", "high", "low", "close")]
    )
    return BarSeries.from_frames("EURUSD", Timeframe.M1, fx_major("EURUSD"), bid, ask)


def test_the_replay_charges_spread_slippage_and_commission_as_by_hand(series: BarSeries) -> None:
    result = replay(series, "ma_cross", PARAMS, COSTS, balance=100_000)
    [trade] = result.trades
    assert (trade.side, trade.entry_index, trade.exit_index) == ("buy", 5, 8)
    assert (trade.entry_price, trade.exit_price) == (1.10117, 1.09798)
    assert trade.pnl == pytest.approx(HAND_PNL, abs=1e-9)
    assert result.balance == pytest.approx(100_000 + HAND_PNL, abs=1e-9)


def test_the_sweep_charges_the_same(series: BarSeries) -> None:
    held = held_positions(targets("ma_cross", series, PARAMS))
    prices = Prices.of(series, COSTS)
    [trade] = trades_of(held, prices, 0.5, 100_000.0, COSTS.commission_per_lot)
    assert trade.pnl == pytest.approx(HAND_PNL, abs=1e-9)
    swept = detail(series, "ma_cross", PARAMS, COSTS, 100_000.0)  # the sweep's own path
    assert swept.trades == [trade]
    equity = swept.equity
    assert equity[-1] == pytest.approx(100_000 + HAND_PNL, abs=1e-6)
    # marked at bar 5's bid close 1.10200 while long from 1.10117: +41.50, less 1.75 commission
    assert equity[5] == pytest.approx(100_000 + (1.10200 - 1.10117) * 50_000 - 1.75, abs=1e-6)
    metrics = swept.metrics
    assert metrics.trades == 1
    assert metrics.win_rate == 0.0
    assert metrics.total_return == pytest.approx(HAND_PNL / 100_000, abs=1e-12)
    assert metrics.exposure == pytest.approx(3 / 9)
    assert metrics.max_drawdown > 0


def test_a_grid_is_every_combination_and_each_set_is_evaluated(series: BarSeries) -> None:
    sets = list(param_sets({"fast": [2, 3], "slow": [4, 5, 6]}, {"volume": "0.5"}))
    assert len(sets) == 6
    assert sets[0] == {"volume": "0.5", "fast": 2, "slow": 4}
    done: list[int] = []
    evaluations = evaluate(series, "ma_cross", sets, COSTS, 100_000.0, done.append)
    assert done == [1, 2, 3, 4, 5, 6]
    for e in evaluations:
        made = trades(series, "ma_cross", e.params, COSTS)
        assert e.metrics.trades == len(made)
        assert e.metrics.final_equity == pytest.approx(100_000 + sum(t.pnl for t in made))


def test_a_tick_replay_fills_each_trade_at_a_quote_it_saw(shared_data: Path) -> None:
    ticks = read_market_file(shared_data / "fx/EURUSD-ticks-2020-01.csv", SeriesKind.TICKS).frame
    ts = ticks["ts"].dt.epoch("ns").to_numpy()
    bid, ask = ticks["bid"].to_numpy(), ticks["ask"].to_numpy()
    params = {"fast": 3, "slow": 8, "allow_short": True}
    result = replay_ticks(fx_major("EURUSD"), ts, bid, ask, "ma_cross", params)
    assert result.refusals == []
    assert len(result.trades) > 5
    for t in result.trades:
        long = t.side == "buy"
        assert t.entry_price == pytest.approx(ask[t.entry_index] if long else bid[t.entry_index])
        if t.exit_index is not None:
            assert t.exit_index > t.entry_index
            assert t.exit_price == pytest.approx(bid[t.exit_index] if long else ask[t.exit_index])
    assert result.fills == sum(1 if t.exit_index is None else 2 for t in result.trades)


def test_a_replay_is_judged_like_the_sweep_it_agrees_with(series: BarSeries) -> None:
    params = {"fast": 2, "slow": 4, "volume": "0.5", "allow_short": True}
    swept = detail(series, "ma_cross", params, COSTS, 100_000.0)
    replayed, _ = replay_detail(series, "ma_cross", params, COSTS, 100_000.0)
    assert [t.entry_index for t in replayed.trades] == [t.entry_index for t in swept.trades]
    assert replayed.held.tolist() == swept.held.tolist()
    assert replayed.equity == pytest.approx(swept.equity, abs=1e-6)
    assert replayed.metrics.final_equity == pytest.approx(swept.metrics.final_equity, abs=1e-6)
    assert replayed.metrics.exposure == swept.metrics.exposure
