"""BacktestWorkflow on real servers and real data: sweep, replay and walk-forward runs give
what the computation gives when called directly, record their results in PostgreSQL and
ClickHouse, answer the progress query, cancel, explain bad input, and survive a killed worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.param_grid import param_sets
from research.series import BarSeries, Costs
from research.sweep import evaluate, trades
from temporal.backtests import Progress, set_key
from tests.conftest import RunningPlatform
from tests.integration.research_stack import ResearchStack, research_stack

pytestmark = pytest.mark.shared_data

GRID = {"fast": [5, 10, 20], "slow": [30, 60]}
COSTS = Costs(commission_per_lot=3.5, slippage_points=1)


@pytest.fixture
async def stack(platform: RunningPlatform, shared_data: Path) -> AsyncIterator[ResearchStack]:
    async with research_stack(platform, shared_data, ("GBPUSD",)) as running:
        yield running


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
