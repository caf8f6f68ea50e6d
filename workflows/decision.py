"""AIDecisionWorkflow: should this signal become an order? Every opinion, recorded.

One per decision candidate, id `decision-{account}-{symbol}-{strategy}-{bar_ts}`, so a
candidate delivered twice is decided once. The steps run as local activities (they are
short, and latency matters): the model ensemble, pattern validation, an LLM review under a
strict time budget, then portfolio approval against the books. An approved decision starts
the order's own workflow, which outlives this one; a rejected one tells the hot path, so the
strategy stops waiting for a fill. The `decision` query explains it all to traders.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.messages import IntentRejected
    from temporal import retries
    from temporal import search_attributes as sa
    from temporal.decisions import (
        DECISION_WORKFLOW,
        DecisionExplanation,
        DecisionLineage,
        DecisionRequest,
        StepVerdict,
    )
    from temporal.hotpath_calls import ask_hotpath
    from temporal.orders import (
        ORDER_WORKFLOW,
        HotpathCommand,
        OrderStart,
        order_workflow_id,
    )

STEPS = (
    ("score_model", timedelta(seconds=2)),
    ("validate_pattern", timedelta(seconds=2)),
    ("review_llm", None),  # its budget comes with the request
    ("approve_portfolio", timedelta(seconds=5)),
)
QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=3)


@workflow.defn(name=DECISION_WORKFLOW)
class AIDecisionWorkflow:
    @workflow.init
    def __init__(self, request: DecisionRequest) -> None:
        self._request = request
        self._steps: list[StepVerdict] = []
        self._outcome = "pending"
        self._reason = ""
        self._order_id: str | None = None

    @workflow.run
    async def run(self, request: DecisionRequest) -> DecisionExplanation:
        workflow.upsert_search_attributes(
            [
                sa.ACCOUNT.value_set(request.account),
                sa.SYMBOL.value_set(request.symbol),
                sa.STRATEGY.value_set(request.strategy),
                sa.TENANT.value_set(request.tenant),
            ]
        )
        for name, timeout in STEPS:
            workflow.set_current_details(f"{request.summary}: {name.replace('_', ' ')}")
            verdict = await self._step(name, timeout or timedelta(seconds=request.llm_budget_s + 1))
            self._steps.append(verdict)
            if verdict.rejects:
                self._outcome = "rejected"
                self._reason = f"{verdict.step}: " + "; ".join(verdict.reasons or ["rejected"])
                break
        else:
            self._outcome = "approved"
        if self._outcome == "approved":
            await self._start_order()
        else:
            await self._tell_hotpath()
        verdict_text = "approved" if self._outcome == "approved" else f"rejected ({self._reason})"
        workflow.upsert_search_attributes([sa.DECISION.value_set(verdict_text[:250])])
        workflow.set_current_details(f"{request.summary} -> {verdict_text}")
        if workflow.patched("decision-lineage"):
            await self._record_lineage()
        return self.decision()

    async def _record_lineage(self) -> None:
        """After the order started (or the hot path heard no): lineage is not on the way to
        the order, and a graph store that is away costs the link, never the decision."""
        record = DecisionLineage(
            decision_id=workflow.info().workflow_id, explanation=self.decision()
        )
        try:
            await workflow.execute_local_activity(
                "record_decision_lineage",
                record,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=QUICK_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("lineage not recorded: %s", exc.cause or exc)

    async def _step(self, name: str, limit: timedelta) -> StepVerdict:
        try:
            verdict: StepVerdict = await workflow.execute_local_activity(
                name,
                self._request,
                result_type=StepVerdict,
                start_to_close_timeout=limit,
                retry_policy=QUICK_RETRY,
            )
        except ActivityError as exc:  # a step that fails cannot approve
            step = name.split("_", 1)[1] if "_" in name else name
            return StepVerdict(
                step=step, outcome="rejected", reasons=[f"failed: {exc.cause or exc}"]
            )
        return verdict

    async def _start_order(self) -> None:
        r = self._request
        self._order_id = r.client_order_id
        order = r.order_request()
        summary = f"{r.summary}: {r.volume} lots, from {workflow.info().workflow_id}"
        if workflow.patched("order-started-by-id"):
            # Started by id from a local activity, eagerly: the order's first task comes back
            # in the start call's reply instead of a child start and a task dispatch later.
            await workflow.execute_local_activity(
                "start_order",
                OrderStart(request=order, summary=summary),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=retries.START,
            )
            return
        await workflow.start_child_workflow(
            ORDER_WORKFLOW,
            order,
            id=order_workflow_id(r.client_order_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=summary,
        )

    async def _tell_hotpath(self) -> None:
        r = self._request
        command = HotpathCommand.of(
            r.account,
            f"rejected-{workflow.info().workflow_id}",
            IntentRejected(strategy=r.strategy, bar_ts=r.bar_ts),
        )
        await ask_hotpath(command, local=False)

    @workflow.query(name="decision")
    def decision(self) -> DecisionExplanation:
        return DecisionExplanation(
            request=self._request,
            steps=list(self._steps),
            outcome=self._outcome,
            reason=self._reason,
            client_order_id=self._order_id,
        )
