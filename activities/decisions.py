"""The decision's steps: each asks its port and says what it thought, and why.

A port that is not configured is not an error: the step records "no model", "not
configured" or "skipped" and the candidate passes, so the platform trades from day one and
the explanation shows exactly which opinions a decision had.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from decimal import Decimal

from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.ports import ModelScorer, Opinion, OrderBook, PatternValidator, TradeReviewer
from temporal.decisions import DecisionRequest, StepVerdict
from temporal.orders import ORDER_WORKFLOW, OrderStart, order_workflow_id


@dataclass(frozen=True)
class PortfolioLimits:
    max_volume_per_symbol: Decimal = Decimal(10)  # net lots an account may hold in one symbol
    max_open_symbols: int = 10  # symbols an account may hold at once


class DecisionActivities:
    def __init__(
        self,
        book: OrderBook,
        limits: PortfolioLimits,
        scorer: ModelScorer | None = None,
        validator: PatternValidator | None = None,
        reviewer: TradeReviewer | None = None,
    ) -> None:
        self._book = book
        self._limits = limits
        self._scorer = scorer
        self._validator = validator
        self._reviewer = reviewer

    @activity.defn(name="score_model")
    async def score_model(self, request: DecisionRequest) -> StepVerdict:
        started = time.perf_counter()
        if self._scorer is None:
            return _verdict("model", "no model", started, ["no promoted model: the signal passes"])
        opinion = await self._scorer.score(request.symbol, request.side.value, request.features)
        return _opinion("model", opinion, started)

    @activity.defn(name="validate_pattern")
    async def validate_pattern(self, request: DecisionRequest) -> StepVerdict:
        started = time.perf_counter()
        if self._validator is None:
            return _verdict("pattern", "not configured", started)
        opinion = await self._validator.validate(request.symbol, request.side.value, request.closes)
        return _opinion("pattern", opinion, started)

    @activity.defn(name="review_llm")
    async def review_llm(self, request: DecisionRequest) -> StepVerdict:
        started = time.perf_counter()
        if self._reviewer is None:
            return _verdict("llm", "skipped", started, ["no LLM provider configured"])
        try:
            opinion = await asyncio.wait_for(
                self._reviewer.review(
                    request.symbol,
                    request.side.value,
                    request.features,
                    request.llm_budget_s,
                    request.tenant,
                ),
                request.llm_budget_s,
            )
        except TimeoutError:
            return _verdict(
                "llm",
                "skipped",
                started,
                [f"LLM timed out: no answer within the {request.llm_budget_s:g}s budget"],
            )
        return _opinion("llm", opinion, started)

    @activity.defn(name="approve_portfolio")
    async def approve_portfolio(self, request: DecisionRequest) -> StepVerdict:
        started = time.perf_counter()
        await self._book.ensure_account(request.account, request.tenant)
        held = await self._book.positions(request.account)
        net = held.get(request.symbol, (Decimal(0), Decimal(0)))[0]
        signed = request.volume if request.side.value == "buy" else -request.volume
        after = abs(net + signed)
        limits, reasons = self._limits, []
        if after > limits.max_volume_per_symbol and after > abs(net):
            reasons.append(
                f"{request.symbol} would be {after} lots, above {limits.max_volume_per_symbol}"
            )
        if request.symbol not in held and len(held) >= limits.max_open_symbols:
            reasons.append(
                f"{len(held)} symbols open already, the limit is {limits.max_open_symbols}"
            )
        return _verdict("portfolio", "rejected" if reasons else "approved", started, reasons)

    @activity.defn(name="start_order")
    async def start_order(self, start: OrderStart) -> None:
        """The approved order's workflow, started by id on this worker's queue with eager
        start: the server hands its first task back in the reply, to this very worker."""
        info = activity.info()
        # a retried step finds that order started already, and it stays the only one
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await activity.client().start_workflow(
                ORDER_WORKFLOW,
                start.request,
                id=order_workflow_id(start.request.client_order_id),
                task_queue=info.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=start.summary,
                request_eager_start=True,
            )


def _verdict(
    step: str, outcome: str, started: float, reasons: list[str] | None = None
) -> StepVerdict:
    return StepVerdict(
        step=step,
        outcome=outcome,
        reasons=reasons or [],
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _opinion(step: str, opinion: Opinion, started: float) -> StepVerdict:
    outcome = "approved" if opinion.approve is not False else "rejected"
    return StepVerdict(
        step=step,
        outcome=outcome,
        score=opinion.score,
        reasons=list(opinion.reasons),
        source=opinion.source,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )
