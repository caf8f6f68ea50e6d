"""Starting, watching and cancelling backtests, as the CLI and the API do.

Starting waits until the run has found its data (or failed to), so a range with no bars is
reported to whoever asked at once, not discovered later in the Temporal UI.
"""

from __future__ import annotations

import asyncio

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from temporal.backtests import (
    BACKTEST_WORKFLOW,
    BacktestRequest,
    BacktestResult,
    Progress,
    backtest_workflow_id,
)
from temporal.queues import RESEARCH


class BacktestNotFoundError(LookupError):
    pass


class BacktestRefusedError(ValueError):
    """The run could not start: the message says why (its data, a duplicate id)."""


async def start_backtest(
    client: Client, request: BacktestRequest, task_queue: str = RESEARCH, plan_wait_s: float = 30
) -> WorkflowHandle[object, BacktestResult]:
    try:
        handle: WorkflowHandle[object, BacktestResult] = await client.start_workflow(
            BACKTEST_WORKFLOW,
            request,
            id=request.workflow_id,
            task_queue=task_queue,
            result_type=BacktestResult,
            static_summary=f"{request.strategy} {request.symbol} {request.timeframe} "
            f"{request.mode}, {request.sets:,} sets",
        )
    except WorkflowAlreadyStartedError:
        raise BacktestRefusedError(f"a backtest {request.run_id} exists already") from None
    await _planned(handle, plan_wait_s)
    return handle


async def _planned(handle: WorkflowHandle[object, BacktestResult], wait_s: float) -> None:
    """Returns once the run is past planning; raises with the reason if planning failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        described = await handle.describe()
        if described.status is WorkflowExecutionStatus.FAILED:
            try:
                await handle.result()
            except WorkflowFailureError as exc:
                raise BacktestRefusedError(str(exc.cause)) from None
        if described.status is not WorkflowExecutionStatus.RUNNING:
            return
        try:
            progress = await handle.query("progress", result_type=Progress)
        except RPCError:
            progress = None  # no worker has picked the run up yet
        if progress is not None and progress.status == "running" and progress.phase != "planning":
            return  # a run that failed planning is closing: its failure comes next
        await asyncio.sleep(0.1)


def backtest_handle(client: Client, run_id: str) -> WorkflowHandle[object, BacktestResult]:
    return client.get_workflow_handle(backtest_workflow_id(run_id), result_type=BacktestResult)


async def backtest_progress(client: Client, run_id: str) -> Progress:
    try:
        progress: Progress = await backtest_handle(client, run_id).query(
            "progress", result_type=Progress
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise BacktestNotFoundError(f"no backtest {run_id}") from None
        raise
    return progress


async def cancel_backtest(client: Client, run_id: str) -> bool:
    """Asks the run to stop; False when it had finished already."""
    handle = backtest_handle(client, run_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise BacktestNotFoundError(f"no backtest {run_id}") from None
        raise
    if described.status is not WorkflowExecutionStatus.RUNNING:
        return False
    await handle.cancel()
    return True
