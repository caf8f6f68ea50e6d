"""A backtest over several symbols on real servers and real data: one child run per symbol,
each a run of its own, and the batch ranking each parameter set by its metric averaged over
the symbols; a symbol without data stops the batch before any child starts."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from temporal.backtests import BacktestRequest, child_run_id
from tests.conftest import REPO, RunningPlatform
from tests.integration.research_stack import ResearchStack, ns, research_stack
from workflows.backtest import BacktestWorkflow

pytestmark = pytest.mark.shared_data

SYMBOLS = ["GBPUSD", "USDJPY"]


@pytest.fixture
async def stack(platform: RunningPlatform, shared_data: Path) -> AsyncIterator[ResearchStack]:
    async with research_stack(platform, shared_data, tuple(SYMBOLS)) as running:
        yield running


def batch(stack: ResearchStack, symbols: list[str], **fields: object) -> BacktestRequest:
    return stack.request(
        symbols=symbols,
        start_ns=ns("2012-02-01"),
        end_ns=ns("2013-03-02"),  # GBPUSD's month in 2012, USDJPY's in 2013
        **fields,
    )


async def test_a_batch_runs_each_symbol_and_ranks_sets_by_their_mean_metric(
    stack: ResearchStack,
) -> None:
    request = batch(stack, SYMBOLS, grid={"fast": [5, 10], "slow": [30, 60]}, chunk_size=2)
    result = await stack.run(request)
    children = [child_run_id(request.run_id, s) for s in SYMBOLS]
    assert [c.run_id for c in result.children] == children
    assert (result.total, result.evaluated) == (4, 8)
    per_child = {}
    for child in children:
        run = await stack.runs.run(child)
        assert run is not None
        assert (run["symbol"], run["status"]) == (child.split(".")[-1], "completed")
        rows = await stack.runs.results(child)
        assert len(rows) == 4
        per_child[child] = {r["set_index"]: r["metrics"] for r in rows}
        handle = stack.client.get_workflow_handle(f"backtest-{child}")
        assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    ranked = await stack.runs.results(request.run_id)
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]
    for row in ranked:
        for name in ("sharpe", "total_return", "trades"):
            values = [per_child[c][row["set_index"]][name] for c in children]
            assert row["metrics"][name] == pytest.approx(sum(values) / 2)
        assert row["metrics"]["symbols"] == 2
    means = [r["metrics"]["sharpe"] for r in ranked]
    assert means == sorted(means, reverse=True)
    assert [e.set_index for e in result.top] == [r["set_index"] for r in ranked]
    parent = await stack.runs.run(request.run_id)
    assert parent is not None
    assert (parent["symbol"], parent["status"]) == ("GBPUSD,USDJPY", "completed")
    assert set(parent["metrics"]["children"]) == set(children)
    described = await stack.client.get_workflow_handle(request.workflow_id).describe()
    assert described.search_attributes["Symbol"] == ["GBPUSD,USDJPY"]
    history = await stack.client.get_workflow_handle(request.workflow_id).fetch_history()
    replayer = Replayer(workflows=[BacktestWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
    if os.environ.get("AITP_RECORD_HISTORIES") == "1":
        (REPO / "tests" / "replay" / "backtest_batch.json").write_text(history.to_json())


async def test_a_symbol_without_data_stops_the_batch_before_any_child_runs(
    stack: ResearchStack,
) -> None:
    request = batch(stack, ["GBPUSD", "EURJPY"], grid={"fast": [5]})
    with pytest.raises(WorkflowFailureError) as failed:
        await stack.run(request)
    assert "no EURJPY M1 bars in 2012-02-01..2013-03-02: nothing stored" in str(failed.value.cause)
    for symbol in ("GBPUSD", "EURJPY"):
        assert await stack.runs.run(child_run_id(request.run_id, symbol)) is None


def test_a_batch_names_each_symbol_once() -> None:
    base = {"run_id": "b", "strategy": "ma_cross", "start_ns": 0, "end_ns": 1}
    with pytest.raises(ValueError, match="GBPUSD given more than once"):
        BacktestRequest.model_validate({**base, "symbols": ["GBPUSD", "USDJPY", "GBPUSD"]})
    with pytest.raises(ValueError, match="symbol USDJPY must come first"):
        BacktestRequest.model_validate({**base, "symbol": "USDJPY", "symbols": ["GBPUSD"]})
    request = BacktestRequest.model_validate(
        {**base, "symbols": ["GBPUSD", "USDJPY"], "parallel": 5}
    )
    part = request.part("USDJPY")
    assert (part.run_id, part.symbols, part.parallel, part.batch) == (
        "b.USDJPY",
        ["USDJPY"],
        2,
        False,
    )
