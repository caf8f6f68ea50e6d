"""The trading worker: decision, order and account-books workflows, with their activities,
on one queue."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.books import BooksActivities
from activities.decisions import DecisionActivities, PortfolioLimits
from activities.lineage import LineageActivities
from activities.orders import OrderActivities
from temporal.queues import TRADING
from workers.lifecycle import run_until_signalled
from workflows.books import AccountBooksWorkflow
from workflows.decision import AIDecisionWorkflow
from workflows.order import OrderLifecycleWorkflow


def build_worker(
    client: Client,
    orders: OrderActivities,
    decisions: DecisionActivities,
    books: BooksActivities,
    task_queue: str = TRADING,
    lineage: LineageActivities | None = None,
    **options: Any,
) -> Worker:
    handlers: list[Any] = [
        orders.hotpath_command,
        orders.record_order,
        orders.record_fill,
        books.reconcile_books,
        decisions.score_model,
        decisions.validate_pattern,
        decisions.review_llm,
        decisions.approve_portfolio,
        decisions.start_order,
    ]
    if lineage is not None:
        handlers.append(lineage.record_decision_lineage)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[OrderLifecycleWorkflow, AIDecisionWorkflow, AccountBooksWorkflow],
        activities=handlers,
        **options,
    )


async def _serve() -> None:
    from adapters.graph import open_graph_store
    from adapters.llm.reviewer import LlmReviewer
    from adapters.postgres.llm_usage import PostgresLlmUsage
    from adapters.postgres.models import PostgresModelRegistry, champion_changes
    from adapters.postgres.orders import PostgresOrderBook
    from adapters.postgres.pool import create_pool
    from adapters.redis.command_log import RedisCommandLog
    from adapters.redis.event_bus import RedisStreamBus
    from adapters.redis.hotpath_link import BusHotpathLink
    from adapters.vectors import open_vector_store
    from config.logs import configure_logging
    from config.settings import Settings
    from embedded.endpoints import postgres_url, redis_url, temporal_address
    from ml.champions import ChampionScorer
    from ml.patterns import VectorPatternValidator
    from temporal.client import connect

    configure_logging()
    settings = Settings()
    client = await connect(
        temporal_address(settings), settings.temporal, settings.worker.metrics_port
    )
    redis = redis_url(settings)
    pool = await create_pool(postgres_url(settings), settings.postgres, "trading-worker")
    book = PostgresOrderBook(pool)
    bus = RedisStreamBus.from_url(redis)
    link = BusHotpathLink(bus, RedisCommandLog.from_url(redis))
    arango = settings.arango
    graph = await open_graph_store(
        arango.url, arango.database, arango.username, arango.password.get_secret_value(), pool
    )
    orders = OrderActivities(link, book, graph)
    books = BooksActivities(link, book, bus)
    # each candidate is scored by its model's champion; a promotion reaches this worker
    # through the registry's notification, without a restart
    registry = PostgresModelRegistry(pool)
    scorer = ChampionScorer(registry)
    key = settings.weaviate.api_key
    vectors, source = await open_vector_store(
        settings.weaviate.url, key.get_secret_value() if key else None, pool
    )
    validator = VectorPatternValidator(vectors, source=source)
    llm = settings.llm
    reviewer = (
        None  # no key: the step is skipped, and the explanation says so
        if llm.api_key is None
        else LlmReviewer.connect(
            llm.endpoint,
            llm.api_key.get_secret_value(),
            llm.provider,
            llm.model,
            PostgresLlmUsage(pool),
            max_tokens=llm.max_tokens,
            input_usd_per_mtok=llm.input_usd_per_mtok,
            output_usd_per_mtok=llm.output_usd_per_mtok,
        )
    )
    decisions = DecisionActivities(
        book, PortfolioLimits(), scorer=scorer, validator=validator, reviewer=reviewer
    )
    # in-flight activities finish before the worker goes (graceful drain)
    worker = build_worker(
        client,
        orders,
        decisions,
        books,
        lineage=LineageActivities(graph, registry),
        graceful_shutdown_timeout=timedelta(seconds=30),
    )
    async with champion_changes(pool, scorer.invalidate):
        await run_until_signalled(worker)
    await pool.close()


def main() -> None:
    """`python -m workers.trading`: the trading queue's workflows and activities."""
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
