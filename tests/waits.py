"""Waiting on a condition, never on a sleep: poll until it holds, fail naming what it was."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    what: str,
    within: float = 30.0,
    every: float = 0.05,
) -> T:
    """Poll `probe` until `done` holds of its answer, and return that answer; fail after
    `within` seconds with the last answer, naming `what`."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {within:g} s")
        await asyncio.sleep(every)
