"""Histories recorded from real runs replay with the current workflow code.

A change that would break running workflows (a command added, removed or reordered without
`workflow.patched()`) fails here. Record new ones with AITP_RECORD_HISTORIES=1 and the
integration test `test_recorded_histories_replay_with_the_current_code`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.backtest import BacktestWorkflow
from workflows.books import AccountBooksWorkflow
from workflows.decision import AIDecisionWorkflow
from workflows.model_retraining import ModelRetrainingWorkflow
from workflows.model_training import ModelTrainingWorkflow
from workflows.order import OrderLifecycleWorkflow
from workflows.pattern_index import PatternIndexWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "replay").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "order_market_fill",
        "order_limit_cancel",
        "decision_approved",
        "backtest_sweep",
        "backtest_walk_forward",
        "model_training",
        "model_retraining",
        "pattern_index",
        "books_fill_and_reconcile",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=[
            OrderLifecycleWorkflow,
            AIDecisionWorkflow,
            BacktestWorkflow,
            ModelTrainingWorkflow,
            ModelRetrainingWorkflow,
            PatternIndexWorkflow,
            AccountBooksWorkflow,
        ],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
