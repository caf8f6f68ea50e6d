"""Schedules on the dev server: ensured twice is one schedule, updated in place."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import ScheduleOverlapPolicy

from config.settings import TemporalSettings
from temporal.client import connect
from temporal.schedules import ensure_schedule, schedule
from tests.conftest import RunningPlatform


async def test_ensuring_a_schedule_twice_creates_it_once_and_then_updates_it(
    platform: RunningPlatform,
) -> None:
    client = await connect(platform.temporal_address, TemporalSettings())
    schedule_id = f"retrain-EURUSD-M1-{uuid.uuid4().hex[:6]}"
    hourly = schedule(
        "ModelRetrainingWorkflow",
        {"symbol": "EURUSD"},
        workflow_id=schedule_id,
        task_queue="aitp-research",
        every=timedelta(hours=1),
        note="retrain hourly",
    )
    assert await ensure_schedule(client, schedule_id, hourly) is True
    daily = schedule(
        "ModelRetrainingWorkflow",
        {"symbol": "EURUSD"},
        workflow_id=schedule_id,
        task_queue="aitp-research",
        cron="30 22 * * 1-5",
    )
    assert await ensure_schedule(client, schedule_id, daily) is False
    handle = client.get_schedule_handle(schedule_id)
    described = await handle.describe()
    (calendar,) = described.schedule.spec.calendars  # the server keeps cron as a calendar
    assert (calendar.minute[0].start, calendar.hour[0].start) == (30, 22)
    assert (calendar.day_of_week[0].start, calendar.day_of_week[0].end) == (1, 5)
    assert described.schedule.spec.intervals == []
    assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    assert described.schedule.policy.catchup_window == timedelta(hours=1)
    await handle.delete()


def test_a_schedule_needs_exactly_one_rhythm() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        schedule("W", None, workflow_id="w", task_queue="q")
    with pytest.raises(ValueError, match="exactly one"):
        schedule("W", None, workflow_id="w", task_queue="q", every=timedelta(1), cron="* * * * *")
