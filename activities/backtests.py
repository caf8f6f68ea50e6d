"""The backtest workflow's work: find the data, evaluate chunks of the grid, replay or keep
single sets in full, stitch walk-forward windows, and close the run.

The computation is `research/` (numba kernels that release the GIL, and the hot path's own
engine for replays); it runs on a thread of the worker's pool while the activity heartbeats
how far it got. A cancelled activity stops its thread at the next set, so a cancelled run
leaves no work behind. Every write is keyed (run, scope, set), so a retried activity, or one
redone after its worker was killed, rewrites the same rows instead of adding to them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl
from temporalio import activity

from activities.work import bad_input, on_thread, what_is_stored
from domain.instruments import Instrument, InstrumentError, standard
from domain.market_data import PriceSide, SeriesKind, Timeframe
from domain.param_grid import param_sets
from domain.periods import Span
from domain.ports import BacktestArchive, BacktestRuns, MarketDataStore
from domain.strategies import StrategyError
from research.frames import equity_frame, metrics_json, trades_frame, trades_from_frame
from research.replay import replay_detail, replay_ticks_detail
from research.runs import bar_windows, mean_metrics
from research.series import (
    BarSeries,
    Conversion,
    ConversionError,
    Costs,
    SeriesCache,
    TickSeries,
    both_sides,
    conversion,
)
from research.simulate import Detail, Metrics, held_of, metrics_of
from research.sweep import detail, evaluate
from temporal import backtests as bt

WEEK_NS = 7 * 86_400 * 10**9
MAX_REFUSALS = 5


class BacktestActivities:
    def __init__(
        self,
        market: MarketDataStore,
        runs: BacktestRuns,
        archive: BacktestArchive,
        executor: Executor | None = None,
        cached_series: int = 4,
    ) -> None:
        self._market = market
        self._runs = runs
        self._archive = archive
        self._executor = executor or ThreadPoolExecutor(4, thread_name_prefix="backtest")
        self._cache = SeriesCache(cached_series)

    @activity.defn(name="plan_backtest")
    async def plan_backtest(self, request: bt.BacktestRequest) -> bt.Plan:
        """Finds the data (or says what there is) and opens the run in PostgreSQL; a batch's
        data is found for every symbol before any of its runs starts."""
        if request.batch:
            plans = [await self._plan(request.part(s)) for s in request.symbols]
            plan = bt.Plan(
                bars=sum(p.bars for p in plans),
                ticks=sum(p.ticks for p in plans),
                has_ask=all(p.has_ask for p in plans),
                first_ns=min(p.first_ns for p in plans),
                last_ns=max(p.last_ns for p in plans),
            )
        else:
            plan = await self._plan(request)
        await self._runs.open_run(request.model_dump(mode="json"))
        return plan

    async def _plan(self, request: bt.BacktestRequest) -> bt.Plan:
        if request.ticks:
            ticks = await on_thread(
                self._executor, lambda _: self._ticks(request, request.start_ns, request.end_ns)
            )
            return bt.Plan(
                bars=len(ticks.bars(Timeframe(request.timeframe))),
                ticks=len(ticks),
                has_ask=True,
                first_ns=int(ticks.ts[0]),
                last_ns=int(ticks.ts[-1]),
            )
        series = await on_thread(
            self._executor, lambda _: self._series(request, request.start_ns, request.end_ns)
        )
        return bt.Plan(
            bars=len(series),
            has_ask=series.ask_open is not None,
            first_ns=int(series.ts[0]),
            last_ns=int(series.ts[-1]),
            windows=planned_windows(request, series.ts),
        )

    @activity.defn(name="sweep_chunk")
    async def sweep_chunk(self, chunk: bt.SweepChunk) -> bt.ChunkResult:
        request = chunk.request

        def work(progress: Callable[[int], None]) -> tuple[list[bt.Evaluation], list[str]]:
            series = self._series(request, chunk.start_ns, chunk.end_ns)
            costs = _costs(request)
            refusals: list[str] = []
            sets = list(param_sets(request.grid, request.params, chunk.first, chunk.count))
            evaluated = evaluate(
                series,
                request.strategy,
                sets,
                costs,
                request.balance,
                progress,
                lambda _, exc: refusals.append(str(exc)),
            )
            done = [
                bt.Evaluation(
                    set_index=chunk.first + e.index,
                    params=e.params,
                    metrics=metrics_json(e.metrics),
                )
                for e in evaluated
            ]
            return done, refusals

        evaluations, refusals = await on_thread(self._executor, work)
        await self._runs.record(
            request.run_id,
            chunk.scope,
            [(e.set_index, e.params, e.metrics) for e in evaluations],
        )
        best: bt.Evaluation | None = None
        for e in evaluations:
            if bt.better(e, best, request.metric):
                best = e
        return bt.ChunkResult(
            index=chunk.index,
            evaluated=len(evaluations),
            skipped=len(refusals),
            refusals=list(dict.fromkeys(refusals))[:MAX_REFUSALS],
            best=best,
        )

    @activity.defn(name="run_set")
    async def run_set(self, job: bt.SetRun) -> bt.Kept:
        """One set over a range, in full: replayed through the engine (or computed as the
        sweep does), its trades and equity curve archived, its metrics recorded."""
        request = job.request

        def work(_: Callable[[int], None]) -> tuple[Detail, list[str]]:
            costs = _costs(request)
            if request.ticks:
                return self._tick_replay(job, costs)
            series = self._series(request, job.start_ns, job.end_ns)
            try:
                if job.replay:
                    full, replayed = replay_detail(
                        series, request.strategy, job.params, costs, job.balance
                    )
                    refusals = replayed.refusals
                else:
                    full, refusals = (
                        detail(series, request.strategy, job.params, costs, job.balance),
                        [],
                    )
            except StrategyError as exc:
                raise bad_input(f"set {job.set_index} {job.params}: {exc}") from None
            self._archive.keep(
                request.run_id,
                bt.set_key(job.scope, job.set_index),
                trades_frame(full.trades, series.ts),
                equity_frame(series.ts, full.equity),
            )
            return full, refusals

        full, refusals = await on_thread(self._executor, work)
        metrics = metrics_json(full.metrics)
        await self._runs.record(request.run_id, job.scope, [(job.set_index, job.params, metrics)])
        return bt.Kept(
            scope=job.scope,
            set_index=job.set_index,
            params=job.params,
            trades=len(full.trades),
            final_equity=float(full.equity[-1]),
            metrics=metrics,
            refusals=list(dict.fromkeys(refusals))[:MAX_REFUSALS],
        )

    @activity.defn(name="stitch_walk_forward")
    async def stitch_walk_forward(self, stitch: bt.Stitch) -> bt.Kept | None:
        """The test windows' trades and curves end to end, judged as one out-of-sample run."""
        request = stitch.request
        tested = [w.test for w in stitch.windows if w.test is not None]
        if not tested:
            return None

        def work(_: Callable[[int], None]) -> tuple[Metrics, int, float]:
            keys = [bt.set_key(k.scope, k.set_index) for k in tested]
            curves = [self._archive.equity(request.run_id, key) for key in keys]
            equity = pl.concat(curves)
            trades = pl.concat([self._archive.trades(request.run_id, key) for key in keys])
            ts = equity["ts"].dt.epoch("ns").to_numpy()
            made = trades_from_frame(trades, ts)
            values = equity["equity"].to_numpy()
            metrics = metrics_of(values, ts, held_of(made, len(ts)), made, request.balance)
            self._archive.keep(request.run_id, bt.OOS_KEY, trades.drop("set_key", "n"), equity)
            return metrics, len(made), float(values[-1])

        metrics, count, final = await on_thread(self._executor, work)
        return bt.Kept(
            scope="oos",
            set_index=0,
            params={},
            trades=count,
            final_equity=final,
            metrics=metrics_json(metrics),
        )

    @activity.defn(name="combine_backtests")
    async def combine_backtests(self, combine: bt.CombineRuns) -> int:
        """A batch's ranking: every set evaluated for each symbol, its metrics averaged over
        the symbols (a set missing for one symbol is left out); returns the sets kept."""
        parts = [await self._runs.results(child) for child in combine.children]
        combined = mean_metrics(
            [{r["set_index"]: (r["params"], r["metrics"]) for r in rows} for rows in parts]
        )
        await self._runs.record(combine.run_id, bt.SWEEP_SCOPE, combined)
        return len(combined)

    @activity.defn(name="close_backtest")
    async def close_backtest(self, close: bt.CloseRun) -> list[bt.Evaluation]:
        """Ranks the results, marks the run finished; returns the best sets of the range."""
        await self._runs.close_run(
            close.run_id,
            close.status,
            close.metric,
            descending=bt.descending(close.metric),
            summary=close.summary,
        )
        rows = await self._runs.results(close.run_id, limit=bt.TOP)
        return [
            bt.Evaluation(set_index=r["set_index"], params=r["params"], metrics=r["metrics"])
            for r in rows
        ]

    def _tick_replay(self, job: bt.SetRun, costs: Costs) -> tuple[Detail, list[str]]:
        """Tick by tick: trades archived at the ticks they filled at, the equity curve at the
        close of each bar the engine built."""
        request = job.request
        ticks = self._ticks(request, job.start_ns, job.end_ns)
        try:
            full = replay_ticks_detail(
                ticks,
                Timeframe(request.timeframe),
                request.strategy,
                job.params,
                costs,
                job.balance,
            )
        except StrategyError as exc:
            raise bad_input(f"set {job.set_index} {job.params}: {exc}") from None
        equity = full.detail.equity
        self._archive.keep(
            request.run_id,
            bt.set_key(job.scope, job.set_index),
            trades_frame(full.trades, ticks.ts),
            equity_frame(full.bars.ts, equity),
        )
        return full.detail, full.result.refusals

    def _series(self, request: bt.BacktestRequest, start_ns: int, end_ns: int) -> BarSeries:
        key = self._key(request, "bars", start_ns, end_ns)
        series = self._cache.get(key, lambda: self._load(request, start_ns, end_ns))
        assert isinstance(series, BarSeries)
        return series

    def _ticks(self, request: bt.BacktestRequest, start_ns: int, end_ns: int) -> TickSeries:
        key = self._key(request, "ticks", start_ns, end_ns)
        ticks = self._cache.get(key, lambda: self._load_ticks(request, start_ns, end_ns))
        assert isinstance(ticks, TickSeries)
        return ticks

    @staticmethod
    def _key(request: bt.BacktestRequest, kind: str, start_ns: int, end_ns: int) -> tuple[Any, ...]:
        spread = request.costs.spread_points
        return (kind, request.symbol, request.timeframe, start_ns, end_ns, spread, request.currency)

    def _load_ticks(self, request: bt.BacktestRequest, start_ns: int, end_ns: int) -> TickSeries:
        instrument, timeframe = _instrument(request)
        frame = self._market.read_ticks(request.symbol, start_ns, end_ns)
        if frame.height < 2:
            raise bad_input(
                what_is_stored(
                    self._market,
                    request.symbol,
                    request.timeframe,
                    start_ns,
                    end_ns,
                    SeriesKind.TICKS,
                )
            )
        ticks = TickSeries.from_frame(request.symbol, instrument, frame)
        return ticks.converted(
            self._conversion(request, timeframe, start_ns, end_ns, ticks.ts, ticks.mids())
        )

    def _conversion(
        self,
        request: bt.BacktestRequest,
        timeframe: Timeframe,
        start_ns: int,
        end_ns: int,
        ts: np.ndarray,
        own_mids: np.ndarray,
    ) -> Conversion | None:
        """The rate from the instrument's profit currency to the account's, from its own
        quotes or from another stored pair's bars of the same timeframe (a week before the
        range too, so a range starting on a Monday has a rate from its first bar)."""

        def pair_bars(pair: str) -> pl.DataFrame | None:
            for side in (PriceSide.BID, PriceSide.MID):
                frame = self._market.read_bars(pair, timeframe, side, start_ns - WEEK_NS, end_ns)
                if frame.height:
                    return frame
            return None

        try:
            return conversion(standard(request.symbol), request.currency, ts, own_mids, pair_bars)
        except ConversionError as exc:
            raise bad_input(str(exc)) from None

    def _load(self, request: bt.BacktestRequest, start_ns: int, end_ns: int) -> BarSeries:
        instrument, timeframe = _instrument(request)
        read = self._market.read_bars
        bid = read(request.symbol, timeframe, PriceSide.BID, start_ns, end_ns)
        if bid.height == 0:
            bid = read(request.symbol, timeframe, PriceSide.MID, start_ns, end_ns)
        if bid.height < 2:
            raise bad_input(
                what_is_stored(self._market, request.symbol, request.timeframe, start_ns, end_ns)
            )
        ask: pl.DataFrame | None = None
        if request.costs.spread_points is None:
            ask = read(request.symbol, timeframe, PriceSide.ASK, start_ns, end_ns)
            if ask.height == 0:
                ask = None
            else:
                bid, ask = both_sides(bid, ask)
        series = BarSeries.from_frames(request.symbol, timeframe, instrument, bid, ask)
        return series.converted(
            self._conversion(request, timeframe, start_ns, end_ns, series.ts, series.closing_mids())
        )


def planned_windows(request: bt.BacktestRequest, ts: np.ndarray) -> list[bt.PlannedWindow]:
    if request.mode != "walk-forward" or request.train is None or request.test is None:
        return []
    train, test = Span.parse(request.train), Span.parse(request.test)
    windows = bar_windows(ts, request.start_ns, request.end_ns, train, test, request.anchored)
    return [
        bt.PlannedWindow(index=i, train_start_ns=a, test_start_ns=b, test_end_ns=c)
        for i, (a, b, c) in enumerate(windows)
    ]


def _instrument(request: bt.BacktestRequest) -> tuple[Instrument, Timeframe]:
    try:
        instrument = standard(request.symbol)
    except InstrumentError as exc:
        raise bad_input(str(exc)) from None
    try:
        timeframe = Timeframe(request.timeframe)
    except ValueError:
        known = ", ".join(t.value for t in Timeframe)
        raise bad_input(f"unknown timeframe {request.timeframe!r}; one of {known}") from None
    return instrument, timeframe


def _costs(request: bt.BacktestRequest) -> Costs:
    c = request.costs
    return Costs(c.commission_per_lot, c.slippage_points, c.spread_points or 0)
