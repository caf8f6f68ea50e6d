"""Training and retraining on the real stack (Temporal, PostgreSQL, ClickHouse) with the
shared GBPUSD minutes: a candidate registered with its out-of-sample scores, a first champion
promoted, an equal challenger kept out, and a range without data refused."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from adapters.files.market_files import read_market_file
from adapters.postgres.models import PostgresModelRegistry
from adapters.vectors.pgvector import PgVectorStore
from domain.market_data import SeriesKind
from domain.ports import Challenge, Nearest
from ml.inference import Ensemble
from ml.patterns import collection, embed, history
from temporal import models
from tests.conftest import REPO, RunningPlatform
from tests.integration.research_stack import ResearchStack, ns, research_stack
from workflows.model_retraining import ModelRetrainingWorkflow
from workflows.model_training import ModelTrainingWorkflow
from workflows.pattern_index import PatternIndexWorkflow

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

SMALL = {"xgboost": {"rounds": 30}, "lightgbm": {"rounds": 30}}


@pytest.fixture
async def stack(
    platform: RunningPlatform, shared_data: Path, tmp_path: Path
) -> AsyncIterator[ResearchStack]:
    async with research_stack(platform, shared_data, ("GBPUSD",), models_dir=tmp_path) as s:
        for table in ("model_challenges", "model_promotions", "model_versions"):
            await s.pool.execute(f"DELETE FROM {table} WHERE name = 'GBPUSD-M1'")
        yield s


def training(**fields: Any) -> models.TrainingRequest:
    values: dict[str, Any] = {
        "run_id": f"m{uuid.uuid4().hex[:8]}",
        "symbol": "GBPUSD",
        "start_ns": ns("2012-02-01"),
        "end_ns": ns("2012-03-01"),
        "kinds": ["xgboost", "lightgbm"],
        "folds": 2,
        "params": SMALL,
        **fields,
    }
    return models.TrainingRequest.model_validate(values)


async def start_training(
    stack: ResearchStack, request: models.TrainingRequest
) -> WorkflowHandle[Any, models.TrainingResult]:
    return await stack.client.start_workflow(
        models.MODEL_TRAINING_WORKFLOW,
        request,
        id=request.workflow_id,
        task_queue=stack.task_queue,
        result_type=models.TrainingResult,
    )


async def test_a_training_registers_a_candidate_with_its_out_of_sample_scores(
    stack: ResearchStack, tmp_path: Path
) -> None:
    request = training()
    handle = await start_training(stack, request)
    result = await asyncio.wait_for(handle.result(), 180)
    assert (result.name, result.version) == ("GBPUSD-M1", 1)
    assert len(result.folds) == 2
    first, second = result.folds
    assert first.test_to_ns < second.test_from_ns  # walk-forward: windows follow each other
    assert {"log_loss", "auc", "brier", "constant_log_loss"} <= set(result.scores)
    assert result.scores["log_loss"] == pytest.approx(
        (first.scores["log_loss"] + second.scores["log_loss"]) / 2
    )
    progress = await handle.query("progress", result_type=models.TrainingProgress)
    assert (progress.stage, progress.folds_done, progress.folds) == ("done", 2, 2)
    await replays(stack, request.workflow_id, "model_training")

    registry = PostgresModelRegistry(stack.pool)
    model = await registry.get("GBPUSD-M1", 1)
    assert model is not None
    assert (model.status, model.kinds, model.trained_by) == (
        "candidate",
        ("xgboost", "lightgbm"),
        request.workflow_id,
    )
    assert model.metrics == pytest.approx(result.scores)
    assert model.label == "triple_barrier h=30 tp=2 sl=1"
    assert Path(model.artifact).is_relative_to(tmp_path)
    ensemble = Ensemble.load(Path(model.artifact))
    assert ensemble.kinds == ["xgboost", "lightgbm"]


async def replays(stack: ResearchStack, workflow_id: str, name: str) -> None:
    """The history replays with the current code; AITP_RECORD_HISTORIES=1 checks it in."""
    history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    replayer = Replayer(
        workflows=[ModelTrainingWorkflow, ModelRetrainingWorkflow, PatternIndexWorkflow],
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)
    if os.environ.get("AITP_RECORD_HISTORIES") == "1":
        (REPO / "tests" / "replay" / f"{name}.json").write_text(history.to_json())


async def retrain(stack: ResearchStack, **fields: Any) -> Challenge:
    request = models.RetrainingRequest.model_validate(
        {
            "symbol": "GBPUSD",
            "lookback": "4W",
            "end_ns": ns("2012-03-01"),
            "kinds": ["lightgbm"],
            "folds": 2,
            "metric": "auc",
            **fields,
        }
    )
    handle = await stack.client.start_workflow(
        models.MODEL_RETRAINING_WORKFLOW,
        request,
        id=f"retrain-{uuid.uuid4().hex[:8]}",
        task_queue=stack.task_queue,
        result_type=Challenge,
    )
    decision = await asyncio.wait_for(handle.result(), 180)
    await replays(stack, handle.id, "model_retraining")
    return decision


async def test_retraining_promotes_a_first_champion_and_keeps_an_equal_challenger_out(
    stack: ResearchStack,
) -> None:
    first = await retrain(stack)
    assert (first.challenger, first.champion, first.promoted) == (1, None, True)
    second = await retrain(stack)  # the same data and seed: the same scores, no gain
    assert (second.challenger, second.champion, second.promoted) == (2, 1, False)
    assert second.challenger_value == pytest.approx(second.champion_value)
    assert "not better by more than the margin" in second.reason
    registry = PostgresModelRegistry(stack.pool)
    champion = await registry.champion("GBPUSD-M1")
    assert champion is not None
    assert champion.version == 1
    recorded = await registry.challenges("GBPUSD-M1")
    assert [(c.challenger, c.promoted) for c in recorded] == [(1, True), (2, False)]


async def test_a_range_without_data_fails_saying_what_is_stored(stack: ResearchStack) -> None:
    request = training(start_ns=ns("2015-01-01"), end_ns=ns("2015-02-01"))
    handle = await start_training(stack, request)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 60)
    assert "no GBPUSD M1 bars in 2015-01-01..2015-02-01; stored: M1" in str(failed.value.cause)


async def test_the_pattern_index_is_built_by_a_workflow_and_finds_a_window_itself(
    stack: ResearchStack, shared_data: Path
) -> None:
    request = models.PatternIndexRequest(
        symbol="GBPUSD", start_ns=ns("2012-02-01"), end_ns=ns("2012-03-01"), step=3
    )
    store = PgVectorStore(stack.pool)
    await store.delete_collection(collection("GBPUSD", "M1"))
    handle = await stack.client.start_workflow(
        models.PATTERN_INDEX_WORKFLOW,
        request,
        id=request.workflow_id,
        task_queue=stack.task_queue,
        result_type=models.PatternIndexResult,
    )
    try:
        result = await asyncio.wait_for(handle.result(), 120)
        await replays(stack, handle.id, "pattern_index")
        bars = read_market_file(shared_data / "fx/GBPUSD-M1-bid-2012-02.csv", SeriesKind.BARS).frame
        ts = bars["ts"].dt.epoch("ns").to_numpy()
        close, ts = bars["close"].to_numpy()[ts < request.end_ns], ts[ts < request.end_ns]
        assert result.windows == len(history(ts, close, 30, 3).ts)
        at = 3 * 2_000 + 32  # a window that was indexed (every third from the 33rd close)
        window = embed(close[: at + 1])
        assert window is not None
        [nearest] = await store.search(result.collection, Nearest(window.tolist(), 1))
        assert nearest.id == str(int(ts[at]))
        assert nearest.distance < 1e-6
        assert nearest.metadata["forward"] == pytest.approx(np.log(close[at + 30] / close[at]))
    finally:
        await store.delete_collection(collection("GBPUSD", "M1"))


async def test_the_champion_is_scored_on_the_challengers_windows_it_never_saw(
    stack: ResearchStack,
) -> None:
    first = await retrain(stack, lookback="2W", end_ns=ns("2012-02-16"))
    assert first.promoted
    registry = PostgresModelRegistry(stack.pool)
    champion = await registry.champion("GBPUSD-M1")
    assert champion is not None
    assert champion.data_to_ns < ns("2012-02-16")
    second = await retrain(stack, lookback="4W", end_ns=ns("2012-03-01"))
    assert second.champion == champion.version
    assert "on the same 1 test window(s), after the champion's data" in second.reason
    assert second.champion_value is not None
    assert second.champion_value != pytest.approx(champion.metrics["auc"])  # scored anew
    challenger = await registry.get("GBPUSD-M1", second.challenger)
    assert challenger is not None
    assert second.challenger_value != pytest.approx(challenger.metrics["auc"])  # that fold only
    recorded = await registry.challenges("GBPUSD-M1")
    assert recorded[-1].reason == second.reason
