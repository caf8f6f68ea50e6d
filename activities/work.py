"""What CPU-heavy activities share: running on a thread while heartbeating, refusing bad
input without retries, and saying which data is stored when the asked-for range has none."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

import numpy as np
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.market_data import SeriesKind
from domain.ports import MarketDataStore

T = TypeVar("T")
HEARTBEAT_EVERY_S = 1.0


class WorkCancelledError(Exception):
    """The activity was cancelled: the computation gives up at its next progress report."""


def bad_input(message: str) -> ApplicationError:
    return ApplicationError(message, type="BadInput", non_retryable=True)


async def on_thread(executor: Executor, work: Callable[[Callable[[int], None]], T]) -> T:
    """Runs `work(progress)` on the pool, heartbeating the last progress it reported."""
    stop = threading.Event()
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done = n
        if stop.is_set():
            raise WorkCancelledError

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(executor, work, progress)
    try:
        while True:
            finished, _ = await asyncio.wait({future}, timeout=HEARTBEAT_EVERY_S)
            if finished:
                return future.result()
            activity.heartbeat(done)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait({future})  # the thread gives up at its next report
        raise


def day(ns: int) -> str:
    return np.datetime_as_string(np.datetime64(ns, "ns"), unit="D").item()


def what_is_stored(
    market: MarketDataStore,
    symbol: str,
    timeframe: str,
    start_ns: int,
    end_ns: int,
    kind: SeriesKind = SeriesKind.BARS,
) -> str:
    """Why a range came back empty: what is stored for the symbol instead."""
    held = [
        f"{s.timeframe.value if s.timeframe else ''} {s.side.value if s.side else ''} "
        f"{day(s.first_ts)}..{day(s.last_ts)} ({s.rows:,} rows)".strip()
        for s in market.series()
        if s.symbol == symbol and s.kind is kind
    ]
    what = f"{timeframe} bars" if kind is SeriesKind.BARS else "ticks"
    wanted = f"{symbol} {what} in {day(start_ns)}..{day(end_ns)}"
    if not held:
        return f"no {wanted}: nothing stored for {symbol} (aitp data import ...)"
    return f"no {wanted}; stored: {'; '.join(held)}"
