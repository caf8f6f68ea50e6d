"""Schedules, made idempotent: ensuring one creates it the first time and updates it after.

Recurring work (retraining per symbol and timeframe, index builds) runs on Temporal
Schedules so ops see and pause it in the UI. Overlap defaults to skip (a run still going is
not doubled) and missed runs are caught up within a window, not all replayed after a pause.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)


def schedule(
    workflow: str,
    arg: Any,
    *,
    workflow_id: str,
    task_queue: str,
    every: timedelta | None = None,
    cron: str | None = None,
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP,
    catchup_window: timedelta = timedelta(hours=1),
    note: str = "",
) -> Schedule:
    if (every is None) == (cron is None):
        raise ValueError("give exactly one of every= or cron=")
    spec = (
        ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
        if every is not None
        else ScheduleSpec(cron_expressions=[cron or ""])
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(workflow, arg, id=workflow_id, task_queue=task_queue),
        spec=spec,
        policy=SchedulePolicy(overlap=overlap, catchup_window=catchup_window),
        state=ScheduleState(note=note),
    )


async def ensure_schedule(client: Client, schedule_id: str, wanted: Schedule) -> bool:
    """Create the schedule, or bring an existing one in line; True if it was created."""
    try:
        await client.create_schedule(schedule_id, wanted)
        return True
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await client.get_schedule_handle(schedule_id).update(replace)
        return False
