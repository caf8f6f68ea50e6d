"""The model workflows' contract: training a candidate ensemble (`ModelTrainingWorkflow`,
id `train-<run id>`) and retraining on a schedule (`ModelRetrainingWorkflow`), which trains,
then promotes the candidate only if it beats the champion.

A model is named by its symbol and timeframe ("GBPUSD-M1"); each training adds a version.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from domain.periods import Span
from temporal.messages import Message

MODEL_TRAINING_WORKFLOW = "ModelTrainingWorkflow"
MODEL_RETRAINING_WORKFLOW = "ModelRetrainingWorkflow"
# the model zoo's kinds (ml.models.KINDS; a test keeps the two the same)
MODEL_KINDS = ("xgboost", "lightgbm", "random_forest", "lstm", "transformer", "cnn")
TREE_KINDS = ("xgboost", "lightgbm", "random_forest")
# scores a promotion can be judged on, and whether lower is better (ml.evaluation.SCORES)
PROMOTION_METRICS = ("log_loss", "brier", "auc", "accuracy")


def model_name(symbol: str, timeframe: str) -> str:
    return f"{symbol}-{timeframe}"


def training_workflow_id(run_id: str) -> str:
    return f"train-{run_id}"


class TrainingRequest(Message):
    run_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    symbol: str
    timeframe: str = "M1"
    start_ns: int
    end_ns: int
    kinds: list[str] = Field(default_factory=lambda: list(TREE_KINDS), min_length=1)
    ensemble: Literal["weighted", "stacked"] = "weighted"
    label: Literal["triple_barrier", "forward_sign"] = "triple_barrier"
    horizon: int = Field(default=30, ge=1, le=10_000, description="bars the label looks ahead")
    take_profit: float = Field(default=2.0, gt=0, description="x ATR (triple barrier)")
    stop_loss: float = Field(default=1.0, gt=0, description="x ATR (triple barrier)")
    folds: int = Field(default=4, ge=1, le=20, description="walk-forward test windows")
    embargo: int = Field(default=60, ge=0, description="bars between train labels and test")
    seed: int = 0
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per kind, e.g. {'xgboost': {'rounds': 100}}"
    )

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = [k for k in value if k not in MODEL_KINDS]
        if unknown:
            raise ValueError(
                f"unknown model kind {', '.join(unknown)}; one of {', '.join(MODEL_KINDS)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("a kind is named twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainingRequest:
        if self.end_ns <= self.start_ns:
            raise ValueError("the end of the range must come after its start")
        stray = set(self.params) - set(self.kinds)
        if stray:
            raise ValueError(f"parameters for kinds not trained: {', '.join(sorted(stray))}")
        return self

    @property
    def name(self) -> str:
        return model_name(self.symbol, self.timeframe)

    @property
    def workflow_id(self) -> str:
        return training_workflow_id(self.run_id)


class TrainingPlan(Message):
    bars: int
    rows: int
    first_ns: int
    last_ns: int
    folds: int  # test windows with enough training rows before them


class FoldTask(Message):
    request: TrainingRequest
    fold: int


class FoldScore(Message):
    fold: int
    train_rows: int
    test_rows: int
    test_from_ns: int
    test_to_ns: int
    scores: dict[str, float]


def mean_fold_scores(folds: list[FoldScore]) -> dict[str, float]:
    """Each score averaged over the folds that have it (an AUC is missing where a fold's test
    labels were all one class)."""
    names = sorted({name for fold in folds for name in fold.scores})
    out = {}
    for name in names:
        values = [fold.scores[name] for fold in folds if name in fold.scores]
        out[name] = sum(values) / len(values)
    return out


class TrainedArtifact(Message):
    artifact: str
    rows: int
    base_rate: float


class RegisterTask(Message):
    request: TrainingRequest
    plan: TrainingPlan
    artifact: str
    scores: dict[str, float]


class ModelRecord(Message):
    """A registered version, as the workflows pass it around."""

    name: str
    version: int
    status: str
    artifact: str
    metrics: dict[str, float] = Field(default_factory=dict)


class TrainingProgress(Message):
    stage: str  # planning, evaluating, training, registering, done, failed
    folds_done: int = 0
    folds: int = 0
    scores: list[FoldScore] = Field(default_factory=list)


class TrainingResult(Message):
    run_id: str
    name: str
    version: int
    artifact: str
    rows: int
    scores: dict[str, float]  # mean over the walk-forward folds, out of sample
    folds: list[FoldScore]


class RetrainingRequest(Message):
    """What a schedule starts: train on the last `lookback` of data, then challenge."""

    symbol: str
    timeframe: str = "M1"
    lookback: str = Field(default="3M", description="data to train on, up to the end (e.g. 3M)")
    end_ns: int | None = Field(default=None, description="None: the moment the run starts")
    kinds: list[str] = Field(default_factory=lambda: list(TREE_KINDS), min_length=1)
    metric: str = "log_loss"
    margin: float = Field(default=0.0, ge=0, description="in the metric's units")
    folds: int = Field(default=4, ge=1, le=20)
    seed: int = 0

    @field_validator("lookback")
    @classmethod
    def _span(cls, value: str) -> str:
        Span.parse(value)
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value not in PROMOTION_METRICS:
            raise ValueError(f"unknown metric {value!r}; one of {', '.join(PROMOTION_METRICS)}")
        return value

    @property
    def name(self) -> str:
        return model_name(self.symbol, self.timeframe)


class ChallengeTask(Message):
    """`training` and `folds`: how the challenger was trained and scored, so the champion
    can be scored on the same test windows where it never saw their data."""

    name: str
    challenger: int
    metric: str
    margin: float
    training: TrainingRequest | None = None
    folds: list[FoldScore] = Field(default_factory=list)


PATTERN_INDEX_WORKFLOW = "PatternIndexWorkflow"


def pattern_index_workflow_id(symbol: str, timeframe: str) -> str:
    """One index build per symbol and timeframe at a time."""
    return f"patterns-{symbol}-{timeframe}"


class PatternIndexRequest(Message):
    symbol: str
    timeframe: str = "M1"
    start_ns: int
    end_ns: int
    horizon: int = Field(default=30, ge=1, le=10_000, description="bars of forward move")
    step: int = Field(default=1, ge=1, description="index every step-th bar's window")

    @model_validator(mode="after")
    def _range(self) -> PatternIndexRequest:
        if self.end_ns <= self.start_ns:
            raise ValueError("the end of the range must come after its start")
        return self

    @property
    def workflow_id(self) -> str:
        return pattern_index_workflow_id(self.symbol, self.timeframe)


class PatternIndexResult(Message):
    collection: str
    windows: int
    first_ns: int
    last_ns: int
