"""The floor of decision latency: a bare workflow with one local activity, start to result."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="floor_step")
async def floor_step(value: int) -> int:
    return value + 1


@workflow.defn(name="FloorWorkflow")
class FloorWorkflow:
    @workflow.run
    async def run(self, value: int) -> int:
        result: int = await workflow.execute_local_activity(
            "floor_step", value, start_to_close_timeout=timedelta(seconds=5)
        )
        return result
