"""ModelTrainingWorkflow: a candidate ensemble for one symbol and timeframe, on the research
queue, visible and queryable while it runs.

The dataset is planned first (a range without data fails at once, saying what is stored).
Each walk-forward fold is then trained and scored out of sample by its own heartbeating
activity, in parallel; the candidate is trained on every row and registered with the folds'
mean scores as its metrics. Promotion is a separate, deliberate step: `aitp model promote`,
or the retraining workflow's challenge.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporal import retries
    from temporal import search_attributes as sa
    from temporal.models import (
        MODEL_TRAINING_WORKFLOW,
        FoldScore,
        FoldTask,
        ModelRecord,
        RegisterTask,
        TrainedArtifact,
        TrainingPlan,
        TrainingProgress,
        TrainingRequest,
        TrainingResult,
        mean_fold_scores,
    )

HEARTBEAT = timedelta(seconds=30)  # a killed worker's fold is handed out again after this
TRAINING = timedelta(hours=4)
QUICK = timedelta(minutes=5)
RETRY = retries.RESEARCH


@workflow.defn(name=MODEL_TRAINING_WORKFLOW)
class ModelTrainingWorkflow:
    @workflow.init
    def __init__(self, request: TrainingRequest) -> None:
        self._stage = "planning"
        self._folds = 0
        self._scores: list[FoldScore] = []

    @workflow.run
    async def run(self, request: TrainingRequest) -> TrainingResult:
        workflow.upsert_search_attributes(
            [
                sa.SYMBOL.value_set(request.symbol),
                sa.MODE.value_set("training"),
                sa.STATUS.value_set("running"),
            ]
        )
        try:
            result = await self._train(request)
        except ActivityError as exc:
            self._stage = "failed"
            workflow.upsert_search_attributes([sa.STATUS.value_set("failed")])
            reason = str(exc.cause) if exc.cause is not None else str(exc)
            raise ApplicationError(reason, type="TrainingFailed", non_retryable=True) from None
        self._stage = "done"
        workflow.upsert_search_attributes([sa.STATUS.value_set("done")])
        return result

    async def _train(self, request: TrainingRequest) -> TrainingResult:
        plan = await workflow.execute_activity(
            "plan_training",
            request,
            result_type=TrainingPlan,
            start_to_close_timeout=QUICK,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        self._stage, self._folds = "evaluating", plan.folds
        self._scores = list(
            await asyncio.gather(
                *(self._fold(request, k) for k in range(plan.folds)),
            )
        )
        self._scores.sort(key=lambda s: s.fold)
        self._stage = "training"
        trained = await workflow.execute_activity(
            "train_model",
            request,
            result_type=TrainedArtifact,
            start_to_close_timeout=TRAINING,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        self._stage = "registering"
        metrics = mean_fold_scores(self._scores)
        record = await workflow.execute_activity(
            "register_model",
            RegisterTask(request=request, plan=plan, artifact=trained.artifact, scores=metrics),
            result_type=ModelRecord,
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        return TrainingResult(
            run_id=request.run_id,
            name=record.name,
            version=record.version,
            artifact=record.artifact,
            rows=trained.rows,
            scores=metrics,
            folds=self._scores,
        )

    async def _fold(self, request: TrainingRequest, fold: int) -> FoldScore:
        score: FoldScore = await workflow.execute_activity(
            "evaluate_fold",
            FoldTask(request=request, fold=fold),
            result_type=FoldScore,
            start_to_close_timeout=TRAINING,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )
        self._scores.append(score)
        return score

    @workflow.query(name="progress")
    def progress(self) -> TrainingProgress:
        done = sorted(self._scores, key=lambda s: s.fold)
        return TrainingProgress(
            stage=self._stage, folds_done=len(done), folds=self._folds, scores=done
        )
