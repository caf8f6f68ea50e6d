"""The books path per fill: recording a deal in PostgreSQL with its position moved in the same
transaction, as the order and account-books workflows' `record_fill` activity does.

The account already holds `--history` deals of the symbol (a busy day of a strategy), then
`--fills` more are recorded one at a time, alternating buys and sells so positions open,
grow, reduce and flip. Measured through the platform's adapter on the embedded PostgreSQL:
- incremental (what runs): insert the deal, lock the position row, move it by this deal;
- rebuild (the peer, in the same run): insert the deal, then recompute the position from
  every deal of the symbol, as the books did before, and as a repair still does.

    python -m bench.books [--history 5000] [--fills 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from bench._platform import addresses, platform_settings
from bench._report import Target, report
from config.settings import PostgresSettings
from domain.messages import FillReported
from domain.orders import Side
from embedded import supervisor

T0 = 1_700_000_000 * 10**9


def deal(n: int) -> FillReported:
    side = Side.BUY if (n // 3) % 2 == 0 else Side.SELL  # three buys, three sells, ...
    return FillReported(
        fill_id=f"D{n}",
        client_order_id=f"o-{n}",
        symbol="EURUSD",
        side=side,
        volume=Decimal("0.10") * (1 + n % 4),
        price=Decimal("1.08000") + Decimal(n % 97) / 100_000,
        ts=T0 + n * 1_000_000,
        commission=Decimal("0.35"),
        profit=Decimal(n % 11 - 5),
    )


async def _timed(
    book: PostgresOrderBook, account: str, start: int, count: int, rebuild: bool
) -> list[float]:
    samples = []
    for n in range(start, start + count):
        began = time.perf_counter()
        await book.record_fill(account, deal(n))
        if rebuild:
            await book.rebuild_positions(account, ["EURUSD"])
        samples.append(time.perf_counter() - began)
    return samples


async def run(history: int, fills: int, data_dir: Path) -> dict[str, float | int | str]:
    settings = platform_settings(data_dir)
    await supervisor.start(settings)
    pool = await create_pool(addresses(data_dir)["postgres"], PostgresSettings(), "bench")
    try:
        book = PostgresOrderBook(pool)
        figures: dict[str, float | int | str] = {"history_deals": history, "measured_deals": fills}
        for name, rebuild in (("incremental", False), ("rebuild", True)):
            account = f"bk-{uuid.uuid4().hex[:6]}"
            await book.ensure_account(account, deposit=Decimal(100_000))
            await _timed(book, account, 0, history, rebuild=False)  # the day so far
            samples = await _timed(book, account, history, fills, rebuild)
            ms = sorted(s * 1000 for s in samples)
            figures[f"{name}_p50_ms"] = round(statistics.median(ms), 3)
            figures[f"{name}_p99_ms"] = round(ms[int(len(ms) * 0.99) - 1], 3)
            figures[f"{name}_fills_per_s"] = round(len(ms) / (sum(ms) / 1000), 1)
        figures["rebuild_over_incremental_p50"] = round(
            float(figures["rebuild_p50_ms"]) / float(figures["incremental_p50_ms"]), 2
        )
    finally:
        await pool.close()
        supervisor.stop(settings)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=5_000)
    parser.add_argument("--fills", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aitp-bench-books-") as tmp:
        figures = asyncio.run(run(args.history, args.fills, Path(tmp)))
    report("books", figures, [Target("incremental_p99_ms", "<=", 5.0)])


if __name__ == "__main__":
    main()
