"""How every worker process lives: it polls until SIGINT or SIGTERM, then drains (in-flight
activities finish within the worker's graceful shutdown time) before it goes."""

from __future__ import annotations

import asyncio
import signal

from temporalio.worker import Worker


async def run_until_signalled(worker: Worker) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
