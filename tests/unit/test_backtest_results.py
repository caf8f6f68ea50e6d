"""A backtest's results between the computation and the stores: combined over symbols, cut
into walk-forward windows over the bars there are, and framed for the archive and back."""

from __future__ import annotations

import math
import threading

import numpy as np
import polars as pl

from domain.periods import Span
from research.frames import equity_frame, metrics_json, trades_frame, trades_from_frame
from research.runs import bar_windows, mean_metrics
from research.series import SeriesCache, both_sides
from research.simulate import Metrics, Trade

DAY = 86_400 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01


def test_a_batch_keeps_the_sets_every_symbol_has_with_each_metric_averaged() -> None:
    eurusd = {0: ({"fast": 5}, {"sharpe": 1.0, "trades": 4}), 1: ({"fast": 10}, {"sharpe": 2.0})}
    usdjpy = {0: ({"fast": 5}, {"sharpe": 3.0, "trades": None}), 2: ({"fast": 20}, {})}
    assert mean_metrics([eurusd, usdjpy]) == [
        (0, {"fast": 5}, {"symbols": 2, "sharpe": 2.0, "trades": None})
    ]
    assert mean_metrics([]) == []


def test_windows_cover_only_the_bars_there_are() -> None:
    ts = np.arange(T0, T0 + 40 * DAY, DAY)  # 40 daily bars, the range asked is longer
    month = Span.parse("1M")
    windows = bar_windows(ts, T0, T0 + 365 * DAY, month, Span.parse("5D"), anchored=False)
    assert windows[0] == (T0, T0 + 31 * DAY, T0 + 36 * DAY)
    assert all(c <= int(ts[-1]) + 1 for _, _, c in windows)  # none past the last bar
    assert all(np.count_nonzero((ts >= b) & (ts < c)) >= 2 for _, b, c in windows)


def test_trades_and_equity_frames_go_to_the_archive_and_back() -> None:
    ts = np.arange(T0, T0 + 5 * DAY, DAY)
    trades = [Trade("buy", 0.1, 0, 1.1, 3, 1.2, 10.0), Trade("sell", 0.2, 3, 1.2, None, None, 0.0)]
    framed = trades_frame(trades, ts)
    assert framed["entry_ts"].dtype == pl.Datetime("ns", "UTC")
    assert trades_from_frame(framed, ts) == trades
    curve = equity_frame(ts, np.linspace(100.0, 110.0, 5))
    assert curve["ts"].dt.epoch("ns").to_list() == ts.tolist()


def test_metrics_that_are_not_finite_are_missing_in_json() -> None:
    names = Metrics.__dataclass_fields__
    values = {name: 1.5 for name in names} | {"sharpe": math.inf, "sortino": float("nan")}
    kept = metrics_json(Metrics(**values))  # type: ignore[arg-type]
    assert kept["sharpe"] is None
    assert kept["sortino"] is None
    assert kept["total_return"] == 1.5


def test_bid_and_ask_keep_only_the_bars_both_have() -> None:
    bid = pl.DataFrame({"ts": [1, 2, 3, 4], "close": [1.0, 2.0, 3.0, 4.0]})
    ask = pl.DataFrame({"ts": [2, 3, 5], "close": [2.1, 3.1, 5.1]})
    both_bid, both_ask = both_sides(bid, ask)
    assert both_bid["ts"].to_list() == both_ask["ts"].to_list() == [2, 3]
    assert both_sides(bid, bid) == (bid, bid)


def test_the_cache_loads_a_range_once_and_forgets_the_least_recent() -> None:
    cache = SeriesCache(2)
    loads: list[str] = []
    lock = threading.Lock()

    def loader(key: str):  # type: ignore[no-untyped-def]
        def load():  # type: ignore[no-untyped-def]
            with lock:
                loads.append(key)
            return key

        return load

    for key in ["a", "b", "a", "c", "a", "b"]:
        assert cache.get(key, loader(key)) == key
    assert loads == ["a", "b", "c", "b"]  # "b" was the least recent when "c" came
