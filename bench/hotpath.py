"""Hot path: ticks through bars, ten indicators, two strategies, the risk gate and the paper
broker, on one core; beside it the bare loop (the same feed into a no-op) in the same run.

The ticks are the shared EURUSD HistData file (9,500 real quotes) looped, each pass shifted
forward in time, to at least 1M ticks. `exec` is one order's risk gate + paper broker +
events, measured inside the engine. The outbox is the process's own: every event but quote
samples written to its spool file as it is emitted.

    python -m bench.hotpath [--ticks 1000000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from adapters.files.market_files import read_market_file
from bench._report import SHARED_DATA, Target, report
from domain.instruments import fx_major
from domain.market import QuoteTick
from domain.market_data import SeriesKind
from domain.paper import PaperBroker
from domain.risk import RiskGate, RiskLimits
from domain.strategies import MaCross, RsiReversion
from engine.core import Engine
from hotpath.spool import SpooledOutbox

SYMBOL = "EURUSD"


def looped_ticks(minimum: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    source = read_market_file(SHARED_DATA / "fx" / "EURUSD-ticks-2020-01.csv", SeriesKind.TICKS)
    ts = source.frame["ts"].dt.epoch("ns").to_numpy()
    bid = source.frame["bid"].to_numpy()
    ask = source.frame["ask"].to_numpy()
    passes = -(-minimum // len(ts))
    span = int(ts[-1] - ts[0]) + 60_000_000_000
    shifted = np.concatenate([ts + k * span for k in range(passes)])
    return shifted, np.tile(bid, passes), np.tile(ask, passes), passes


def percentile_us(samples: np.ndarray, q: float) -> float:
    return float(np.percentile(samples, q)) / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    args = parser.parse_args()
    if not (SHARED_DATA / "fx").is_dir():
        sys.exit(f"needs the shared data at {SHARED_DATA}")
    ts, bid, ask, passes = looped_ticks(args.ticks)
    n = len(ts)
    ts_list, bid_list, ask_list = ts.tolist(), bid.tolist(), ask.tolist()
    print(
        f"{n:,} ticks: shared fx/EURUSD-ticks-2020-01.csv (9,500 real quotes) looped {passes} times"
    )

    # baseline: the same feed (a QuoteTick per tick) into a no-op
    def noop(tick: QuoteTick) -> None:
        return None

    gc.disable()
    bare = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for i in range(n):
        t0 = clock()
        noop(QuoteTick(SYMBOL, ts_list[i], bid_list[i], ask_list[i]))
        bare[i] = clock() - t0
    bare_s = time.perf_counter() - started

    instruments = {SYMBOL: fx_major(SYMBOL)}
    strategies = [
        MaCross(SYMBOL, fast=10, slow=30, allow_short=True, volume=Decimal("0.1")),
        RsiReversion(SYMBOL, period=14, volume=Decimal("0.1")),
    ]
    spool_dir = tempfile.TemporaryDirectory(prefix="aitp-bench-")
    outbox = SpooledOutbox(Path(spool_dir.name) / "bench.outbox", capacity=10_000_000)
    engine = Engine(
        "bench",
        instruments,
        strategies,
        PaperBroker(instruments),
        RiskGate("bench", RiskLimits(max_position_volume=Decimal(100), max_repeats=10**9)),
        outbox,
        balance=Decimal(1_000_000),
        measure=True,
    )
    per_tick = np.empty(n, dtype=np.int64)
    on_tick = engine.on_tick
    started = time.perf_counter()
    for i in range(n):
        t0 = clock()
        on_tick(QuoteTick(SYMBOL, ts_list[i], bid_list[i], ask_list[i]))
        per_tick[i] = clock() - t0
        if i % 50_000 == 0:
            outbox.sent(outbox.take(10_000_000))  # the publisher's share, off the tick loop
    full_s = time.perf_counter() - started
    gc.enable()
    outbox.close()
    spool_dir.cleanup()

    execs = np.array(engine.stats.exec_ns, dtype=np.int64)
    figures: dict[str, float | int | str] = {
        "ticks": n,
        "bars": engine.stats.bars,
        "orders": engine.stats.orders,
        "fills": engine.stats.fills,
        "ticks_per_s": round(n / full_s),
        "tick_p50_us": round(percentile_us(per_tick, 50), 3),
        "tick_p99_us": round(percentile_us(per_tick, 99), 3),
        "tick_max_us": round(float(per_tick.max()) / 1000, 1),
        "exec_p50_us": round(percentile_us(execs, 50), 2),
        "exec_p99_us": round(percentile_us(execs, 99), 2),
        "bare_loop_ticks_per_s": round(n / bare_s),
        "bare_loop_tick_p99_us": round(percentile_us(bare, 99), 3),
        "vs_bare_loop": round(bare_s / full_s, 3),
        "data": f"shared EURUSD ticks looped x{passes}",
    }
    report(
        "hotpath",
        figures,
        [
            Target("ticks_per_s", ">=", 200_000),
            Target("tick_p99_us", "<=", 50),
            Target("exec_p99_us", "<=", 100),
        ],
    )


if __name__ == "__main__":
    main()
