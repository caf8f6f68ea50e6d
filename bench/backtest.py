"""Backtests: the vectorised sweep against vectorbt on the same grid, and the event-driven
replay through the hot path's engine.

Bars: one FX year of M1 (377,280 weekday minutes), block-bootstrapped in one-hour blocks from
the shared GBPUSD bid file (bench.marketdata's generator). Grid: `ma_cross` fast 5..50 x slow
60..150 (100 sets), one-sided bars with a 10-point spread. Ours: `research.sweep.evaluate`,
the code the backtest activity runs (kernel, fills, equity curve, metrics per set). Peer:
vectorbt called directly: its MA indicator over the grid, crossings, signals shifted one bar,
`Portfolio.from_signals` at the open, total return per set. Both warmed up (numba compiles)
before timing. Replay: the shared EURUSD ticks looped to at least 1M through the engine with
`ma_cross 10/30` (bars built from the ticks, fills at the following quotes).

    python -m bench.backtest [--ticks 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import vectorbt as vbt

from adapters.files.market_files import read_market_file
from bench._report import SHARED_DATA, Target, report
from bench.hotpath import looped_ticks
from bench.marketdata import bootstrap_year, fx_year_minutes
from domain.instruments import fx_major
from domain.market_data import SeriesKind, Timeframe
from domain.param_grid import param_sets
from research.replay import replay_ticks
from research.series import BarSeries, Costs
from research.sweep import evaluate

FAST = list(range(5, 55, 5))
SLOW = list(range(60, 160, 10))
COSTS = Costs(spread_points=10)


def ours(series: BarSeries, sets: list[dict[str, object]]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    done = evaluate(series, "ma_cross", sets, COSTS, 100_000.0)
    return time.perf_counter() - started, np.array([e.metrics.total_return for e in done])


def peer(series: BarSeries) -> tuple[float, np.ndarray]:
    close, open_ = pd.Series(series.close), pd.Series(series.open)
    started = time.perf_counter()
    fast = vbt.MA.run(close, window=[f for f in FAST for _ in SLOW], short_name="fast")
    slow = vbt.MA.run(close, window=[s for _ in FAST for s in SLOW], short_name="slow")
    entries = fast.ma_crossed_above(slow).shift(1, fill_value=False)
    exits = fast.ma_crossed_below(slow).shift(1, fill_value=False)
    spread = 10 * float(series.instrument.point)
    pf = vbt.Portfolio.from_signals(
        close,
        entries.values,
        exits.values,
        price=open_ + spread / 2,
        size=10_000.0,
        init_cash=100_000.0,
        fees=0.0,
        fixed_fees=0.0,
    )
    returns = np.asarray(pf.total_return())
    return time.perf_counter() - started, returns


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backtest", description=__doc__)
    parser.add_argument("--ticks", type=int, default=1_000_000)
    args = parser.parse_args()

    source = read_market_file(SHARED_DATA / "fx" / "GBPUSD-M1-bid-2012-02.csv", SeriesKind.BARS)
    year = bootstrap_year(source.frame, fx_year_minutes(), np.random.default_rng(7))
    series = BarSeries.from_frames("GBPUSD", Timeframe.M1, fx_major("GBPUSD"), year)
    sets = list(param_sets({"fast": FAST, "slow": SLOW}, {"volume": "0.1"}))
    bars = len(series)
    print(f"{bars:,} M1 bars block-bootstrapped from shared GBPUSD M1; {len(sets)} parameter sets")

    warm = BarSeries.from_frames("GBPUSD", Timeframe.M1, fx_major("GBPUSD"), year.head(5_000))
    evaluate(warm, "ma_cross", sets[:2], COSTS, 100_000.0)
    peer(warm)
    ours_s = min(ours(series, sets)[0] for _ in range(3))
    peer_s = min(peer(series)[0] for _ in range(2))
    evals = bars * len(sets)
    print(f"sweep: ours {ours_s:.2f} s, vectorbt {peer_s:.2f} s")

    ts, bid, ask, passes = looped_ticks(args.ticks)
    started = time.perf_counter()
    result = replay_ticks(fx_major("EURUSD"), ts, bid, ask, "ma_cross", {"fast": 10, "slow": 30})
    replay_s = time.perf_counter() - started
    print(
        f"replay: {len(ts):,} ticks (shared EURUSD ticks looped x{passes}) in {replay_s:.2f} s, "
        f"{len(result.trades)} trades"
    )

    figures: dict[str, float | int | str] = {
        "bar_evals_per_s": evals / ours_s,
        "vectorbt_overhead_ratio": ours_s / peer_s,
        "replay_ticks_per_s": len(ts) / replay_s,
        "sweep_s": ours_s,
        "vectorbt_s": peer_s,
        "vectorbt_bar_evals_per_s": evals / peer_s,
        "bars": bars,
        "parameter_sets": len(sets),
        "ticks": len(ts),
        "data": "bars block-bootstrapped from shared GBPUSD M1; shared EURUSD ticks looped",
    }
    report(
        "backtest",
        figures,
        [
            Target("bar_evals_per_s", ">=", 10_000_000),
            Target("vectorbt_overhead_ratio", "<=", 1.2),
            Target("replay_ticks_per_s", ">=", 500_000),
        ],
    )


if __name__ == "__main__":
    main()
