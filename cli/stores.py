"""Opening the stores from the CLI, wherever they are (embedded, served, or a server)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters.clickhouse.executors import (
    ChdbExecutor,
    ClickHouseError,
    ClickHouseHttpExecutor,
    SqlExecutor,
)
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from cli.common import CliError
from config.settings import Settings
from embedded.endpoints import clickhouse_target


@contextmanager
def market_data(settings: Settings) -> Iterator[ClickHouseMarketDataStore]:
    target = clickhouse_target(settings)
    try:
        executor: SqlExecutor = (
            ClickHouseHttpExecutor(target.url) if target.url else ChdbExecutor(target.chdb_path)
        )
    except ClickHouseError as exc:
        raise CliError(str(exc)) from None
    store = ClickHouseMarketDataStore(executor, settings.clickhouse.database)
    try:
        store.ensure_schema()
        yield store
    except ClickHouseError as exc:
        raise CliError(f"market-data store: {exc}") from None
    finally:
        store.close()
