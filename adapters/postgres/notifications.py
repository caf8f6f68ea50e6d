"""LISTEN kept open for as long as a process wants to hear a channel.

PostgreSQL delivers a notification only to sessions listening when it commits, so whoever
keeps state in memory on the strength of notifications must know when it was not listening:
`Listener` calls `on_gap` each time it (re)attaches and each time its connection is lost
(closed, or silent to a probe every `probe_s`), and `listening` says whether it hears changes
now.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from adapters.background import BackgroundLoop

log = structlog.get_logger("aitp.postgres")


class Listener:
    def __init__(
        self,
        pool: asyncpg.Pool,
        channel: str,
        on_message: Callable[[str], None],
        on_gap: Callable[[], None],
        retry_s: float = 1.0,
        probe_s: float = 15.0,
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._on_message = on_message
        self._on_gap = on_gap
        self._retry_s = retry_s
        self._probe_s = probe_s
        self._loop = BackgroundLoop(f"listen-{self._channel}", self._run)
        self._attached = asyncio.Event()
        self.listening = False

    def start(self) -> None:
        self._loop.start()

    async def wait_listening(self, timeout_s: float = 10.0) -> None:
        await asyncio.wait_for(self._attached.wait(), timeout_s)

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_until_lost()
            except Exception as exc:  # whatever broke it, listening again is the remedy
                log.warning("listener lost", channel=self._channel, error=repr(exc))
            await asyncio.sleep(self._retry_s)

    async def _listen_until_lost(self) -> None:
        lost = asyncio.Event()

        def heard(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            self._on_message(payload)

        def terminated(_conn: Any) -> None:
            lost.set()

        async with self._pool.acquire() as conn:
            conn.add_termination_listener(terminated)
            try:
                await conn.add_listener(self._channel, heard)
                self._on_gap()  # what changed before now was not heard
                self.listening = True
                self._attached.set()
                while not lost.is_set():
                    # a peer that vanished without closing the socket is found by asking
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self._probe_s)
                    if not lost.is_set():
                        await conn.fetchval("SELECT 1", timeout=self._probe_s)
            finally:
                self.listening = False
                self._attached.clear()
                self._on_gap()
                conn.remove_termination_listener(terminated)
                # closed without a word to the server: a silent peer would hold an UNLISTEN
                # for minutes; the pool opens a fresh connection when it next needs one
                conn.terminate()
