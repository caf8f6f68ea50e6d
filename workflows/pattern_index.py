"""PatternIndexWorkflow: the pattern validator's history for one symbol and timeframe, built
on the research queue (id `patterns-<symbol>-<timeframe>`: one build at a time)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporal import retries
    from temporal import search_attributes as sa
    from temporal.models import PATTERN_INDEX_WORKFLOW, PatternIndexRequest, PatternIndexResult

RETRY = retries.RESEARCH


@workflow.defn(name=PATTERN_INDEX_WORKFLOW)
class PatternIndexWorkflow:
    @workflow.run
    async def run(self, request: PatternIndexRequest) -> PatternIndexResult:
        workflow.upsert_search_attributes(
            [sa.SYMBOL.value_set(request.symbol), sa.MODE.value_set("pattern-index")]
        )
        try:
            result: PatternIndexResult = await workflow.execute_activity(
                "index_patterns",
                request,
                result_type=PatternIndexResult,
                start_to_close_timeout=timedelta(hours=2),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=RETRY,
            )
        except ActivityError as exc:  # the reason itself, for the UI and the CLI
            reason = str(exc.cause) if exc.cause is not None else str(exc)
            raise ApplicationError(reason, type="IndexFailed", non_retryable=True) from None
        return result
