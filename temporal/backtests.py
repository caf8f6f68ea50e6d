"""The backtest workflow's contract: what to test, the work it hands its activities, its
progress and its result. Ids are `backtest-<run id>`; ops find runs by Strategy, Symbol,
Tenant, Mode and Status in the Temporal UI.

A run over several symbols is a batch: one child run per symbol (`<run id>.<SYMBOL>`, each a
run of its own in the UI and the stores), the parameter sets then ranked by their mean metric
over the symbols.

A grid is sent as axes, never as a list of sets: activities decode the indices they are
given (`domain.param_grid`), so a grid of millions costs the history a few bytes.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator

from domain.param_grid import size
from domain.periods import Span
from domain.strategies import check_names
from temporal.messages import Message

BACKTEST_WORKFLOW = "BacktestWorkflow"
Mode = Literal["sweep", "replay", "walk-forward"]
MODES: tuple[str, ...] = get_args(Mode)
# what ranks a run's parameter sets: highest first, except those below, where less is better
Metric = Literal[
    "sharpe",
    "sortino",
    "total_return",
    "cagr",
    "profit_factor",
    "expectancy",
    "win_rate",
    "max_drawdown",
]
METRICS: tuple[str, ...] = get_args(Metric)
LOWER_IS_BETTER = frozenset({"max_drawdown"})
MAX_CHUNKS = 256  # a bigger grid gets bigger chunks, so the history stays small
MAX_REPLAY_SETS = 1_000
MAX_SYMBOLS = 20
TOP = 20  # parameter sets the result carries; PostgreSQL holds them all
SWEEP_SCOPE = "all"
OOS_KEY = "oos:0"  # the archive's name for a walk-forward run's stitched test windows


def new_run_id() -> str:
    """A backtest run's id, whoever starts it: when (so ids sort by age) and a random tail.
    Never called inside a workflow, which takes the id it is given."""
    return f"bt-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def backtest_workflow_id(run_id: str) -> str:
    return f"backtest-{run_id}"


def child_run_id(run_id: str, symbol: str) -> str:
    """A batch's run for one of its symbols."""
    return f"{run_id}.{symbol}"


def window_scope(part: str, window: int) -> str:
    """The scope of a walk-forward window's results: part is "train" or "test"."""
    return f"{part}-{window}"


def set_key(scope: str, set_index: int) -> str:
    """How the archive names one parameter set's trades and equity curve."""
    return f"{scope}:{set_index}"


class CostSpec(Message):
    commission_per_lot: float = Field(default=0.0, ge=0, description="per lot, per side")
    slippage_points: int = Field(default=0, ge=0)
    spread_points: int | None = Field(
        default=None, ge=0, description="None: from the ask bars when stored, else 0"
    )


class BacktestRequest(Message):
    run_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    tenant: str = "default"
    strategy: str
    symbol: str = Field(description="the first (or only) symbol")
    symbols: list[str] = Field(
        default_factory=list,
        max_length=MAX_SYMBOLS,
        description="every symbol, `symbol` first; more than one makes the run a batch",
    )
    timeframe: str = "M1"
    start_ns: int
    end_ns: int
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="axes to sweep")
    params: dict[str, Any] = Field(default_factory=dict, description="fixed parameters")
    mode: Mode = "sweep"
    train: str | None = Field(default=None, description="walk-forward train span, e.g. 6M")
    test: str | None = Field(default=None, description="walk-forward test span, e.g. 1M")
    anchored: bool = False
    ticks: bool = Field(
        default=False, description="replay tick by tick from the stored quotes, not bar by bar"
    )
    costs: CostSpec = CostSpec()
    balance: float = Field(default=100_000.0, gt=0, description="in the account currency")
    currency: str = Field(default="USD", description="the account currency results are in")
    metric: str = "sharpe"
    seed: int = 0
    chunk_size: int = Field(default=25, ge=1, description="parameter sets per activity")
    parallel: int = Field(default=4, ge=1, le=64, description="activities at once")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r}; one of {', '.join(METRICS)}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _symbol_and_symbols(cls, data: Any) -> Any:
        """`symbol` alone, `symbols` alone or both (the first of `symbols` being `symbol`)."""
        if not isinstance(data, dict):
            return data
        symbols = data.get("symbols") or []
        if "symbol" not in data and symbols:
            data = {**data, "symbol": symbols[0]}
        elif not symbols and "symbol" in data:
            data = {**data, "symbols": [data["symbol"]]}
        return data

    @field_validator("symbols")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        twice = sorted({s for s in value if value.count(s) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} given more than once")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isascii() or not value.isupper():
            raise ValueError(f"{value!r} is not a currency: three capitals, e.g. USD, EUR, JPY")
        return value

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        check_names(value, ())
        return value

    @field_validator("grid")
    @classmethod
    def _axes_have_values(
        cls, value: dict[str, list[Any]], info: ValidationInfo
    ) -> dict[str, list[Any]]:
        empty = [name for name, values in value.items() if not values]
        if empty:
            raise ValueError(f"grid axes without values: {', '.join(empty)}")
        if "strategy" in info.data:
            check_names(info.data["strategy"], value)
        return value

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "strategy" in info.data:
            check_names(info.data["strategy"], value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BacktestRequest:
        if self.end_ns <= self.start_ns:
            raise ValueError("the end of the range must come after its start")
        if self.symbols[0] != self.symbol:
            raise ValueError(f"symbol {self.symbol} must come first in symbols")
        if self.batch and len(child_run_id(self.run_id, max(self.symbols, key=len))) > 64:
            raise ValueError("the run id is too long to name a run per symbol (64 characters)")
        both = set(self.grid) & set(self.params)
        if both:
            raise ValueError(f"{', '.join(sorted(both))}: both swept and fixed")
        if self.mode == "replay" and self.sets > MAX_REPLAY_SETS:
            raise ValueError(
                f"replay runs each of the grid's {self.sets:,} sets through the engine; "
                f"at most {MAX_REPLAY_SETS:,}: sweep the grid first, then replay the best"
            )
        if self.ticks and self.mode != "replay":
            raise ValueError("tick-by-tick runs are replays: use mode replay with ticks")
        if self.mode == "walk-forward":
            if self.train is None or self.test is None:
                raise ValueError("walk-forward needs a train and a test span (e.g. 6M and 1M)")
            Span.parse(self.train)
            Span.parse(self.test)
        return self

    @property
    def workflow_id(self) -> str:
        return backtest_workflow_id(self.run_id)

    @property
    def sets(self) -> int:
        return size(self.grid)

    @property
    def batch(self) -> bool:
        return len(self.symbols) > 1

    def part(self, symbol: str) -> BacktestRequest:
        """The child run of a batch for one symbol, sharing the batch's activity slots."""
        return self.model_copy(
            update={
                "run_id": child_run_id(self.run_id, symbol),
                "symbol": symbol,
                "symbols": [symbol],
                "parallel": max(1, self.parallel // len(self.symbols)),
            }
        )


class PlannedWindow(Message):
    """A walk-forward step: fit on [train_start_ns, test_start_ns), judge on the rest."""

    index: int
    train_start_ns: int
    test_start_ns: int
    test_end_ns: int


class Plan(Message):
    """What the data holds for a request, found before any work is handed out."""

    bars: int  # in a tick replay, the bars the engine builds from the ticks
    ticks: int = 0
    has_ask: bool
    first_ns: int
    last_ns: int
    windows: list[PlannedWindow] = Field(
        default_factory=list, description="walk-forward steps with bars on both sides"
    )


class SweepChunk(Message):
    """Sets [first, first + count) of the grid, evaluated over [start_ns, end_ns)."""

    request: BacktestRequest
    scope: str
    index: int
    first: int
    count: int
    start_ns: int
    end_ns: int


class Evaluation(Message):
    set_index: int
    params: dict[str, Any]
    metrics: dict[str, float | int | None]


class ChunkResult(Message):
    index: int
    evaluated: int
    skipped: int  # sets the strategy refused (e.g. fast >= slow), never counted as results
    refusals: list[str] = Field(default_factory=list, description="distinct reasons, a few")
    best: Evaluation | None = None


class SetRun(Message):
    """One parameter set to replay (or to keep in full after a sweep) over a range."""

    request: BacktestRequest
    scope: str
    set_index: int
    params: dict[str, Any]
    start_ns: int
    end_ns: int
    balance: float
    replay: bool = True  # False: the sweep's computation (a sweep's best set)


class Kept(Message):
    """What the archive holds of one parameter set: its trades and equity curve."""

    scope: str
    set_index: int
    params: dict[str, Any]
    trades: int
    final_equity: float
    metrics: dict[str, float | int | None]
    refusals: list[str] = Field(default_factory=list)


class WindowResult(Message):
    index: int
    train_start_ns: int
    test_start_ns: int
    test_end_ns: int
    chosen: Evaluation | None  # the best of the train window (None: nothing was evaluated)
    test: Kept | None


class Stitch(Message):
    request: BacktestRequest
    windows: list[WindowResult]


class Progress(Message):
    status: str  # running | completed | cancelled | failed
    phase: str
    done: int  # parameter sets evaluated (over all windows in walk-forward)
    total: int
    chunks_done: int
    chunks: int
    elapsed_s: float
    eta_s: float | None
    best: Evaluation | None = None
    children: list[str] = Field(default_factory=list, description="a batch's runs, by symbol")


class CombineRuns(Message):
    """A batch's ranking: each set's metrics averaged over its children's runs."""

    run_id: str
    children: list[str]


class CloseRun(Message):
    run_id: str
    status: str
    metric: str
    summary: dict[str, Any] = Field(default_factory=dict)


class BacktestResult(Message):
    run_id: str
    mode: Mode
    metric: str
    status: str
    total: int  # sets in the grid
    evaluated: int
    skipped: int
    refusals: list[str] = Field(default_factory=list)
    top: list[Evaluation]  # best first, at most TOP
    kept: list[Kept]  # the sets whose trades were archived (the best of a sweep, all of a replay)
    windows: list[WindowResult] = Field(default_factory=list)
    out_of_sample: Kept | None = None  # walk-forward: the test windows stitched together
    children: list[BacktestResult] = Field(default_factory=list, description="a batch's runs")


def descending(metric: str) -> bool:
    """Whether more of `metric` ranks higher (all but a drawdown)."""
    return metric not in LOWER_IS_BETTER


def better(a: Evaluation, b: Evaluation | None, metric: str) -> bool:
    """Whether `a` ranks above `b`: a missing value ranks last, ties go to the lower index
    (so the order never depends on which chunk finished first). The one ranking rule: the
    store ranks a whole run in SQL by it (`close_run`, held to it by its contract test)."""
    if b is None:
        return True
    x, y = a.metrics.get(metric), b.metrics.get(metric)
    if x is None or y is None:
        return y is None and (x is not None or a.set_index < b.set_index)
    if x == y:
        return a.set_index < b.set_index
    return (x > y) if descending(metric) else (x < y)
