"""AccountBooksWorkflow: the one owner of an account's books outside the order workflows.

Order workflows record the fills of the orders they placed. Every other deal the venue makes
for the account (a stop-loss or take-profit leg, the kill switch's flattening, a strategy's
own order on the direct route, a stop-out or a trade typed into the terminal) reaches this
workflow as a `fill` signal from the bridge and is recorded here, exactly once by its deal id.
Every `reconcile_s` (and at once when the hot path starts, or when asked) it compares the books
with the venue and records what is missing, with its provenance; the report is kept in
PostgreSQL for `aitp books check` and the API, and in the workflow's details for ops.

A fill is written before the next is taken, in arrival order. A write that fails for a
reason no retry can fix ends as a non-retryable failure of that activity, is logged, and the
reconciliation that follows is the backstop; a store that is away is waited for.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from temporal import retries
    from temporal import search_attributes as sa
    from temporal.books import (
        BOOKS_WORKFLOW,
        BooksRequest,
        ReconcileRequest,
        ReconciliationReport,
    )
    from temporal.orders import FillRecord

# a run's history stays small: a check every 5 s is about 6 events
CONTINUE_AFTER_EVENTS = 5_000
# a check that fails (the hot path away) is not retried: the next one comes in `reconcile_s`
ONCE = RetryPolicy(maximum_attempts=1)


@workflow.defn(name=BOOKS_WORKFLOW)
class AccountBooksWorkflow:
    @workflow.init
    def __init__(self, request: BooksRequest) -> None:
        self._request = request
        self._fills: list[FillRecord] = []
        self._check_now = True  # a new run starts with a comparison
        self._last: ReconciliationReport | None = request.carried
        self._repairs = request.repairs
        self._recorded = 0

    @workflow.run
    async def run(self, request: BooksRequest) -> None:
        workflow.upsert_search_attributes(
            [sa.ACCOUNT.value_set(request.account), sa.TENANT.value_set(request.tenant)]
        )
        every = timedelta(seconds=request.reconcile_s)
        due = workflow.now()  # a check is due by this time, however many fills arrive
        while True:
            left = max(due - workflow.now(), timedelta(0))
            with contextlib.suppress(TimeoutError):  # the check falls due
                await workflow.wait_condition(
                    lambda: bool(self._fills) or self._check_now, timeout=left
                )
            if workflow.now() >= due:
                self._check_now = True
            while self._fills:
                await self._record(self._fills.pop(0))
            if self._check_now:
                self._check_now = False
                await self._reconcile()
                due = workflow.now() + every
            if (
                workflow.info().get_current_history_length() >= CONTINUE_AFTER_EVENTS
                and not self._fills
                and workflow.all_handlers_finished()
            ):
                workflow.continue_as_new(
                    request.model_copy(update={"carried": self._last, "repairs": self._repairs})
                )

    async def _record(self, record: FillRecord) -> None:
        try:
            await workflow.execute_activity(
                "record_fill",
                record,
                start_to_close_timeout=retries.BOOKS_TIMEOUT,
                retry_policy=retries.BOOKS,
            )
        except ActivityError as exc:  # bad data: say so; the next comparison shows the gap
            workflow.logger.error("fill %s not recorded: %s", record.fill_id, exc.cause or exc)
            return
        self._recorded += 1

    async def _reconcile(self) -> None:
        r = self._request
        try:
            report: ReconciliationReport = await workflow.execute_activity(
                "reconcile_books",
                ReconcileRequest(
                    account=r.account,
                    tenant=r.tenant,
                    suspects=self._last.suspects if self._last is not None else {},
                    min_gap_s=min(r.reconcile_s, 2.0),
                ),
                result_type=ReconciliationReport,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=ONCE,
            )
        except ActivityError as exc:
            workflow.logger.warning("books of %s not compared: %s", r.account, exc.cause or exc)
            return
        self._last = report
        self._repairs += report.repaired
        workflow.set_current_details(
            f"{r.account}: {report.status} at {report.checked_at:%H:%M:%S} UTC; "
            f"{report.venue_fills} deals at the venue, {self._repairs} repaired in all"
            + (f"; {'; '.join(report.differences)}" if report.differences else "")
        )

    @workflow.signal(name="fill")
    def fill(self, record: FillRecord) -> None:
        self._fills.append(record)

    @workflow.signal(name="reconcile")
    def reconcile(self) -> None:
        """Compare with the venue now (the hot path started, or a person asked)."""
        self._check_now = True

    @workflow.query(name="reconciliation")
    def reconciliation(self) -> ReconciliationReport | None:
        return self._last
