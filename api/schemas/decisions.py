"""Decisions as traders read them: the candidate the hot path raised, each step's verdict and
who gave it (model version, validator, LLM provider), and what came of it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from api.schemas.base import Output
from api.schemas.trading import Side


class DecisionSummary(Output):
    id: str = Field(description="the decision workflow's id, also its name in the Temporal UI")
    account: str | None
    symbol: str | None
    strategy: str | None
    status: str = Field(description="running, completed, failed, terminated, ...")
    verdict: str | None = Field(
        description="approved, or rejected with the reason; null while open"
    )
    started_at: datetime
    closed_at: datetime | None


class Step(Output):
    step: str = Field(description="model, pattern, llm or portfolio")
    outcome: str = Field(description="approved, rejected, no model, not configured, skipped, ...")
    score: float | None = None
    reasons: list[str]
    source: str | None = Field(description="which model version, validator or provider said it")
    elapsed_ms: float


class LineageNode(Output):
    key: str
    kind: str = Field(description="market_data, model, decision, order or fill")
    props: dict[str, Any]


class Lineage(Output):
    """Where the decision came from and what it led to, as the lineage graph holds it."""

    decision: LineageNode | None = Field(description="null when the graph has no record of it")
    model: LineageNode | None = Field(description="the model version that scored it")
    data: LineageNode | None = Field(description="the market data that version was trained on")
    order: LineageNode | None = Field(description="the order it placed")
    fills: list[LineageNode] = Field(description="that order's deals, as they were booked")


class Decision(Output):
    id: str
    account: str
    symbol: str
    strategy: str
    side: Side
    volume: Decimal
    bar_time: datetime = Field(description="the closing bar that raised the candidate")
    signal: str = Field(description="why the strategy wanted the trade (entry_long, ...)")
    features: dict[str, float | None] = Field(description="the snapshot the steps judged")
    steps: list[Step]
    outcome: str = Field(description="pending, approved or rejected")
    reason: str = Field(description="the rejecting step and its reasons")
    order_id: str | None = Field(description="the order an approval placed")
    lineage: Lineage | None = Field(
        default=None, description="model version and its data, order and fills, where recorded"
    )
