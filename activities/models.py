"""The model workflows' activities: plan the dataset, score each walk-forward fold, train the
candidate on every row, register it, and challenge the champion.

Each activity rebuilds the dataset from the stored bars (a second or two for a month of
minutes) rather than passing rows through the workflow history; the heavy ones run on the
worker's pool while heartbeating.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from temporalio import activity

from activities.work import bad_input, on_thread, what_is_stored
from domain.market_data import PriceSide, Timeframe
from domain.ports import Challenge, MarketDataStore, ModelRegistry, ModelVersion
from ml.dataset import Dataset, LabelSpec, bars_with_spread, build_dataset
from ml.ensemble import train_ensemble
from ml.evaluation import challenge, mean_scores, scores
from ml.features import FEATURES_HASH
from ml.inference import Ensemble
from ml.models import ModelError
from ml.splits import Split, purged_walk_forward
from temporal import models as tm

MIN_TRAIN_ROWS = 500  # a fold with fewer training rows before it is not tested


class ModelActivities:
    def __init__(
        self,
        market: MarketDataStore,
        registry: ModelRegistry,
        models_dir: Path,
        executor: Executor | None = None,
    ) -> None:
        self._market = market
        self._registry = registry
        self._models_dir = models_dir
        self._executor = executor or ThreadPoolExecutor(2, thread_name_prefix="models")

    @activity.defn(name="plan_training")
    async def plan_training(self, request: tm.TrainingRequest) -> tm.TrainingPlan:
        data, bars = await on_thread(self._executor, lambda _: self._dataset(request))
        splits = self._splits(request, data)
        return tm.TrainingPlan(
            bars=bars,
            rows=len(data),
            first_ns=int(data.ts[0]),
            last_ns=int(data.ts[-1]),
            folds=len(splits),
        )

    @activity.defn(name="evaluate_fold")
    async def evaluate_fold(self, task: tm.FoldTask) -> tm.FoldScore:
        request = task.request

        def work(progress: object) -> tm.FoldScore:
            data, _ = self._dataset(request)
            split = self._splits(request, data)[task.fold]
            train, test = data.rows(split.train), data.rows(split.test)
            ensemble = self._train(request, train)
            return tm.FoldScore(
                fold=task.fold,
                train_rows=len(train),
                test_rows=len(test),
                test_from_ns=int(test.ts[0]),
                test_to_ns=int(test.ts[-1]),
                scores=_finite(scores(ensemble.predict_proba(test.x), test.y)),
            )

        return await on_thread(self._executor, work)

    @activity.defn(name="train_model")
    async def train_model(self, request: tm.TrainingRequest) -> tm.TrainedArtifact:
        """The candidate, trained on every row; its files under models/<name>/<run id>."""
        directory = self._models_dir / request.name / request.run_id

        def work(progress: object) -> tm.TrainedArtifact:
            data, _ = self._dataset(request)
            ensemble = self._train(request, data)
            ensemble.save(directory)
            return tm.TrainedArtifact(
                artifact=str(directory), rows=len(data), base_rate=float(np.mean(data.y))
            )

        return await on_thread(self._executor, work)

    @activity.defn(name="register_model")
    async def register_model(self, record: tm.RegisterTask) -> tm.ModelRecord:
        request, plan = record.request, record.plan
        registered = await self._registry.register(
            ModelVersion(
                name=request.name,
                version=0,
                symbol=request.symbol,
                timeframe=request.timeframe,
                kinds=tuple(request.kinds),
                features_hash=FEATURES_HASH,
                label=_label(request).describe(),
                data_from_ns=plan.first_ns,
                data_to_ns=plan.last_ns,
                artifact=record.artifact,
                metrics=record.scores,
                trained_by=activity.info().workflow_id or request.workflow_id,
            )
        )
        return _record(registered)

    @activity.defn(name="challenge_champion")
    async def challenge_champion(self, task: tm.ChallengeTask) -> Challenge:
        """Promotes the challenger only if it beats the champion on the metric by more than
        the margin; records the comparison either way."""
        challenger = await self._registry.get(task.name, task.challenger)
        if challenger is None:
            raise bad_input(f"{task.name} has no version {task.challenger}")
        champion = await self._registry.champion(task.name)
        if champion is not None and champion.version == challenger.version:
            return Challenge(  # a retry: the first attempt promoted it and recorded it
                name=task.name,
                challenger=challenger.version,
                champion=None,
                metric=task.metric,
                challenger_value=challenger.metrics.get(task.metric),
                champion_value=None,
                promoted=True,
                reason="the champion already",
            )
        ours, theirs, basis = dict(challenger.metrics), None, "each model's own walk-forward"
        if champion is not None:
            theirs = dict(champion.metrics)
            unseen = [f for f in task.folds if f.test_from_ns > champion.data_to_ns]
            if task.training is not None and unseen:
                training = task.training
                rescored = await on_thread(
                    self._executor, lambda _: self._rescore(training, champion, unseen)
                )
                if rescored is not None:
                    ours = _finite(mean_scores([f.scores for f in unseen]))
                    theirs = rescored
                    basis = f"the same {len(unseen)} test window(s), after the champion's data"
        verdict = challenge(theirs, ours, task.metric, task.margin)
        decision = Challenge(
            name=task.name,
            challenger=challenger.version,
            champion=None if champion is None else champion.version,
            metric=task.metric,
            challenger_value=ours.get(task.metric),
            champion_value=None if theirs is None else theirs.get(task.metric),
            promoted=verdict.promote,
            reason=f"{verdict.reason} (on {basis})" if champion is not None else verdict.reason,
        )
        if verdict.promote and challenger.status != "champion":
            await self._registry.promote(task.name, challenger.version, verdict.reason)
        await self._registry.record_challenge(decision)
        return decision

    # --- the dataset, folds and training, on the pool's threads -------------------------
    def _rescore(
        self, request: tm.TrainingRequest, champion: ModelVersion, folds: list[tm.FoldScore]
    ) -> dict[str, float] | None:
        """The champion's scores on the challenger's test windows (None: its files cannot
        be read with this platform's features, and its recorded scores must do)."""
        try:
            ensemble = Ensemble.load(Path(champion.artifact))
        except (OSError, ModelError):
            return None
        data, _ = self._dataset(request)
        splits = self._splits(request, data)
        per_fold = []
        for fold in folds:
            test = data.rows(splits[fold.fold].test)
            per_fold.append(scores(ensemble.predict_proba(test.x), test.y))
        return _finite(mean_scores(per_fold))

    def _dataset(self, request: tm.TrainingRequest) -> tuple[Dataset, int]:
        try:
            timeframe = Timeframe(request.timeframe)
        except ValueError:
            known = ", ".join(t.value for t in Timeframe)
            raise bad_input(f"unknown timeframe {request.timeframe!r}; one of {known}") from None
        read, start, end = self._market.read_bars, request.start_ns, request.end_ns
        bid = read(request.symbol, timeframe, PriceSide.BID, start, end)
        if bid.height == 0:
            bid = read(request.symbol, timeframe, PriceSide.MID, start, end)
        if bid.height == 0:
            raise bad_input(
                what_is_stored(self._market, request.symbol, request.timeframe, start, end)
            )
        ask = read(request.symbol, timeframe, PriceSide.ASK, start, end)
        data = build_dataset(bars_with_spread(bid, ask if ask.height else None), _label(request))
        needed = MIN_TRAIN_ROWS * 2
        if len(data) < needed:
            raise bad_input(
                f"{request.symbol} {request.timeframe} has {len(data):,} labelled rows in the "
                f"range ({bid.height:,} bars); training needs at least {needed:,}: widen it"
            )
        return data, bid.height

    def _splits(self, request: tm.TrainingRequest, data: Dataset) -> list[Split]:
        splits = purged_walk_forward(
            data.at, data.end, request.folds, request.embargo, MIN_TRAIN_ROWS
        )
        if not splits:
            raise bad_input(
                f"no walk-forward fold has {MIN_TRAIN_ROWS} training rows before it: use "
                "fewer folds or a wider range"
            )
        return splits

    def _train(self, request: tm.TrainingRequest, data: Dataset) -> Ensemble:
        try:
            return train_ensemble(
                data.x,
                data.y,
                request.kinds,
                mode=request.ensemble,
                seed=request.seed,
                params=request.params,
            )
        except ModelError as exc:
            raise bad_input(str(exc)) from None


def _label(request: tm.TrainingRequest) -> LabelSpec:
    return LabelSpec(request.label, request.horizon, request.take_profit, request.stop_loss)


def _finite(values: dict[str, float]) -> dict[str, float]:
    """Scores a JSON document can carry: NaN (an AUC with one class) is left out."""
    return {k: v for k, v in values.items() if np.isfinite(v)}


def _record(model: ModelVersion) -> tm.ModelRecord:
    return tm.ModelRecord(
        name=model.name,
        version=model.version,
        status=model.status,
        artifact=model.artifact,
        metrics=dict(model.metrics),
    )
