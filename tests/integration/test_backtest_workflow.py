"""BacktestWorkflow on real servers and real data: sweep, replay and walk-forward runs give
what the computation gives when called directly, record their results in PostgreSQL and
ClickHouse, answer the progress query, cancel, explain bad input, and survive a killed worker."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from domain.param_grid import param_sets
from research.series import BarSeries, Costs
from research.sweep import evaluate, trades
from temporal.backtests import OOS_KEY, Progress, set_key
from tests.conftest import REPO, RunningPlatform
from tests.integration.research_stack import ResearchStack, ns, research_stack
from workflows.backtest import BacktestWorkflow

pytestmark = pytest.mark.shared_data

GRID = {"fast": [5, 10, 20], "slow": [30, 60]}
COSTS = Costs(commission_per_lot=3.5, slippage_points=1)


@pytest.fixture
async def stack(platform: RunningPlatform, shared_data: Path) -> AsyncIterator[ResearchStack]:
    async with research_stack(platform, shared_data, ("GBPUSD",)) as running:
        yield running


async def progress_of(handle: WorkflowHandle[Any, Any]) -> Progress:
    """The progress query, once a worker (here a process still starting) can answer it."""
    for _ in range(300):
        try:
            return await handle.query("progress", result_type=Progress)
        except RPCError:
            await asyncio.sleep(0.1)
    raise AssertionError("no worker answered the progress query in 30 s")


def direct(stack: ResearchStack) -> BarSeries:
    """The same bars the workflow reads, for the computation called directly."""
    from activities.backtests import BacktestActivities

    request = stack.request()
    return BacktestActivities(stack.market, stack.runs, stack.archive)._series(
        request, request.start_ns, request.end_ns
    )


async def test_a_sweep_ranks_every_set_as_the_computation_does(stack: ResearchStack) -> None:
    request = stack.request(grid=GRID, params={"volume": "0.5"}, chunk_size=2)
    result = await stack.run(request)
    series = direct(stack)
    expected = evaluate(
        series, "ma_cross", list(param_sets(GRID, {"volume": "0.5"})), COSTS, 100_000.0
    )
    by_params = {tuple(sorted(e.params.items())): e.metrics for e in expected}
    assert (result.total, result.evaluated, result.skipped) == (6, 6, 0)
    assert len(result.top) == 6
    for e in result.top:
        want = by_params[tuple(sorted(e.params.items()))]
        assert e.metrics["final_equity"] == pytest.approx(want.final_equity, abs=1e-6)
        assert e.metrics["trades"] == want.trades
    sharpes = [e.metrics["sharpe"] for e in result.top]
    assert sharpes == sorted(sharpes, key=lambda v: -v if v is not None else float("inf"))
    [kept] = result.kept
    assert kept.params == result.top[0].params
    archived = stack.archive.trades(request.run_id, set_key("all", kept.set_index))
    made = trades(series, "ma_cross", kept.params, COSTS)
    assert archived.height == len(made) == kept.trades
    assert archived["pnl"].to_list() == pytest.approx([t.pnl for t in made])
    run = await stack.runs.run(request.run_id)
    assert run is not None
    assert (run["status"], run["mode"]) == ("completed", "sweep")
    ranked = await stack.runs.results(request.run_id)
    assert [r["params"] for r in ranked] == [e.params for e in result.top]
    handle = stack.client.get_workflow_handle(request.workflow_id)
    progress = await handle.query("progress", result_type=Progress)
    assert (progress.status, progress.done, progress.total) == ("completed", 6, 6)
    assert (progress.chunks_done, progress.chunks) == (3, 3)
    assert progress.best is not None
    assert progress.best.params == result.top[0].params
    described = await handle.describe()
    attributes = {k: v[0] for k, v in described.search_attributes.items() if v}
    assert attributes["Strategy"] == "ma_cross"
    assert attributes["Symbol"] == "GBPUSD"
    assert attributes["Mode"] == "sweep"
    assert attributes["Status"] == "completed"


async def test_a_replay_runs_each_set_through_the_engine_and_agrees_with_the_sweep(
    stack: ResearchStack,
) -> None:
    grid = {"fast": [5, 10], "slow": [30]}
    request = stack.request(mode="replay", grid=grid, params={"allow_short": True})
    result = await stack.run(request)
    series = direct(stack)
    assert len(result.kept) == 2
    for kept in result.kept:
        made = trades(series, "ma_cross", kept.params, COSTS)
        archived = stack.archive.trades(request.run_id, set_key("all", kept.set_index))
        assert archived["entry_price"].to_list() == pytest.approx([t.entry_price for t in made])
        assert archived["pnl"].to_list() == pytest.approx([t.pnl for t in made], abs=1e-6)
        assert kept.refusals == []
    sharpes = [k.metrics["sharpe"] for k in result.kept]
    assert sharpes == sorted(sharpes, reverse=True)  # best first
    assert [e.set_index for e in result.top] == [k.set_index for k in result.kept]


async def test_sets_the_strategy_refuses_are_skipped_with_the_reason(stack: ResearchStack) -> None:
    request = stack.request(grid={"fast": [10, 40], "slow": [30]})
    result = await stack.run(request)
    assert (result.evaluated, result.skipped) == (1, 1)
    assert result.refusals == ["need 1 <= fast < slow, got fast=40 slow=30"]


async def test_walk_forward_replays_each_windows_best_on_the_next_and_stitches_them(
    platform: RunningPlatform, shared_data: Path
) -> None:
    async with research_stack(platform, shared_data, ("USDJPY",)) as stack:
        request = stack.request(
            symbol="USDJPY",
            start_ns=ns("2013-02-01"),
            end_ns=ns("2013-03-02"),
            mode="walk-forward",
            train="10D",
            test="5D",
            grid={"fast": [10, 20], "slow": [60, 120]},
            metric="total_return",
        )
        result = await stack.run(request)
        assert len(result.windows) == 4
        starts = [w.test_start_ns for w in result.windows]
        assert starts[0] == ns("2013-02-11")
        assert [w.test_end_ns for w in result.windows[:-1]] == starts[1:]  # back to back
        for w in result.windows:
            assert w.chosen is not None
            assert w.test is not None
            train = await stack.runs.results(request.run_id, f"train-{w.index}")
            assert train[0]["params"] == w.chosen.params  # the train window's best
        assert result.out_of_sample is not None
        # the balance is carried window to window: the stitched run ends where the last did
        last = result.windows[-1].test
        assert last is not None
        assert result.out_of_sample.final_equity == pytest.approx(last.final_equity)
        assert result.out_of_sample.trades == sum(w.test.trades for w in result.windows if w.test)
        stitched = stack.archive.equity(request.run_id, OOS_KEY)
        assert stitched["ts"].is_sorted()
        run = await stack.runs.run(request.run_id)
        assert run is not None
        assert run["metrics"]["out_of_sample"]["total_return"] == pytest.approx(
            result.out_of_sample.metrics["total_return"]
        )
        assert len(run["metrics"]["in_sample"]) == 4


async def test_an_empty_range_fails_the_run_saying_what_data_exists(stack: ResearchStack) -> None:
    request = stack.request(start_ns=ns("2015-01-01"), end_ns=ns("2015-02-01"))
    handle = await stack.start(request)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    message = str(failed.value.cause)
    assert "no GBPUSD M1 bars in 2015-01-01..2015-02-01" in message
    assert "stored: M1 ask 2012-02-01..2012-02-29" in message or "2012-02" in message


async def test_a_range_too_short_to_walk_forward_fails_the_run_saying_so(
    stack: ResearchStack,
) -> None:
    request = stack.request(mode="walk-forward", train="2M", test="1M", grid={"fast": [5]})
    handle = await stack.start(request)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    assert "holds no 2M train window followed by a 1M test window" in str(failed.value.cause)
    run = await stack.runs.run(request.run_id)
    assert run is not None
    assert run["status"] == "failed"


async def test_a_cancelled_run_stops_its_activities_and_is_closed_as_cancelled(
    stack: ResearchStack,
) -> None:
    grid = {"fast": list(range(2, 40)), "slow": list(range(41, 81))}  # 1,520 sets
    request = stack.request(grid=grid, chunk_size=50, parallel=1)
    handle = await stack.start(request)
    for _ in range(200):
        progress = await handle.query("progress", result_type=Progress)
        if progress.chunks_done >= 1:
            break
        await asyncio.sleep(0.1)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 60)
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    progress = await handle.query("progress", result_type=Progress)
    assert progress.status == "cancelled"
    assert progress.done < progress.total
    run = await stack.runs.run(request.run_id)
    assert run is not None
    assert run["status"] == "cancelled"
    recorded = await stack.runs.results(request.run_id)
    # whole chunks only: those the workflow counted, and one that finished as it was cancelled
    chunks: dict[int, int] = {}
    for r in recorded:
        chunks[r["set_index"] // 50] = chunks.get(r["set_index"] // 50, 0) + 1
    assert all(n == min(50, 1_520 - 50 * k) for k, n in chunks.items()), chunks
    assert progress.done <= len(recorded) < 1_520


@pytest.mark.slow
async def test_a_run_whose_worker_is_killed_resumes_from_its_finished_chunks(
    platform: RunningPlatform, shared_data: Path
) -> None:
    grid = {"fast": list(range(2, 40)), "slow": list(range(41, 81))}  # 1,520 sets
    async with research_stack(platform, shared_data, ("GBPUSD",), in_process=False) as stack:
        request = stack.request(grid=grid, chunk_size=152, parallel=1)  # 10 chunks in turn
        first = stack.worker_process()
        second = None
        try:
            handle = await stack.start(request)
            for _ in range(1_200):
                progress = await progress_of(handle)
                if progress.chunks_done >= 3:
                    break
                await asyncio.sleep(0.05)
            first.kill()  # SIGKILL: no drain, the running chunk's heartbeats just stop
            first.wait()
            assert 3 <= progress.chunks_done < 10
            second = stack.worker_process()
            result = await asyncio.wait_for(handle.result(), 180)
            again = await stack.run(request.model_copy(update={"run_id": request.run_id + "b"}))
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(20)
        assert result.evaluated == again.evaluated
        assert [(e.params, e.metrics) for e in result.top] == [
            (e.params, e.metrics) for e in again.top
        ]
        history = await handle.fetch_history()
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        assert scheduled.count("sweep_chunk") == 10  # each chunk handed out once: no restart
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
        ]
        assert max(attempts) == 2  # the chunk the killed worker held was run again
        assert len(await stack.runs.results(request.run_id)) == 1_520 - result.skipped


async def test_backtest_histories_replay_with_the_current_code(stack: ResearchStack) -> None:
    """AITP_RECORD_HISTORIES=1 checks them in, for the Replayer in CI."""
    sweep = stack.request(grid={"fast": [5, 10], "slow": [30]}, chunk_size=1)
    walk = stack.request(mode="walk-forward", train="10D", test="5D", grid={"fast": [5, 10]})
    replayer = Replayer(workflows=[BacktestWorkflow], data_converter=pydantic_data_converter)
    for name, request in (("backtest_sweep", sweep), ("backtest_walk_forward", walk)):
        await stack.run(request)
        history = await stack.client.get_workflow_handle(request.workflow_id).fetch_history()
        await replayer.replay_workflow(history)
        if os.environ.get("AITP_RECORD_HISTORIES") == "1":
            (REPO / "tests" / "replay" / f"{name}.json").write_text(history.to_json())
