"""The research worker: backtest workflows and their CPU-heavy activities on the research
queue, never beside the trading queue (a sweep must not delay an order)."""

from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.backtests import BacktestActivities
from activities.models import ModelActivities
from activities.patterns import PatternActivities
from domain.ports import VectorStore
from temporal.queues import RESEARCH
from workers.lifecycle import run_until_signalled
from workflows.backtest import BacktestWorkflow
from workflows.model_retraining import ModelRetrainingWorkflow
from workflows.model_training import ModelTrainingWorkflow
from workflows.pattern_index import PatternIndexWorkflow


def build_worker(
    client: Client,
    backtests: BacktestActivities,
    concurrency: int,
    task_queue: str = RESEARCH,
    models: ModelActivities | None = None,
    patterns: PatternActivities | None = None,
    **options: Any,
) -> Worker:
    model_handlers: list[Any] = (
        []
        if models is None
        else [
            models.plan_training,
            models.evaluate_fold,
            models.train_model,
            models.register_model,
            models.challenge_champion,
        ]
    )
    if patterns is not None:
        model_handlers.append(patterns.index_patterns)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[
            BacktestWorkflow,
            ModelTrainingWorkflow,
            ModelRetrainingWorkflow,
            PatternIndexWorkflow,
        ],
        activities=[
            backtests.plan_backtest,
            backtests.sweep_chunk,
            backtests.run_set,
            backtests.stitch_walk_forward,
            backtests.combine_backtests,
            backtests.close_backtest,
            *model_handlers,
        ],
        max_concurrent_activities=concurrency,
        **options,
    )


def research_activities(
    clickhouse_url: str | None,
    chdb_path: Any,
    database: str,
    pool: Any,
    concurrency: int,
    models_dir: Path,
    vectors: VectorStore | None = None,
) -> tuple[BacktestActivities, ModelActivities, PatternActivities | None]:
    """The activities over the stores: ClickHouse by HTTP when served, else chDB in-process;
    models' files under `models_dir`, their registry in PostgreSQL."""
    from adapters.clickhouse.backtests import ClickHouseBacktestArchive
    from adapters.clickhouse.executors import ChdbExecutor, ClickHouseHttpExecutor, SqlExecutor
    from adapters.clickhouse.market_data import ClickHouseMarketDataStore
    from adapters.postgres.backtests import PostgresBacktestRuns
    from adapters.postgres.models import PostgresModelRegistry

    executor: SqlExecutor = (
        ClickHouseHttpExecutor(clickhouse_url) if clickhouse_url else ChdbExecutor(chdb_path)
    )
    market = ClickHouseMarketDataStore(executor, database)
    archive = ClickHouseBacktestArchive(executor, database)
    market.ensure_schema()
    archive.ensure_schema()
    threads = ThreadPoolExecutor(concurrency, thread_name_prefix="research")
    return (
        BacktestActivities(market, PostgresBacktestRuns(pool), archive, threads),
        ModelActivities(market, PostgresModelRegistry(pool), models_dir, threads),
        None if vectors is None else PatternActivities(market, vectors),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workers.research", description=__doc__)
    parser.add_argument("--task-queue", default=RESEARCH, help=f"default {RESEARCH}")
    return parser


async def _serve(task_queue: str) -> None:
    from adapters.postgres.pool import create_pool
    from adapters.vectors import open_vector_store
    from config.logs import configure_logging
    from config.settings import Settings
    from embedded.endpoints import clickhouse_target, postgres_url, temporal_address
    from temporal.client import connect

    configure_logging()
    settings = Settings()
    client = await connect(temporal_address(settings), settings.temporal)
    pool = await create_pool(postgres_url(settings), settings.postgres, "research-worker")
    target = clickhouse_target(settings)
    concurrency = settings.research.concurrency
    key = settings.weaviate.api_key
    vectors, _ = await open_vector_store(
        settings.weaviate.url, key.get_secret_value() if key else None, pool
    )
    backtests, models, patterns = research_activities(
        target.url,
        target.chdb_path,
        settings.clickhouse.database,
        pool,
        concurrency,
        settings.data_dir / "models",
        vectors,
    )
    worker = build_worker(
        client,
        backtests,
        concurrency,
        task_queue,
        models,
        patterns,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    await run_until_signalled(worker)
    await pool.close()


def main() -> None:
    """`python -m workers.research`: backtests and model training on the research queue."""
    args = build_parser().parse_args()
    asyncio.run(_serve(args.task_queue))


if __name__ == "__main__":
    main()
