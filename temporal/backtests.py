"""The backtest workflow's contract: what to test, the chunks it fans out, its progress and
its result. Ids are `backtest-<run id>`; ops find runs by Strategy, Symbol, Tenant, Mode and
Status in the Temporal UI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from temporal.messages import Message

BACKTEST_WORKFLOW = "BacktestWorkflow"
Mode = Literal["sweep", "replay"]
METRICS = (
    "sharpe",
    "sortino",
    "total_return",
    "cagr",
    "profit_factor",
    "expectancy",
    "win_rate",
    "max_drawdown",
)


def backtest_workflow_id(run_id: str) -> str:
    return f"backtest-{run_id}"


class CostSpec(Message):
    commission_per_lot: float = Field(default=0.0, ge=0, description="per lot, per side")
    slippage_points: int = Field(default=0, ge=0)
    spread_points: int | None = Field(
        default=None, ge=0, description="None: from the ask bars when stored, else 0"
    )


class BacktestRequest(Message):
    run_id: str = Field(min_length=1, max_length=64)
    tenant: str = "default"
    strategy: str
    symbol: str
    timeframe: str = "M1"
    start_ns: int
    end_ns: int
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="axes to sweep")
    params: dict[str, Any] = Field(default_factory=dict, description="fixed parameters")
    mode: Mode = "sweep"
    costs: CostSpec = CostSpec()
    balance: float = Field(default=100_000.0, gt=0)
    metric: str = "sharpe"  # ranks the parameter sets, best first
    seed: int = 0
    chunk_size: int = Field(default=25, ge=1, description="parameter sets per activity")

    @property
    def workflow_id(self) -> str:
        return backtest_workflow_id(self.run_id)


class Chunk(Message):
    """Parameter sets one activity evaluates over the run's data."""

    request: BacktestRequest
    index: int
    param_sets: list[dict[str, Any]]


class Evaluation(Message):
    params: dict[str, Any]
    metrics: dict[str, float | int | None]


class ChunkResult(Message):
    index: int
    evaluations: list[Evaluation]


class Progress(Message):
    status: str  # running | completed | cancelled | failed
    done: int  # parameter sets evaluated
    total: int
    chunks_done: int
    chunks: int
    elapsed_s: float
    eta_s: float | None
    best: Evaluation | None = None


class Kept(Message):
    """What the archive holds of one parameter set's trades and equity curve."""

    params: dict[str, Any]
    trades: int


class BacktestResult(Message):
    run_id: str
    mode: Mode
    metric: str
    evaluations: list[Evaluation]  # best first
    kept: list[Kept]  # the sets whose trades were archived (the best of a sweep, all of a replay)
