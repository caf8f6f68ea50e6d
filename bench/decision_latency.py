"""Decision latency: bar close in the hot path -> order accepted by the paper broker.

The path measured is the production one: the hot path emits a decision candidate at bar
close, the publisher puts it on the bus (Redis), the bridge starts AIDecisionWorkflow, which
runs its steps (model ensemble, pattern, LLM review, portfolio approval on PostgreSQL) and
starts OrderLifecycleWorkflow, which records the order and sends the submit command back to
the hot path, whose paper broker accepts it. The servers are the embedded ones `aitp up`
starts (Temporal dev server with its dispatch rate raised, PostgreSQL, Redis), in a scratch
data dir; the hot path, bridge and worker run in this process. Candidates go one at a time,
so the figures are latency, not queueing. Beside them, in the same run: the floor, a bare
workflow start + result with one local activity, on the same server and worker.

    python -m bench.decision_latency [--decisions 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
from temporalio.client import Client
from temporalio.worker import Worker

from activities.books import BooksActivities
from activities.decisions import DecisionActivities, PortfolioLimits
from activities.orders import OrderActivities
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from adapters.redis.command_log import RedisCommandLog
from adapters.redis.event_bus import RedisStreamBus
from adapters.redis.hotpath_link import BusHotpathLink
from bench._floor import FloorWorkflow, floor_step
from bench._platform import addresses, platform_settings
from bench._report import Target, report
from config.settings import (
    PostgresSettings,
)
from domain.clock import ManualClock
from domain.instruments import fx_major
from domain.market import QuoteTick
from domain.messages import events_stream
from domain.paper import PaperBroker
from domain.risk import RiskGate, RiskLimits
from embedded import supervisor
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.commands import CommandConsumer, CommandHandler
from hotpath.publisher import Publisher
from temporal.books import BOOKS_WORKFLOW
from temporal.client import connect
from temporal.decisions import DecisionRequest
from workers.bridge import Bridge
from workers.trading import build_worker

T0 = 1_700_000_000 * 10**9


def ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(samples, q)) * 1000, 2)


async def settled(client: Client, task_queue: str, limit_s: float = 120) -> None:
    query = (
        f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
        f" AND WorkflowType != '{BOOKS_WORKFLOW}'"  # the account's books run for good
    )
    for _ in range(int(limit_s / 0.5)):
        if not (await client.count_workflows(query)).count:
            return
        await asyncio.sleep(0.5)


async def run(decisions: int, data_dir: Path) -> dict[str, float | int | str]:
    settings = platform_settings(data_dir)
    await supervisor.start(settings)
    urls = addresses(data_dir)
    account = f"b{uuid.uuid4().hex[:6]}"
    bus = RedisStreamBus.from_url(urls["redis"])
    replies = RedisCommandLog.from_url(urls["redis"])
    pool = await create_pool(urls["postgres"], PostgresSettings(pool_max_size=20), "bench")
    book = PostgresOrderBook(pool)
    await book.ensure_account(account)
    client = await connect(urls["temporal"], settings.temporal)
    instruments = {"EURUSD": fx_major("EURUSD")}
    engine = Engine(
        account,
        instruments,
        [],
        PaperBroker(instruments),
        RiskGate(
            account,
            RiskLimits(
                quote_max_age_ns=10**18,
                max_repeats=10**9,
                max_orders_per_window=10**9,
                max_position_volume=Decimal(10**6),
                max_gross_exposure=Decimal(10**15),
            ),
        ),
        Outbox(),
        balance=Decimal(10**9),
        route="decision",
    )
    clock = ManualClock(T0)
    engine.on_tick(QuoteTick("EURUSD", T0, 1.1000, 1.1002))
    accepted: dict[str, float] = {}
    arrived = asyncio.Event()
    original_submit = engine.submit

    def timed_submit(order, now):  # type: ignore[no-untyped-def]
        taken = original_submit(order, now)
        accepted[order.client_order_id] = time.perf_counter()  # the paper broker took it
        arrived.set()
        return taken

    engine.submit = timed_submit  # type: ignore[method-assign]
    task_queue = f"bench-{uuid.uuid4().hex[:6]}"
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(Publisher(engine.outbox, bus, events_stream(account)).run(stop)),
        asyncio.create_task(
            CommandConsumer(account, bus, replies, CommandHandler(engine), "hp", clock).run(stop)
        ),
        asyncio.create_task(
            Bridge(bus, client, [account], "bridge", task_queue=task_queue, clock=clock).run(stop)
        ),
    ]
    worker = build_worker(
        client,
        OrderActivities(BusHotpathLink(bus, replies), book),
        DecisionActivities(
            book, PortfolioLimits(max_volume_per_symbol=Decimal(10**9), max_open_symbols=10**6)
        ),
        BooksActivities(BusHotpathLink(bus, replies), book, bus),
        task_queue,
        max_concurrent_workflow_tasks=50,
    )
    floor_worker = Worker(
        client, task_queue=f"{task_queue}-floor", workflows=[FloorWorkflow], activities=[floor_step]
    )
    latencies: list[float] = []
    floor: list[float] = []
    async with worker, floor_worker:
        for n in range(decisions + 20):  # the first 20 warm the caches and are not counted
            bar_ts = T0 + n * 60 * 10**9
            payload = {
                "account": account,
                "symbol": "EURUSD",
                "strategy": "bench",
                "bar_ts": bar_ts,
                "side": "buy",
                "volume": "0.01",
                "reason": "entry_long",
                "features": {},
            }
            cid = DecisionRequest.model_validate(payload).client_order_id
            started = time.perf_counter()
            engine.outbox.emit("decision_candidate", payload)  # the hot path at bar close
            while cid not in accepted:
                await arrived.wait()
                arrived.clear()
            if n >= 20:
                latencies.append(accepted[cid] - started)
            # the next quote fills it, so its workflow ends as a live one would
            engine.on_tick(QuoteTick("EURUSD", bar_ts + 10**9, 1.1000, 1.1002))
        await settled(client, task_queue)  # nothing left running while the floor is timed
        for n in range(decisions + 20):
            started = time.perf_counter()
            await client.execute_workflow(
                "FloorWorkflow", n, id=f"floor-{uuid.uuid4().hex}", task_queue=f"{task_queue}-floor"
            )
            if n >= 20:
                floor.append(time.perf_counter() - started)
        stop.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)
    await bus.close()
    await replies.close()
    await pool.close()
    supervisor.stop(settings)
    return {
        "decisions": len(latencies),
        "p50_ms": ms(latencies, 50),
        "p99_ms": ms(latencies, 99),
        "mean_ms": round(statistics.mean(latencies) * 1000, 2),
        "floor_p50_ms": ms(floor, 50),
        "floor_p99_ms": ms(floor, 99),
        "vs_floor_p50": round(ms(latencies, 50) / ms(floor, 50), 2),
        "stack": "embedded dev server (transferProcessorMaxPollRPS=1000), PostgreSQL, Redis",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-decision-") as tmp:
        figures = asyncio.run(run(args.decisions, Path(tmp)))
    report("decision_latency", figures, [Target("p50_ms", "<=", 15), Target("p99_ms", "<=", 50)])


if __name__ == "__main__":
    main()
