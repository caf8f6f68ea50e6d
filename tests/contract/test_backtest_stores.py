"""Backtest runs in PostgreSQL and their trades and equity curves in ClickHouse, on every
backend available (embedded, and servers named by AITP_POSTGRES__URL / AITP_CLICKHOUSE__URL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from functools import cmp_to_key
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from adapters.clickhouse.backtests import ClickHouseBacktestArchive
from adapters.postgres.backtests import PostgresBacktestRuns
from temporal.backtests import Evaluation, better, descending
from tests.conftest import RunningPlatform, backends
from tests.contract.stores import clickhouse_executor, postgres_url, scratch_database

T0 = 1_700_000_000 * 10**9


def request(run_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "tenant": "desk",
        "strategy": "ma_cross",
        "symbol": "EURUSD",
        "timeframe": "M1",
        "start_ns": T0,
        "end_ns": T0 + 86_400 * 10**9,
        "grid": {"fast": [5, 10]},
        "params": {"slow": 30},
        "mode": "sweep",
        "metric": "sharpe",
        **fields,
    }


@pytest.fixture(params=backends("embedded", server="AITP_POSTGRES__URL"))
async def runs(
    request: pytest.FixtureRequest, platform: RunningPlatform
) -> AsyncIterator[PostgresBacktestRuns]:
    async with scratch_database(postgres_url(request.param, platform), "bt") as pool:
        yield PostgresBacktestRuns(pool)


async def test_a_run_opens_once_and_closes_with_its_results_ranked(
    runs: PostgresBacktestRuns,
) -> None:
    await runs.open_run(request("r1"))
    await runs.open_run(request("r1"))  # a retried activity finds it
    [opened] = await runs.runs()
    assert (opened["run_id"], opened["status"], opened["tenant"]) == ("r1", "running", "desk")
    assert opened["symbol"] == "EURUSD"
    await runs.record("r1", "all", [(0, {"fast": 5}, {"sharpe": None})])
    chunk = [(1, {"fast": 10}, {"sharpe": 1.5}), (2, {"fast": 20}, {"sharpe": -0.5})]
    await runs.record("r1", "all", chunk)
    await runs.record("r1", "all", chunk)  # a retried chunk rewrites its rows
    await runs.record("r1", "train-0", [(0, {"fast": 5}, {"sharpe": 9.0})])
    unranked = await runs.results("r1")
    assert [(r["rank"], r["set_index"]) for r in unranked] == [(None, 0), (None, 1), (None, 2)]
    summary = {"best": {"sharpe": 1.5}}
    await runs.close_run("r1", "completed", "sharpe", summary=summary)
    await runs.close_run("r1", "completed", "sharpe", summary=summary)  # a retried close
    [closed] = await runs.runs(tenant="desk")
    assert closed["status"] == "completed"
    assert closed["metrics"] == summary
    assert closed["finished_at"] is not None
    results = await runs.results("r1")
    assert [(r["rank"], r["params"], r["metrics"]) for r in results] == [
        (1, {"fast": 10}, {"sharpe": 1.5}),
        (2, {"fast": 20}, {"sharpe": -0.5}),
        (3, {"fast": 5}, {"sharpe": None}),
    ]
    assert [r["rank"] for r in await runs.results("r1", "train-0")] == [1]
    assert await runs.runs(tenant="elsewhere") == []
    one = await runs.run("r1", tenant="desk")
    assert one is not None
    assert one["request"]["grid"] == {"fast": [5, 10]}
    assert await runs.run("r1", tenant="elsewhere") is None


async def test_a_metric_where_less_is_better_ranks_upwards(runs: PostgresBacktestRuns) -> None:
    await runs.open_run(request("r2", metric="max_drawdown"))
    await runs.record(
        "r2",
        "all",
        [(0, {"fast": 5}, {"max_drawdown": 0.3}), (1, {"fast": 10}, {"max_drawdown": 0.1})],
    )
    await runs.close_run("r2", "completed", "max_drawdown", descending=False)
    assert [r["set_index"] for r in await runs.results("r2")] == [1, 0]


@pytest.mark.parametrize("metric", ["sharpe", "max_drawdown"])
async def test_the_store_ranks_a_run_as_the_workflow_does(
    runs: PostgresBacktestRuns, metric: str
) -> None:
    """Ranks in SQL over a whole run, `better` in the workflow over its best: one rule."""
    values = [0.4, None, -1.2, 0.4, 2.5, None, 0.0, -1.2, 7.0]
    evaluations = [
        Evaluation(set_index=i, params={"fast": i}, metrics={metric: v})
        for i, v in enumerate(values)
    ]
    await runs.open_run(request("r3", metric=metric))
    await runs.record("r3", "all", [(e.set_index, e.params, e.metrics) for e in evaluations])
    await runs.close_run("r3", "completed", metric, descending=descending(metric))
    by_store = [r["set_index"] for r in await runs.results("r3")]
    rule = cmp_to_key(lambda a, b: -1 if better(a, b, metric) else 1)
    by_rule = [e.set_index for e in sorted(evaluations, key=rule)]
    assert by_store == by_rule
    assert by_store[-2:] == [1, 5]  # missing values last, the lower index first


@pytest.fixture(params=backends("chdb", "chdb_http", server="AITP_CLICKHOUSE__URL"))
def archive(
    request: pytest.FixtureRequest, tmp_path: Path, platform: RunningPlatform
) -> Iterator[ClickHouseBacktestArchive]:
    executor = clickhouse_executor(request.param, tmp_path, platform)
    database = f"t_{uuid.uuid4().hex[:12]}"
    store = ClickHouseBacktestArchive(executor, database)
    store.ensure_schema()
    try:
        yield store
    finally:
        executor.command(f"DROP DATABASE IF EXISTS {database}")
        executor.close()


def test_trades_and_equity_are_kept_once_per_set(archive: ClickHouseBacktestArchive) -> None:
    ns = pl.Datetime("ns", "UTC")
    trades = pl.DataFrame(
        {
            "side": ["buy", "sell"],
            "volume": [0.1, 0.1],
            "entry_ts": pl.Series([T0, T0 + 120 * 10**9]).cast(ns),
            "entry_price": [1.1, 1.2],
            "exit_ts": pl.Series([T0 + 60 * 10**9, None]).cast(ns),
            "exit_price": [1.15, None],
            "pnl": [500.0, -20.0],
        }
    )
    equity = pl.DataFrame(
        {"ts": pl.Series([T0, T0 + 60 * 10**9]).cast(ns), "equity": [100_000.0, 100_500.0]}
    )
    archive.keep("r1", "fast=5", trades, equity)
    archive.keep("r1", "fast=5", trades, equity)  # a retry
    archive.keep("r1", "fast=10", trades.head(1), equity)
    got = archive.trades("r1", "fast=5")
    assert got["n"].to_list() == [0, 1]
    assert got["exit_price"].to_list() == [1.15, None]
    assert got["pnl"].to_list() == [500.0, -20.0]
    assert archive.trades("r1")["set_key"].to_list() == ["fast=10", "fast=5", "fast=5"]
    assert archive.equity("r1", "fast=5")["equity"].to_list() == [100_000.0, 100_500.0]
    assert archive.trades("other").height == 0
