"""Commands to a hot path over the bus, and the wait for its answer.

The command goes on `commands:<account>`; the hot path stores its reply under the command id
before publishing it, so the reply is read back by id, whoever sent the command and however
often. A hot path answers in about a millisecond, so the first polls are tight and later ones
back off, sparing Redis when a hot path is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from domain.messages import Command, Reply, commands_stream, encode
from domain.ports import CommandReplies, EventBus


class BusHotpathLink:
    def __init__(self, bus: EventBus, replies: CommandReplies) -> None:
        self._bus = bus
        self._replies = replies

    async def ask(
        self,
        account: str,
        command_id: str,
        command: Command,
        timeout_s: float,
        waiting: Callable[[], None] | None = None,
    ) -> Reply | None:
        await self._bus.publish(
            commands_stream(account), encode(command, command_id, time.time_ns())
        )
        started = time.monotonic()
        deadline = started + timeout_s
        delay = 0.0005
        while True:
            raw = await self._replies.recall(account, command_id)
            if raw is not None:
                return Reply.decode(raw)
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            if time.monotonic() - started > 0.05:
                delay = min(delay * 2, 0.1)
            if waiting is not None:
                waiting()
