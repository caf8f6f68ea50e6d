"""Opening the stores from the CLI, wherever they are (embedded, served, or a server)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters.clickhouse.backtests import ClickHouseBacktestArchive
from adapters.clickhouse.executors import (
    ChdbExecutor,
    ClickHouseError,
    ClickHouseHttpExecutor,
    SqlExecutor,
)
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from cli.output import CliError
from config.settings import Settings
from embedded.endpoints import clickhouse_target


def _executor(settings: Settings) -> SqlExecutor:
    target = clickhouse_target(settings)
    try:
        return ClickHouseHttpExecutor(target.url) if target.url else ChdbExecutor(target.chdb_path)
    except ClickHouseError as exc:
        raise CliError(str(exc)) from None


@contextmanager
def backtest_archive(settings: Settings) -> Iterator[ClickHouseBacktestArchive]:
    executor = _executor(settings)
    archive = ClickHouseBacktestArchive(executor, settings.clickhouse.database)
    try:
        archive.ensure_schema()
        yield archive
    except ClickHouseError as exc:
        raise CliError(f"backtest archive: {exc}") from None
    finally:
        executor.close()


@contextmanager
def market_data(settings: Settings) -> Iterator[ClickHouseMarketDataStore]:
    store = ClickHouseMarketDataStore(_executor(settings), settings.clickhouse.database)
    try:
        store.ensure_schema()
        yield store
    except ClickHouseError as exc:
        raise CliError(f"market-data store: {exc}") from None
    finally:
        store.close()
