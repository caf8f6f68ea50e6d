"""Backtests as clients launch and read them: the same runs `aitp backtest` starts, one
workflow each, results best first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from api.schemas.base import Input, Output
from temporal.backtests import METRICS, Mode

Scalar = int | float | bool | str
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)  # nanoseconds since 1970 still fit 64 bits
MAX_SETS = 100_000  # bigger grids are launched from `aitp backtest run --yes`


class Costs(Input):
    commission_per_lot: float = Field(default=0.0, ge=0, description="per lot, per side")
    slippage_points: int = Field(default=0, ge=0, description="against you, on every fill")
    spread_points: int | None = Field(
        default=None, ge=0, description="fixed spread; default: the stored ask bars, else 0"
    )


class BacktestLaunch(Input):
    strategy: str = Field(examples=["ma_cross"])
    symbol: str | None = Field(
        default=None, min_length=1, max_length=32, examples=["EURUSD"], description="one symbol"
    )
    symbols: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="several: one run per symbol, the sets ranked by their mean metric",
        examples=[["EURUSD", "GBPUSD"]],
    )
    timeframe: str = Field(default="M1", examples=["M1"])
    start: datetime = Field(description="first instant, UTC when naive", ge=EARLIEST, lt=LATEST)
    end: datetime = Field(description="end instant, excluded", gt=EARLIEST, le=LATEST)
    grid: dict[str, list[Scalar]] = Field(
        default_factory=dict, description="swept parameters", examples=[{"fast": [5, 10, 20]}]
    )
    params: dict[str, Scalar] = Field(
        default_factory=dict, description="fixed parameters", examples=[{"slow": 50}]
    )
    mode: Mode = "sweep"
    train: str | None = Field(default=None, description="walk-forward train span", examples=["6M"])
    test: str | None = Field(default=None, description="walk-forward test span", examples=["1M"])
    anchored: bool = False
    ticks: bool = Field(default=False, description="replay tick by tick from stored quotes")
    costs: Costs = Costs()
    balance: float = Field(default=100_000.0, gt=0, description="in the account currency")
    currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="account currency of every amount"
    )
    metric: str = Field(
        default="sharpe", description=f"ranks the parameter sets: {', '.join(METRICS)}"
    )

    @model_validator(mode="after")
    def _some_symbol(self) -> BacktestLaunch:
        if self.symbol is None and not self.symbols:
            raise ValueError("give symbol, or symbols")
        return self


class Evaluation(Output):
    set_index: int
    params: dict[str, Any]
    metrics: dict[str, float | int | None]
    rank: int | None = None


class BacktestProgress(Output):
    phase: str
    done: int
    total: int
    eta_s: float | None


class BacktestRun(Output):
    id: str
    strategy: str
    symbol: str
    timeframe: str
    mode: str
    metric: str
    start: datetime
    end: datetime
    status: str = Field(description="running, completed, cancelled or failed")
    summary: dict[str, Any] | None = Field(
        default=None, description="best metrics (sweep, replay); in- and out-of-sample"
    )
    created_at: datetime
    finished_at: datetime | None = None


class BacktestDetail(BacktestRun):
    grid: dict[str, list[Any]]
    params: dict[str, Any]
    progress: BacktestProgress | None = Field(description="while it runs, if a worker answers")
    top: list[Evaluation] = Field(description="the best parameter sets of the range")


class Cancelling(Output):
    id: str
    cancelling: bool = Field(description="false when the run had finished already")
