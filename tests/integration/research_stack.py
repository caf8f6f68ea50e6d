"""Backtests on real servers: the session platform's Temporal, PostgreSQL and ClickHouse
(the chDB server `aitp up` runs), real market data imported into a database of the test's
own, and research workers on a task queue of their own."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle

from adapters.clickhouse.backtests import ClickHouseBacktestArchive
from adapters.clickhouse.executors import ClickHouseHttpExecutor
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from adapters.files.market_files import read_market_file
from adapters.postgres.backtests import PostgresBacktestRuns
from adapters.postgres.pool import create_pool
from adapters.vectors.pgvector import PgVectorStore
from config.settings import PostgresSettings, TemporalSettings
from domain.market_data import PriceSide, SeriesKind, Timeframe
from temporal.backtests import BACKTEST_WORKFLOW, BacktestRequest, BacktestResult
from temporal.client import connect
from tests.conftest import REPO, RunningPlatform
from workers.research import build_worker, research_activities

FILES = {
    "GBPUSD": ("fx/GBPUSD-M1-bid-2012-02.csv", "fx/GBPUSD-M1-ask-2012-02.csv"),
    "USDJPY": ("fx/USDJPY-M1-bid-2013.csv", "fx/USDJPY-M1-ask-2013.csv"),
}


def ns(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 10**9


@dataclass
class ResearchStack:
    client: Client
    task_queue: str
    database: str
    runs: PostgresBacktestRuns
    archive: ClickHouseBacktestArchive
    market: ClickHouseMarketDataStore
    platform: RunningPlatform
    pool: asyncpg.Pool

    def request(self, **fields: Any) -> BacktestRequest:
        values: dict[str, Any] = {
            "run_id": f"t{uuid.uuid4().hex[:10]}",
            "strategy": "ma_cross",
            "symbol": "GBPUSD",
            "start_ns": ns("2012-02-01"),
            "end_ns": ns("2012-03-01"),
            "costs": {"commission_per_lot": 3.5, "slippage_points": 1},
            **fields,
        }
        return BacktestRequest.model_validate(values)

    async def start(self, request: BacktestRequest) -> WorkflowHandle[Any, BacktestResult]:
        return await self.client.start_workflow(
            BACKTEST_WORKFLOW,
            request,
            id=request.workflow_id,
            task_queue=self.task_queue,
            result_type=BacktestResult,
        )

    async def run(self, request: BacktestRequest) -> BacktestResult:
        handle = await self.start(request)
        return await asyncio.wait_for(handle.result(), 120)

    def worker_process(self) -> subprocess.Popen[bytes]:
        """`python -m workers.research` on this stack's queue, as `aitp up` runs it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
        env.update(
            AITP_DATA_DIR=str(self.platform.settings.data_dir),
            AITP_TEMPORAL__ADDRESS=self.platform.temporal_address,
            AITP_POSTGRES__URL=self.platform.postgres_url,
            AITP_CLICKHOUSE__URL=self.platform.clickhouse_url,
            AITP_CLICKHOUSE__DATABASE=self.database,
            AITP_RESEARCH__CONCURRENCY="1",
        )
        argv = [sys.executable, "-m", "workers.research", "--task-queue", self.task_queue]
        return subprocess.Popen(argv, env=env, cwd=REPO)


def import_bars(market: ClickHouseMarketDataStore, shared_data: Path, symbol: str) -> None:
    bid, ask = FILES[symbol]
    for side, name in ((PriceSide.BID, bid), (PriceSide.ASK, ask)):
        frame = read_market_file(shared_data / name, SeriesKind.BARS).frame
        market.write_bars(symbol, Timeframe.M1, side, frame)


@asynccontextmanager
async def research_stack(
    platform: RunningPlatform,
    shared_data: Path,
    symbols: tuple[str, ...],
    in_process: bool = True,
    models_dir: Path | None = None,
) -> AsyncIterator[ResearchStack]:
    database = f"bt_{uuid.uuid4().hex[:10]}"
    executor = ClickHouseHttpExecutor(platform.clickhouse_url)
    market = ClickHouseMarketDataStore(executor, database)
    archive = ClickHouseBacktestArchive(executor, database)
    market.ensure_schema()
    archive.ensure_schema()
    for symbol in symbols:
        import_bars(market, shared_data, symbol)
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    client = await connect(platform.temporal_address, TemporalSettings())
    stack = ResearchStack(
        client,
        f"research-{uuid.uuid4().hex[:8]}",
        database,
        PostgresBacktestRuns(pool),
        archive,
        market,
        platform,
        pool,
    )
    scratch = tempfile.TemporaryDirectory(prefix="models-")
    activities, models, patterns = research_activities(
        platform.clickhouse_url,
        None,
        database,
        pool,
        2,
        models_dir or Path(scratch.name),
        PgVectorStore(pool),
    )
    try:
        if in_process:
            gc.collect()  # not inside the sandbox's validation imports (see trading_stack)
            async with build_worker(client, activities, 2, stack.task_queue, models, patterns):
                yield stack
        else:
            yield stack
    finally:
        with contextlib.suppress(Exception):
            executor.command(f"DROP DATABASE IF EXISTS {database}")
        executor.close()
        await pool.close()
        scratch.cleanup()
