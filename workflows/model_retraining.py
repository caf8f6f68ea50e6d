"""ModelRetrainingWorkflow: what a schedule starts for one symbol and timeframe. It trains a
candidate on the last `lookback` of data (a child ModelTrainingWorkflow, so the training is
visible on its own in the UI), then challenges the champion: the candidate is promoted only
if it beats the champion on the chosen metric by more than the margin. The comparison is
recorded in PostgreSQL either way and is this workflow's result.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.periods import Span
    from domain.ports import Challenge
    from temporal import retries
    from temporal import search_attributes as sa
    from temporal.models import (
        MODEL_RETRAINING_WORKFLOW,
        MODEL_TRAINING_WORKFLOW,
        ChallengeTask,
        RetrainingRequest,
        TrainingRequest,
        TrainingResult,
    )

RETRY = retries.RESEARCH


@workflow.defn(name=MODEL_RETRAINING_WORKFLOW)
class ModelRetrainingWorkflow:
    @workflow.run
    async def run(self, request: RetrainingRequest) -> Challenge:
        workflow.upsert_search_attributes(
            [sa.SYMBOL.value_set(request.symbol), sa.MODE.value_set("retraining")]
        )
        end_ns = request.end_ns or int(workflow.now().timestamp() * 1e9)
        training = TrainingRequest(
            run_id=f"{request.name}-{workflow.now():%Y%m%dT%H%M}-{workflow.uuid4().hex[:6]}",
            symbol=request.symbol,
            timeframe=request.timeframe,
            start_ns=Span.parse(request.lookback).before(end_ns),
            end_ns=end_ns,
            kinds=request.kinds,
            folds=request.folds,
            seed=request.seed,
        )
        trained = await workflow.execute_child_workflow(
            MODEL_TRAINING_WORKFLOW,
            training,
            id=training.workflow_id,
            result_type=TrainingResult,
        )
        decision: Challenge = await workflow.execute_activity(
            "challenge_champion",
            ChallengeTask(
                name=trained.name,
                challenger=trained.version,
                training=training,
                folds=trained.folds,
                metric=request.metric,
                margin=request.margin,
            ),
            result_type=Challenge,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RETRY,
        )
        return decision
