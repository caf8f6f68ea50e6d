"""Loops that long-lived objects (a listener, a fan-out, a consumer) run beside the event
loop's other work: started once and stopped by cancelling and waiting until they have ended,
so nothing they hold outlives the stop; and the record of the store they read being away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended. A cancellation is repeated every
        second until it takes: a library may swallow one (redis-py 8's read does, on a
        connection that has timed out before), and a stop must not wait for good."""
        task, self._task = self._task, None
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Outage:
    """A long-lived loop's record of the store it reads being away: since when, how many
    times, and how long to wait before the next try (0.2 s, doubling up to 5 s)."""

    FIRST_WAIT_S = 0.2
    LONGEST_WAIT_S = 5.0

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what
        self._log = log
        self.count = 0  # times it went away
        self.since: float | None = None  # monotonic, while it is away
        self._wait = self.FIRST_WAIT_S

    def went(self, exc: BaseException) -> float:
        """It failed now: the wait before the next try (logged once per outage)."""
        if self.since is None:
            self.since = time.monotonic()
            self.count += 1
            self._log.warning("%s unavailable: %r", self.what, exc)
        wait, self._wait = self._wait, min(self._wait * 2, self.LONGEST_WAIT_S)
        return wait

    def back(self) -> None:
        """It answered: the outage, if there was one, is over."""
        if self.since is not None:
            self._log.warning("%s back after %.1fs", self.what, time.monotonic() - self.since)
            self.since = None
        self._wait = self.FIRST_WAIT_S
