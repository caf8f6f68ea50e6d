"""How a workflow puts a command to its account's hot path: the `hotpath_command` activity
with the broker's time-outs and retries, as a local activity where the workflow may (the
answer comes in about a millisecond, with no trip through the task queue) or as a normal one.

Called from workflow code only; the command's id makes a retry harmless.
"""

from __future__ import annotations

from temporalio import workflow

from temporal import retries
from temporal.orders import HotpathCommand, HotpathReply


async def ask_hotpath(command: HotpathCommand, local: bool) -> HotpathReply:
    execute = workflow.execute_local_activity if local else workflow.execute_activity
    reply: HotpathReply = await execute(
        "hotpath_command",
        command,
        result_type=HotpathReply,
        start_to_close_timeout=retries.BROKER_TIMEOUT,
        schedule_to_close_timeout=retries.BROKER_DEADLINE,
        retry_policy=retries.BROKER,
    )
    return reply
