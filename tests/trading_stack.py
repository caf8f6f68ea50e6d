"""The trading stack on real servers, for workflow and API tests: Temporal, Redis and
PostgreSQL from the session platform, an in-process hot path (paper broker) fed a tick every
20 ms, its publisher and command consumer, the bridge, and a trading worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from activities.books import BooksActivities
from activities.decisions import DecisionActivities, PortfolioLimits
from activities.lineage import LineageActivities
from activities.orders import OrderActivities
from adapters.graph.postgres import PostgresGraphStore
from adapters.postgres.instruments import PostgresInstruments
from adapters.postgres.models import PostgresModelRegistry
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from adapters.redis.command_log import RedisCommandLog
from adapters.redis.event_bus import RedisStreamBus
from adapters.redis.hotpath_link import BusHotpathLink
from config.settings import PostgresSettings, TemporalSettings
from domain.clock import ManualClock
from domain.instruments import fx_major
from domain.market import QuoteTick
from domain.messages import Command, Reply, events_stream
from domain.orders import Side
from domain.paper import PaperBroker, PaperConfig
from domain.ports import ModelScorer, PatternValidator, TradeReviewer
from domain.risk import RiskGate, RiskLimits
from domain.strategies import Strategy
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.commands import CommandConsumer, CommandHandler
from hotpath.publisher import Publisher
from temporal.client import connect
from temporal.decisions import DECISION_WORKFLOW, DecisionRequest
from temporal.orders import ORDER_WORKFLOW, OrderRequest, OrderView, order_workflow_id
from temporal.queues import TRADING
from tests.conftest import RunningPlatform
from workers.bridge import Bridge
from workers.trading import build_worker

T0 = 1_700_000_000 * 10**9


@dataclass
class Stack:
    client: Client
    task_queue: str
    account: str
    engine: Engine
    book: PostgresOrderBook
    bridge: Bridge
    replies: RedisCommandLog
    link: BusHotpathLink
    prices: list[tuple[float, float]] = field(default_factory=list)  # quotes the feed plays next
    graph: PostgresGraphStore | None = None  # decision lineage, as the worker writes it

    async def ask(self, command: Command) -> Reply:
        """A command to the stack's hot path, as the API sends one; its reply."""
        reply = await self.link.ask(self.account, f"t-{uuid.uuid4().hex}", command, 10)
        assert reply is not None, f"the hot path did not answer {command}"
        return reply

    async def start(self, cid: str, **fields: object) -> WorkflowHandle[object, OrderView]:
        values = {"symbol": "EURUSD", "side": Side.BUY, "volume": Decimal("0.10"), **fields}
        request = OrderRequest(account=self.account, client_order_id=cid, **values)  # type: ignore[arg-type]
        return await self.client.start_workflow(
            ORDER_WORKFLOW,
            request,
            id=order_workflow_id(cid),
            task_queue=self.task_queue,
            result_type=OrderView,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


@asynccontextmanager
async def trading_stack(
    platform: RunningPlatform,
    strategies: Sequence[Strategy] = (),
    route: str = "direct",
    limits: PortfolioLimits | None = None,
    scorer: ModelScorer | None = None,
    validator: PatternValidator | None = None,
    reviewer: TradeReviewer | None = None,
    tick_ns: int = 20_000_000,
    task_queue: str | None = None,
    tenant: str = "default",
    paper: PaperConfig | None = None,
    reconcile_s: float = 5.0,
) -> AsyncIterator[Stack]:
    """`task_queue` defaults to a fresh one, so stacks never take each other's tasks."""
    account = f"w{uuid.uuid4().hex[:8]}"
    bus = RedisStreamBus.from_url(platform.redis_url)
    replies = RedisCommandLog.from_url(platform.redis_url)
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    book = PostgresOrderBook(pool)
    instruments = {"EURUSD": fx_major("EURUSD")}
    engine = Engine(
        account,
        instruments,
        strategies,
        PaperBroker(instruments, paper),
        RiskGate(account, RiskLimits(quote_max_age_ns=10**18, max_repeats=10**6)),
        Outbox(),
        balance=Decimal(100_000),
        route=route,
    )
    clock = ManualClock(T0)
    engine.on_tick(QuoteTick("EURUSD", T0, 1.1000, 1.1002))
    client = await connect(platform.temporal_address, TemporalSettings())
    task_queue = task_queue or f"tq-{uuid.uuid4().hex[:8]}"
    await book.ensure_account(account, tenant, deposit=Decimal(100_000))
    await PostgresInstruments(pool).record(instruments.values())
    bridge = Bridge(
        bus,
        client,
        [account],
        "bridge-1",
        task_queue=task_queue,
        reconcile_s=reconcile_s,
        clock=clock,
    )
    link = BusHotpathLink(bus, replies)
    graph = PostgresGraphStore(pool)
    stack = Stack(client, task_queue, account, engine, book, bridge, replies, link, graph=graph)
    stop = asyncio.Event()

    async def market() -> None:  # the hot path's feed: a tick every 20 ms of wall time
        while not stop.is_set():
            clock.advance(tick_ns)
            bid, ask = stack.prices.pop(0) if stack.prices else (1.1000, 1.1002)
            engine.on_tick(QuoteTick("EURUSD", clock.now_ns(), bid, ask))
            await asyncio.sleep(0.02)

    tasks = [
        asyncio.create_task(market()),
        asyncio.create_task(Publisher(engine.outbox, bus, events_stream(account)).run(stop)),
        asyncio.create_task(
            CommandConsumer(account, bus, replies, CommandHandler(engine), "hp", clock).run(stop)
        ),
    ]
    bridge_stop = asyncio.Event()
    bridging = asyncio.create_task(bridge.run(bridge_stop))
    # Earlier tests' garbage is collected here, not inside the workflow sandbox's validation
    # imports below, where a finalizer that imports or closes a socket breaks them
    gc.collect()
    worker = build_worker(
        client,
        OrderActivities(link, book, graph),
        DecisionActivities(
            book,
            limits or PortfolioLimits(),
            scorer=scorer,
            validator=validator,
            reviewer=reviewer,
        ),
        BooksActivities(link, book, bus),
        task_queue,
        lineage=LineageActivities(graph, PostgresModelRegistry(pool)),
    )
    try:
        async with worker:
            yield stack
            bridge_stop.set()  # first, so it cannot start the account's books again
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(bridging, 10)
            await _end_workflows_of(client, account, task_queue)
            stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)
    finally:
        stop.set()
        bridge_stop.set()
        await bus.close()
        await replies.close()
        await pool.close()


async def decide(stack: Stack, tenant: str, volume: str = "0.01") -> str:
    """A finished decision of the stack's account (a long EURUSD candidate); its id."""
    request = DecisionRequest(
        account=stack.account,
        tenant=tenant,
        symbol="EURUSD",
        strategy="ma_cross 50/200",
        bar_ts=T0 + uuid.uuid4().int % 10**12,
        side=Side.BUY,
        volume=Decimal(volume),
        reason="entry_long",
        features={"close": 1.1001, "sma_fast": 1.1002, "sma_slow": 1.1},
    )
    await stack.client.execute_workflow(
        DECISION_WORKFLOW, request, id=request.workflow_id, task_queue=stack.task_queue
    )
    return request.workflow_id


async def _end_workflows_of(client: Client, account: str, task_queue: str) -> None:
    """Terminate what the stack's account still runs (working orders reconcile forever), so
    no later stack on the same queue inherits workflows whose hot path is gone. By task
    queue too: a workflow still in its first task has not set its Account yet. Asked until
    nothing is found twice in a row, since visibility follows starts by a moment."""
    # a queue of the stack's own only: the shared trading queue serves other tests' accounts
    by_queue = f" OR TaskQueue = '{task_queue}'" if task_queue != TRADING else ""
    query = f"(Account = '{account}'{by_queue}) AND ExecutionStatus = 'Running'"
    quiet = 0
    for _ in range(100):
        found = [execution.id async for execution in client.list_workflows(query)]
        for workflow_id in found:
            with contextlib.suppress(Exception):  # ended meanwhile
                await client.get_workflow_handle(workflow_id).terminate("test stack stopped")
        quiet = 0 if found else quiet + 1
        if quiet == 2:
            return
        await asyncio.sleep(0.1)
