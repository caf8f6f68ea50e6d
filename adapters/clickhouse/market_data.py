"""Bars and ticks in ClickHouse (chDB or a server), the same SQL on both.

Tables are ReplacingMergeTree keyed by the series and the timestamp, so writing a bar twice
(re-importing a file, overlapping files, a replayed batch) leaves one row: the last written.
Reads use FINAL so they never see a duplicate that a background merge has not removed yet.
Higher timeframes that were never stored are aggregated from M1 on read.
"""

from __future__ import annotations

import re
import time

import polars as pl
import pyarrow as pa

from adapters.clickhouse.executors import SqlExecutor
from domain.market_data import PriceSide, SeriesInfo, SeriesKind, Timeframe

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BAR_COLUMNS = ("ts", "open", "high", "low", "close", "volume")
TICK_COLUMNS = ("ts", "bid", "ask", "bid_volume", "ask_volume")

_SCHEMA = (
    "CREATE DATABASE IF NOT EXISTS {db}",
    """CREATE TABLE IF NOT EXISTS {db}.bars (
        symbol      LowCardinality(String),
        timeframe   LowCardinality(String),
        side        LowCardinality(String),
        ts          DateTime64(9, 'UTC'),
        open        Float64,
        high        Float64,
        low         Float64,
        close       Float64,
        volume      Float64,
        written_at  UInt64
    ) ENGINE = ReplacingMergeTree(written_at)
    PARTITION BY toYYYYMM(ts)
    ORDER BY (symbol, timeframe, side, ts)""",
    """CREATE TABLE IF NOT EXISTS {db}.ticks (
        symbol      LowCardinality(String),
        ts          DateTime64(9, 'UTC'),
        seq         UInt32,
        bid         Float64,
        ask         Float64,
        bid_volume  Float64,
        ask_volume  Float64,
        written_at  UInt64
    ) ENGINE = ReplacingMergeTree(written_at)
    PARTITION BY toYYYYMM(ts)
    ORDER BY (symbol, ts, seq)""",
)

_BAR_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("timeframe", pa.string()),
        ("side", pa.string()),
        ("ts", pa.timestamp("ns", tz="UTC")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("written_at", pa.uint64()),
    ]
)
_TICK_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("ts", pa.timestamp("ns", tz="UTC")),
        ("seq", pa.uint32()),
        ("bid", pa.float64()),
        ("ask", pa.float64()),
        ("bid_volume", pa.float64()),
        ("ask_volume", pa.float64()),
        ("written_at", pa.uint64()),
    ]
)
_TS = pl.Datetime("ns", "UTC")


class ClickHouseMarketDataStore:
    def __init__(self, executor: SqlExecutor, database: str = "aitp") -> None:
        if not _IDENT.match(database):
            raise ValueError(f"database name {database!r} is not a plain identifier")
        self._sql = executor
        self._db = database

    def ensure_schema(self) -> None:
        for statement in _SCHEMA:
            self._sql.command(statement.format(db=self._db))

    def write_bars(
        self, symbol: str, timeframe: Timeframe, side: PriceSide, bars: pl.DataFrame
    ) -> int:
        if bars.height == 0:
            return 0
        frame = bars.select(
            pl.lit(symbol).alias("symbol"),
            pl.lit(timeframe.value).alias("timeframe"),
            pl.lit(side.value).alias("side"),
            pl.col("ts").cast(_TS),
            *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", "volume")),
            pl.lit(time.time_ns(), dtype=pl.UInt64).alias("written_at"),
        )
        self._sql.insert_arrow(f"{self._db}.bars", frame.to_arrow().cast(_BAR_SCHEMA))
        return frame.height

    def read_bars(
        self,
        symbol: str,
        timeframe: Timeframe,
        side: PriceSide,
        start_ns: int,
        end_ns: int,
        limit: int | None = None,
    ) -> pl.DataFrame:
        params = {"s": symbol, "side": side.value, "a": start_ns, "b": end_ns}
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        stored = self._bars_sql(timeframe) + tail
        table = self._sql.query_arrow(stored, {**params, "tf": timeframe.value})
        if table.num_rows == 0 and timeframe is not Timeframe.M1:
            table = self._sql.query_arrow(self._aggregated_sql(timeframe) + tail, params)
        return _bars_frame(table)

    def _bars_sql(self, timeframe: Timeframe) -> str:
        return f"""
            SELECT ts, open, high, low, close, volume FROM {self._db}.bars FINAL
            WHERE symbol = {{s:String}} AND timeframe = {{tf:String}} AND side = {{side:String}}
              AND ts >= fromUnixTimestamp64Nano({{a:Int64}}, 'UTC')
              AND ts <  fromUnixTimestamp64Nano({{b:Int64}}, 'UTC')
            ORDER BY ts"""

    def _aggregated_sql(self, timeframe: Timeframe) -> str:
        # Buckets start on multiples of the timeframe since the epoch, in UTC.
        return f"""
            SELECT toDateTime64(
                       toStartOfInterval(ts, INTERVAL {timeframe.seconds} SECOND, 'UTC'), 9, 'UTC'
                   )
                       AS bucket,
                   argMin(open, ts) AS open, max(high) AS high, min(low) AS low,
                   argMax(close, ts) AS close, sum(volume) AS volume
            FROM {self._db}.bars FINAL
            WHERE symbol = {{s:String}} AND timeframe = 'M1' AND side = {{side:String}}
              AND ts >= fromUnixTimestamp64Nano({{a:Int64}}, 'UTC')
              AND ts <  fromUnixTimestamp64Nano({{b:Int64}}, 'UTC')
            GROUP BY bucket ORDER BY bucket"""

    def write_ticks(self, symbol: str, ticks: pl.DataFrame) -> int:
        if ticks.height == 0:
            return 0
        frame = ticks.select(
            pl.lit(symbol).alias("symbol"),
            pl.col("ts").cast(_TS),
            # seq tells apart ticks that share a timestamp, in the order the source gave them
            (pl.int_range(pl.len()).over("ts")).cast(pl.UInt32).alias("seq"),
            *(pl.col(c).cast(pl.Float64) for c in ("bid", "ask", "bid_volume", "ask_volume")),
            pl.lit(time.time_ns(), dtype=pl.UInt64).alias("written_at"),
        )
        self._sql.insert_arrow(f"{self._db}.ticks", frame.to_arrow().cast(_TICK_SCHEMA))
        return frame.height

    def read_ticks(self, symbol: str, start_ns: int, end_ns: int) -> pl.DataFrame:
        table = self._sql.query_arrow(
            f"""SELECT ts, bid, ask, bid_volume, ask_volume FROM {self._db}.ticks FINAL
                WHERE symbol = {{s:String}}
                  AND ts >= fromUnixTimestamp64Nano({{a:Int64}}, 'UTC')
                  AND ts <  fromUnixTimestamp64Nano({{b:Int64}}, 'UTC')
                ORDER BY ts, seq""",
            {"s": symbol, "a": start_ns, "b": end_ns},
        )
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if frame.height == 0:
            return pl.DataFrame(schema={"ts": _TS, **{c: pl.Float64 for c in TICK_COLUMNS[1:]}})
        return frame.with_columns(pl.col("ts").cast(_TS))

    def last_tick(self, symbol: str) -> tuple[int, float, float] | None:
        table = self._sql.query_arrow(
            f"""SELECT toUnixTimestamp64Nano(ts) AS t, bid, ask FROM {self._db}.ticks FINAL
                WHERE symbol = {{s:String}} ORDER BY ts DESC, seq DESC LIMIT 1""",
            {"s": symbol},
        )
        if table.num_rows == 0:
            return None
        row = table.to_pylist()[0]
        return int(row["t"]), float(row["bid"]), float(row["ask"])

    def series(self) -> list[SeriesInfo]:
        table = self._sql.query_arrow(
            f"""SELECT * FROM (
                SELECT symbol, 'bars' AS kind, timeframe, side, count() AS n,
                       toUnixTimestamp64Nano(min(ts)) AS first,
                       toUnixTimestamp64Nano(max(ts)) AS last
                FROM {self._db}.bars FINAL GROUP BY symbol, timeframe, side
                UNION ALL
                SELECT symbol, 'ticks', '', '', count(),
                       toUnixTimestamp64Nano(min(ts)), toUnixTimestamp64Nano(max(ts))
                FROM {self._db}.ticks FINAL GROUP BY symbol
                ) ORDER BY symbol, kind, timeframe, side"""
        )
        return [
            SeriesInfo(
                symbol=str(row["symbol"]),
                kind=SeriesKind(row["kind"]),
                timeframe=Timeframe(row["timeframe"]) if row["timeframe"] else None,
                side=PriceSide(row["side"]) if row["side"] else None,
                rows=int(row["n"]),
                first_ts=int(row["first"]),
                last_ts=int(row["last"]),
            )
            for row in table.to_pylist()
        ]

    def close(self) -> None:
        self._sql.close()


def _bars_frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if frame.height == 0:
        return pl.DataFrame(schema={"ts": _TS, **{c: pl.Float64 for c in BAR_COLUMNS[1:]}})
    first = frame.columns[0]
    return frame.rename({first: "ts"}).with_columns(pl.col("ts").cast(_TS))
