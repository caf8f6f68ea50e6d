"""Backtest runs and their ranked results in PostgreSQL.

Opening a run again (a retried activity, a resumed workflow) finds it; closing it replaces
its results in one transaction, so a run is never seen half-written. The pool's codec turns
jsonb into Python objects both ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


class PostgresBacktestRuns:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open_run(self, request: Mapping[str, Any]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            tenant_id = await conn.fetchval(
                """INSERT INTO tenants (slug, name) VALUES ($1, $1)
                   ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id""",
                request["tenant"],
            )
            await conn.execute(
                """INSERT INTO backtest_runs (run_id, tenant_id, strategy, symbols, timeframe,
                       date_from, date_to, mode, params, request, metric, status)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'running')
                   ON CONFLICT (run_id) DO NOTHING""",
                request["run_id"],
                tenant_id,
                request["strategy"],
                [request["symbol"]],
                request["timeframe"],
                _at(request["start_ns"]),
                _at(request["end_ns"]),
                request["mode"],
                {"grid": request["grid"], "fixed": request["params"]},
                dict(request),
                request["metric"],
            )

    async def close_run(
        self,
        run_id: str,
        status: str,
        results: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    ) -> None:
        """`results`: (params, metrics) best first."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM backtest_results WHERE run_id = $1", run_id)
            await conn.executemany(
                """INSERT INTO backtest_results (run_id, rank, params, metrics)
                   VALUES ($1, $2, $3, $4)""",
                [(run_id, rank, dict(p), dict(m)) for rank, (p, m) in enumerate(results, 1)],
            )
            best = dict(results[0][1]) if results else None
            await conn.execute(
                """UPDATE backtest_runs SET status = $2, metrics = $3, finished_at = now()
                   WHERE run_id = $1""",
                run_id,
                status,
                best,
            )

    async def runs(self, tenant: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """SELECT r.run_id, t.slug AS tenant, r.strategy, r.symbols[1] AS symbol,
                      r.timeframe, r.date_from, r.date_to, r.mode, r.metric, r.status,
                      r.metrics, r.created_at, r.finished_at
               FROM backtest_runs r LEFT JOIN tenants t ON t.id = r.tenant_id
               WHERE $1::text IS NULL OR t.slug = $1
               ORDER BY r.created_at DESC LIMIT $2""",
            tenant,
            limit,
        )
        return [dict(r) for r in rows]

    async def results(self, run_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """SELECT rank, params, metrics FROM backtest_results WHERE run_id = $1
               ORDER BY rank LIMIT $2""",
            run_id,
            limit,
        )
        return [dict(r) for r in rows]
