"""Market-data store: batched ingest of M1 bars and reading a symbol's year back into polars.

The data is synthetic but not invented: the M1 returns and intrabar shapes of the shared
GBPUSD bid file are block-bootstrapped (blocks of one hour) into one FX year (weekdays only,
~374k bars) per symbol, for enough symbols to pass 5M rows. Each figure is measured through
the platform's adapter and, in the same run, with chDB called directly (the baseline), both
in-process; the HTTP figures go through the embedded chDB server other processes use.

    python -m bench.marketdata [--symbols 14] [--reads 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from adapters.clickhouse.executors import ChdbExecutor, ClickHouseHttpExecutor
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from bench._report import SHARED_DATA, Target, report
from domain.market_data import PriceSide, Timeframe
from embedded.process import free_port, port_open

BATCH = 1_000_000
MINUTE_NS = 60 * 1_000_000_000
YEAR_START_NS = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z


def fx_year_minutes() -> np.ndarray:
    minutes = YEAR_START_NS + np.arange(366 * 1440, dtype=np.int64) * MINUTE_NS
    weekday = ((minutes // (86_400 * 1_000_000_000)) + 3) % 7  # 1970-01-01 was a Thursday
    return minutes[weekday < 5]


def bootstrap_year(
    source: pl.DataFrame, stamps: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """One year of M1 bars from hour-long blocks of the source's returns and bar shapes."""
    close = source["close"].to_numpy()
    ret = np.diff(np.log(close))
    up = (source["high"].to_numpy() / np.maximum(source["open"], source["close"]).to_numpy())[1:]
    down = (source["low"].to_numpy() / np.minimum(source["open"], source["close"]).to_numpy())[1:]
    n, block = len(stamps), 60
    starts = rng.integers(0, len(ret) - block, size=n // block + 1)
    idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]
    closes = 1.25 * np.exp(np.cumsum(ret[idx]))
    opens = np.concatenate([[1.25], closes[:-1]])
    return pl.DataFrame(
        {
            "ts": pl.Series(stamps).cast(pl.Datetime("ns", "UTC")),
            "open": opens,
            "high": np.maximum(opens, closes) * up[idx],
            "low": np.minimum(opens, closes) * down[idx],
            "close": closes,
            "volume": rng.integers(1, 500, size=n).astype(np.float64),
        }
    )


def raw_arrow(symbol: str, frame: pl.DataFrame) -> pa.Table:
    return frame.select(
        pl.lit(symbol).alias("symbol"),
        pl.lit("M1").alias("timeframe"),
        pl.lit("bid").alias("side"),
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        pl.lit(time.time_ns(), dtype=pl.UInt64).alias("written_at"),
    ).to_arrow()


def ingest(store: ClickHouseMarketDataStore, years: dict[str, pl.DataFrame]) -> float:
    """Seconds to write every symbol's year through the adapter, in BATCH-row batches."""
    started = time.perf_counter()
    for symbol, frame in years.items():
        for offset in range(0, frame.height, BATCH):
            store.write_bars(symbol, Timeframe.M1, PriceSide.BID, frame.slice(offset, BATCH))
    return time.perf_counter() - started


def timed_year_reads(store: ClickHouseMarketDataStore, repeats: int, rows: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        year = store.read_bars("SYM00", Timeframe.M1, PriceSide.BID, 0, 2**62)
        samples.append(time.perf_counter() - started)
        assert year.height == rows
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=14, help="symbols of one FX year each")
    parser.add_argument("--reads", type=int, default=7, help="repetitions of the year read")
    args = parser.parse_args()

    source_file = SHARED_DATA / "fx" / "GBPUSD-M1-bid-2012-02.csv"
    if not source_file.exists():
        sys.exit(f"needs the shared data at {SHARED_DATA}")
    source = pl.read_csv(source_file)
    stamps = fx_year_minutes()
    rng = np.random.default_rng(7)
    years = {f"SYM{i:02d}": bootstrap_year(source, stamps, rng) for i in range(args.symbols)}
    total = sum(f.height for f in years.values())
    print(
        f"{total:,} M1 bars: {args.symbols} symbols x {len(stamps):,} bars, block-bootstrapped "
        f"(1h blocks) from the returns of {source_file.name}"
    )

    with tempfile.TemporaryDirectory(prefix="bench-md-") as tmp:
        # through the adapter, in-process chDB
        store = ClickHouseMarketDataStore(ChdbExecutor(Path(tmp) / "adapter"), "bench")
        store.ensure_schema()
        ingest_s = ingest(store, years)
        reads = timed_year_reads(store, args.reads, len(stamps))
        store.close()

        # chDB called directly: the same table, Arrow in, Arrow out
        from chdb import session as chdb_session

        raw = chdb_session.Session(str(Path(tmp) / "raw"))
        for statement in ("CREATE DATABASE raw", _ddl()):
            raw.query(statement)
        arrow_batches = [raw_arrow(s, f) for s, f in years.items()]
        started = time.perf_counter()
        for batch in arrow_batches:
            for offset in range(0, batch.num_rows, BATCH):
                chunk = batch.slice(offset, BATCH)  # noqa: F841  (read by name in SQL)
                raw.query("INSERT INTO raw.bars SELECT * FROM Python(chunk)")
        raw_ingest_s = time.perf_counter() - started
        raw_reads = []
        for _ in range(args.reads):
            t0 = time.perf_counter()
            table = raw.query(
                "SELECT ts, open, high, low, close, volume FROM raw.bars FINAL "
                "WHERE symbol = 'SYM00' AND timeframe = 'M1' AND side = 'bid' ORDER BY ts",
                "ArrowTable",
            )
            frame = pl.from_arrow(table)
            raw_reads.append(time.perf_counter() - t0)
        assert frame.height == len(stamps)
        raw.close()

        # through the embedded chDB server, as the CLI and workers reach it
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "embedded.chdb_server",
                "--path",
                str(Path(tmp) / "http"),
                "--port",
                str(port),
            ],
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            deadline = time.monotonic() + 30
            while not port_open("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.1)
            http = ClickHouseMarketDataStore(
                ClickHouseHttpExecutor(f"http://127.0.0.1:{port}"), "bench"
            )
            http.ensure_schema()
            subset = dict(list(years.items())[:2])
            http_ingest_s = ingest(http, subset)
            http_rows = sum(f.height for f in subset.values())
            http_reads = timed_year_reads(http, args.reads, len(stamps))
            http.close()
        finally:
            server.terminate()
            server.wait(30)

    figures: dict[str, float | int | str] = {
        "rows_ingested": total,
        "year_rows": len(stamps),
        "ingest_rows_per_s": round(total / ingest_s),
        "chdb_raw_ingest_rows_per_s": round(total / raw_ingest_s),
        "ingest_vs_raw": round(raw_ingest_s / ingest_s, 3),
        "year_read_ms": round(median_ms(reads), 1),
        "year_read_ms_max": round(max(reads) * 1000, 1),
        "chdb_raw_year_read_ms": round(median_ms(raw_reads), 1),
        "read_vs_raw": round(median_ms(raw_reads) / median_ms(reads), 3),
        "http_ingest_rows_per_s": round(http_rows / http_ingest_s),
        "http_year_read_ms": round(median_ms(http_reads), 1),
        "data": "block-bootstrapped from shared fx/GBPUSD-M1-bid-2012-02.csv",
    }
    report(
        "marketdata",
        figures,
        [Target("ingest_rows_per_s", ">=", 1_000_000), Target("year_read_ms", "<=", 200)],
    )


def _ddl() -> str:
    from adapters.clickhouse.market_data import _SCHEMA

    return _SCHEMA[1].format(db="raw")


if __name__ == "__main__":
    main()
