"""Commands to a hot path over the bus, and the wait for its answer.

The command goes on `commands:<account>`; the hot path stores its reply under the command id
before publishing it, so the reply is read back by id, whoever sent the command and however
often. A hot path answers in about a millisecond, so the first polls are tight and later ones
back off, sparing Redis when a hot path is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from domain.ports import CommandReplies, EventBus


class BusHotpathLink:
    def __init__(self, bus: EventBus, replies: CommandReplies) -> None:
        self._bus = bus
        self._replies = replies

    async def ask(
        self,
        account: str,
        command_id: str,
        kind: str,
        data: Mapping[str, Any],
        timeout_s: float,
        waiting: Callable[[], None] | None = None,
    ) -> dict[str, Any] | None:
        fields: dict[str, bytes | str] = {
            "id": command_id,
            "kind": kind,
            "data": orjson.dumps(dict(data)),
        }
        await self._bus.publish(f"commands:{account}", fields)
        started = time.monotonic()
        deadline = started + timeout_s
        delay = 0.0005
        while True:
            raw = await self._replies.recall(account, command_id)
            if raw is not None:
                reply: dict[str, Any] = orjson.loads(raw)
                return reply
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            if time.monotonic() - started > 0.05:
                delay = min(delay * 2, 0.1)
            if waiting is not None:
                waiting()
