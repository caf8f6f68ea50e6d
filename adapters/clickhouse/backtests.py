"""Trades and equity curves of backtest runs in ClickHouse (chDB or a server).

ReplacingMergeTree keyed by run, parameter set and position in the series: a retried
activity that writes the same set again leaves one copy. Reads use FINAL.
"""

from __future__ import annotations

import time

import polars as pl
import pyarrow as pa

from adapters.clickhouse.executors import SqlExecutor

_SCHEMA = (
    "CREATE DATABASE IF NOT EXISTS {db}",
    """CREATE TABLE IF NOT EXISTS {db}.backtest_trades (
        run_id       String,
        set_key      String,
        n            UInt32,
        side         LowCardinality(String),
        volume       Float64,
        entry_ts     DateTime64(9, 'UTC'),
        entry_price  Float64,
        exit_ts      Nullable(DateTime64(9, 'UTC')),
        exit_price   Nullable(Float64),
        pnl          Float64,
        written_at   UInt64
    ) ENGINE = ReplacingMergeTree(written_at) ORDER BY (run_id, set_key, n)""",
    """CREATE TABLE IF NOT EXISTS {db}.backtest_equity (
        run_id      String,
        set_key     String,
        ts          DateTime64(9, 'UTC'),
        equity      Float64,
        written_at  UInt64
    ) ENGINE = ReplacingMergeTree(written_at) ORDER BY (run_id, set_key, ts)""",
)
_TS = pa.timestamp("ns", tz="UTC")
TRADE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("set_key", pa.string()),
        ("n", pa.uint32()),
        ("side", pa.string()),
        ("volume", pa.float64()),
        ("entry_ts", _TS),
        ("entry_price", pa.float64()),
        ("exit_ts", _TS),
        ("exit_price", pa.float64()),
        ("pnl", pa.float64()),
        ("written_at", pa.uint64()),
    ]
)
EQUITY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("set_key", pa.string()),
        ("ts", _TS),
        ("equity", pa.float64()),
        ("written_at", pa.uint64()),
    ]
)


class ClickHouseBacktestArchive:
    def __init__(self, executor: SqlExecutor, database: str = "aitp") -> None:
        self._sql = executor
        self._db = database

    def ensure_schema(self) -> None:
        for statement in _SCHEMA:
            self._sql.command(statement.format(db=self._db))

    def keep(self, run_id: str, set_key: str, trades: pl.DataFrame, equity: pl.DataFrame) -> None:
        """`trades`: side, volume, entry_ts, entry_price, exit_ts, exit_price, pnl (ns times);
        `equity`: ts, equity."""
        now = time.time_ns()
        rows = trades.with_columns(
            pl.lit(run_id).alias("run_id"),
            pl.lit(set_key).alias("set_key"),
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("n"),
            pl.lit(now, dtype=pl.UInt64).alias("written_at"),
        ).select(TRADE_SCHEMA.names)
        self._sql.insert_arrow(f"{self._db}.backtest_trades", rows.to_arrow().cast(TRADE_SCHEMA))
        curve = equity.with_columns(
            pl.lit(run_id).alias("run_id"),
            pl.lit(set_key).alias("set_key"),
            pl.lit(now, dtype=pl.UInt64).alias("written_at"),
        ).select(EQUITY_SCHEMA.names)
        self._sql.insert_arrow(f"{self._db}.backtest_equity", curve.to_arrow().cast(EQUITY_SCHEMA))

    def trades(self, run_id: str, set_key: str | None = None) -> pl.DataFrame:
        one_set = "AND set_key = {k:String}" if set_key is not None else ""
        table = self._sql.query_arrow(
            f"""SELECT set_key, n, side, volume, entry_ts, entry_price, exit_ts, exit_price, pnl
                FROM {self._db}.backtest_trades FINAL
                WHERE run_id = {{r:String}} {one_set}
                ORDER BY set_key, n""",
            {"r": run_id, "k": set_key} if set_key is not None else {"r": run_id},
        )
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def equity(self, run_id: str, set_key: str) -> pl.DataFrame:
        table = self._sql.query_arrow(
            f"""SELECT ts, equity FROM {self._db}.backtest_equity FINAL
                WHERE run_id = {{r:String}} AND set_key = {{k:String}} ORDER BY ts""",
            {"r": run_id, "k": set_key},
        )
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame
