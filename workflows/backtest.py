"""BacktestWorkflow: a strategy over a parameter grid and a date range, as chunks of work on
the research queue, visible and queryable while it runs.

- sweep: the grid in chunks (at most MAX_CHUNKS of them, `parallel` at once), each a
  heartbeating activity that evaluates its sets vectorised; the best set is then kept in
  full (trades and equity curve).
- replay: each set through the hot path's own engine and paper broker, all kept in full.
- walk-forward: every train window swept, then the best set of each replayed on the test
  window that follows, with the balance carried from one window to the next; the test
  windows are stitched into one out-of-sample run reported beside the in-sample best.

Several symbols make a batch: every symbol's data is found first, then one child run per
symbol (each the workflow above, on its own), and the sets are ranked by their metric
averaged over the symbols.

Finished chunks are in the history, so a run whose worker was killed resumes with the chunks
still owed, never from zero. Cancelling the workflow cancels its activities (they stop at
their next set), then closes the run as cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cmp_to_key
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from domain.param_grid import param_set
    from temporal import retries
    from temporal import search_attributes as sa
    from temporal.backtests import (
        BACKTEST_WORKFLOW,
        MAX_CHUNKS,
        SWEEP_SCOPE,
        BacktestRequest,
        BacktestResult,
        ChunkResult,
        CloseRun,
        CombineRuns,
        Evaluation,
        Kept,
        Plan,
        PlannedWindow,
        Progress,
        SetRun,
        Stitch,
        SweepChunk,
        WindowResult,
        better,
        window_scope,
    )

T = TypeVar("T")
HEARTBEAT = timedelta(seconds=15)  # a killed worker's chunk is handed out again after this
CHUNK_DEADLINE = timedelta(hours=6)
QUICK = timedelta(minutes=2)
RETRY = retries.RESEARCH


@workflow.defn(name=BACKTEST_WORKFLOW)
class BacktestWorkflow:
    @workflow.init
    def __init__(self, request: BacktestRequest) -> None:
        self._request = request
        self._status = "running"
        self._phase = "planning"
        self._total = 0
        self._done = 0
        self._chunks = 0
        self._chunks_done = 0
        self._best: Evaluation | None = None
        self._started: datetime | None = None
        self._running = 0
        self._children: list[str] = []

    @workflow.run
    async def run(self, request: BacktestRequest) -> BacktestResult:
        self._started = workflow.now()
        workflow.upsert_search_attributes(
            [
                sa.STRATEGY.value_set(request.strategy),
                sa.SYMBOL.value_set(",".join(request.symbols)),
                sa.TENANT.value_set(request.tenant),
                sa.MODE.value_set(request.mode),
                sa.STATUS.value_set("running"),
            ]
        )
        try:
            plan = await workflow.execute_activity(
                "plan_backtest",
                request,
                result_type=Plan,
                start_to_close_timeout=QUICK,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RETRY,
            )
            if request.batch:
                result = await self._batch(request)
            elif request.mode == "walk-forward":
                result = await self._walk_forward(request, plan)
            else:
                result = await self._range(request)
        except asyncio.CancelledError:
            await self._close("cancelled", {})
            raise
        except (ActivityError, ChildWorkflowError, ApplicationError) as exc:
            if isinstance(exc.cause, CancelledError):  # cancelled while an activity ran
                await self._close("cancelled", {})
                raise asyncio.CancelledError from None
            cause = exc.cause if isinstance(exc, ActivityError | ChildWorkflowError) else None
            reason = str(cause) if cause is not None else str(exc)
            await self._close("failed", {"error": reason})
            raise ApplicationError(reason, type="BacktestFailed", non_retryable=True) from None
        return result

    @workflow.query(name="progress")
    def progress(self) -> Progress:
        elapsed = (workflow.now() - self._started).total_seconds() if self._started else 0.0
        eta = None
        if 0 < self._done < self._total and elapsed > 0:
            eta = elapsed / self._done * (self._total - self._done)
        return Progress(
            status=self._status,
            phase=self._phase,
            done=self._done,
            total=self._total,
            chunks_done=self._chunks_done,
            chunks=self._chunks,
            elapsed_s=elapsed,
            eta_s=eta,
            best=self._best,
            children=self._children,
        )

    async def _batch(self, request: BacktestRequest) -> BacktestResult:
        parts = [request.part(symbol) for symbol in request.symbols]
        self._children = [p.run_id for p in parts]
        self._total = request.sets * len(parts)
        self._chunks = len(parts)
        self._phase = f"{len(parts)} symbols"

        async def child(part: BacktestRequest) -> BacktestResult:
            result: BacktestResult = await workflow.execute_child_workflow(
                BACKTEST_WORKFLOW,
                part,
                id=part.workflow_id,
                result_type=BacktestResult,
                static_summary=f"{part.strategy} {part.symbol} {part.timeframe} {part.mode}, "
                f"part of {request.run_id}",
            )
            self._chunks_done += 1
            self._done += part.sets
            return result

        # every child runs to its end (and closes its own run) even when another fails
        outcomes = await asyncio.gather(*(child(p) for p in parts), return_exceptions=True)
        failed = [
            f"{p.symbol}: {_reason(o)}"
            for p, o in zip(parts, outcomes, strict=True)
            if isinstance(o, BaseException)
        ]
        if failed:
            raise ApplicationError("; ".join(failed), type="BacktestFailed", non_retryable=True)
        results = [o for o in outcomes if isinstance(o, BacktestResult)]
        if request.mode != "walk-forward":
            self._phase = "ranking over the symbols"
            await workflow.execute_activity(
                "combine_backtests",
                CombineRuns(run_id=request.run_id, children=self._children),
                result_type=int,
                start_to_close_timeout=QUICK,
                retry_policy=RETRY,
            )
        summary = {
            r.run_id: (r.out_of_sample.metrics if r.out_of_sample else None)
            if request.mode == "walk-forward"
            else (r.top[0].metrics if r.top else None)
            for r in results
        }
        top = await self._close("completed", {"children": summary})
        return _completed(request, results, top=top, kept=[], children=results)

    async def _range(self, request: BacktestRequest) -> BacktestResult:
        self._total = request.sets
        if request.mode == "sweep":
            self._phase = "sweep"
            results = await self._sweep(request, SWEEP_SCOPE, request.start_ns, request.end_ns)
            kept: list[Kept] = []
            best = _best_of(results, request.metric)
            if best is not None:
                self._phase = "keeping the best set"
                kept.append(
                    await self._run_set(
                        request, SWEEP_SCOPE, best, request.start_ns, request.end_ns, False
                    )
                )
            counted: list[_Counted] = list(results)
        else:
            self._phase = "replay"
            kept = await self._replay_all(request)
            counted = [_Replayed(1, 0, k.refusals) for k in kept]
        top = await self._close("completed", {"best": kept[0].metrics if kept else None})
        return _completed(request, counted, top=top, kept=kept)

    async def _walk_forward(self, request: BacktestRequest, plan: Plan) -> BacktestResult:
        windows = plan.windows
        if not windows:
            raise ApplicationError(
                f"{request.symbol} {request.timeframe} holds no {request.train} train window "
                f"followed by a {request.test} test window in the range",
                type="BadInput",
                non_retryable=True,
            )
        self._total = request.sets * len(windows)
        self._phase = f"sweeping {len(windows)} train windows"
        swept = await asyncio.gather(
            *(
                self._sweep(
                    request, window_scope("train", w.index), w.train_start_ns, w.test_start_ns
                )
                for w in windows
            )
        )
        done: list[WindowResult] = []
        balance = request.balance
        for w, results in zip(windows, swept, strict=True):
            self._phase = f"testing window {w.index + 1}/{len(windows)}"
            chosen = _best_of(results, request.metric)
            test: Kept | None = None
            if chosen is not None:
                test = await self._run_set(
                    request,
                    window_scope("test", w.index),
                    chosen,
                    w.test_start_ns,
                    w.test_end_ns,
                    True,
                    balance,
                )
                balance = test.final_equity
            done.append(_window_result(w, chosen, test))
        self._phase = "stitching the test windows"
        stitched = await workflow.execute_activity(
            "stitch_walk_forward",
            Stitch(request=request, windows=done),
            result_type=Kept | None,  # type: ignore[arg-type]
            start_to_close_timeout=QUICK,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        in_sample = [w.chosen.metrics for w in done if w.chosen is not None]
        await self._close(
            "completed",
            {
                "out_of_sample": stitched.metrics if stitched else None,
                "in_sample": in_sample,
            },
        )
        return _completed(
            request,
            [r for results in swept for r in results],
            top=[],
            kept=[w.test for w in done if w.test is not None],
            windows=done,
            out_of_sample=stitched,
        )

    async def _sweep(
        self, request: BacktestRequest, scope: str, start_ns: int, end_ns: int
    ) -> list[ChunkResult]:
        sets = request.sets
        size = max(request.chunk_size, -(-sets // MAX_CHUNKS))
        chunks = [
            SweepChunk(
                request=request,
                scope=scope,
                index=n,
                first=first,
                count=min(size, sets - first),
                start_ns=start_ns,
                end_ns=end_ns,
            )
            for n, first in enumerate(range(0, sets, size))
        ]
        self._chunks += len(chunks)

        async def one(chunk: SweepChunk) -> ChunkResult:
            result: ChunkResult = await workflow.execute_activity(
                "sweep_chunk",
                chunk,
                result_type=ChunkResult,
                start_to_close_timeout=CHUNK_DEADLINE,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            self._chunks_done += 1
            self._done += chunk.count
            if (
                scope == SWEEP_SCOPE
                and result.best
                and better(result.best, self._best, request.metric)
            ):
                self._best = result.best
            return result

        return await asyncio.gather(*(self._bounded(one, c) for c in chunks))

    async def _replay_all(self, request: BacktestRequest) -> list[Kept]:
        self._chunks = request.sets

        async def one(index: int) -> Kept:
            chosen = Evaluation(
                set_index=index,
                params=param_set(request.grid, request.params, index),
                metrics={},
            )
            kept = await self._run_set(
                request, SWEEP_SCOPE, chosen, request.start_ns, request.end_ns, True
            )
            self._chunks_done += 1
            self._done += 1
            as_evaluation = Evaluation(set_index=index, params=kept.params, metrics=kept.metrics)
            if better(as_evaluation, self._best, request.metric):
                self._best = as_evaluation
            return kept

        kept = await asyncio.gather(*(self._bounded(one, i) for i in range(request.sets)))
        ranked = [
            (Evaluation(set_index=k.set_index, params=k.params, metrics=k.metrics), k) for k in kept
        ]
        return [k for _, k in sorted(ranked, key=cmp_to_key(_by_metric(request.metric)))]

    async def _run_set(
        self,
        request: BacktestRequest,
        scope: str,
        chosen: Evaluation,
        start_ns: int,
        end_ns: int,
        replay: bool,
        balance: float | None = None,
    ) -> Kept:
        kept: Kept = await workflow.execute_activity(
            "run_set",
            SetRun(
                request=request,
                scope=scope,
                set_index=chosen.set_index,
                params=chosen.params,
                start_ns=start_ns,
                end_ns=end_ns,
                balance=request.balance if balance is None else balance,
                replay=replay,
            ),
            result_type=Kept,
            start_to_close_timeout=CHUNK_DEADLINE,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return kept

    async def _bounded(self, work: Callable[[Any], Awaitable[T]], item: Any) -> T:
        """At most `parallel` activities at once, started in order."""
        await workflow.wait_condition(lambda: self._running < self._request.parallel)
        self._running += 1
        try:
            return await work(item)
        finally:
            self._running -= 1

    async def _close(self, status: str, summary: dict[str, Any]) -> list[Evaluation]:
        self._status = status
        self._phase = status
        workflow.upsert_search_attributes([sa.STATUS.value_set(status)])
        top: list[Evaluation] = await workflow.execute_activity(
            "close_backtest",
            CloseRun(
                run_id=self._request.run_id,
                status=status,
                metric=self._request.metric,
                summary=summary,
            ),
            result_type=list[Evaluation],
            start_to_close_timeout=QUICK,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        return top


class _Counted(Protocol):
    """What a result adds to a run's counts: sets evaluated, refused, and why."""

    evaluated: int
    skipped: int
    refusals: list[str]


@dataclass
class _Replayed:
    evaluated: int
    skipped: int
    refusals: list[str]


def _completed(
    request: BacktestRequest,
    counted: Sequence[_Counted],
    top: list[Evaluation],
    kept: list[Kept],
    **rest: Any,
) -> BacktestResult:
    return BacktestResult(
        run_id=request.run_id,
        mode=request.mode,
        metric=request.metric,
        status="completed",
        total=request.sets,
        evaluated=sum(c.evaluated for c in counted),
        skipped=sum(c.skipped for c in counted),
        refusals=_refusals(c.refusals for c in counted),
        top=top,
        kept=kept,
        **rest,
    )


def _best_of(results: list[ChunkResult], metric: str) -> Evaluation | None:
    best: Evaluation | None = None
    for r in results:
        if r.best is not None and better(r.best, best, metric):
            best = r.best
    return best


def _window_result(w: PlannedWindow, chosen: Evaluation | None, test: Kept | None) -> WindowResult:
    return WindowResult(
        index=w.index,
        train_start_ns=w.train_start_ns,
        test_start_ns=w.test_start_ns,
        test_end_ns=w.test_end_ns,
        chosen=chosen,
        test=test,
    )


def _reason(error: BaseException) -> str:
    """The innermost message of a child's failure (its own run says what went wrong)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    return str(error) or type(error).__name__


def _refusals(groups: Any) -> list[str]:
    return list(dict.fromkeys(reason for group in groups for reason in group))[:5]


def _by_metric(metric: str) -> Callable[[tuple[Evaluation, Kept], tuple[Evaluation, Kept]], int]:
    def compare(a: tuple[Evaluation, Kept], b: tuple[Evaluation, Kept]) -> int:
        return -1 if better(a[0], b[0], metric) else 1

    return compare
