"""Backtest runs and their ranked results in PostgreSQL.

Opening a run again (a retried activity, a resumed workflow) finds it; each chunk's results
are upserted as it finishes, and closing ranks them and marks the run finished in one
transaction. The pool's codec turns
jsonb into Python objects both ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from domain.clock import moment_of


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
                list(request.get("symbols") or [request["symbol"]]),
                request["timeframe"],
                moment_of(request["start_ns"]),
                moment_of(request["end_ns"]),
                request["mode"],
                {"grid": request["grid"], "fixed": request["params"]},
                dict(request),
                request["metric"],
            )

    async def record(
        self,
        run_id: str,
        scope: str,
        evaluations: Sequence[tuple[int, Mapping[str, Any], Mapping[str, Any]]],
    ) -> None:
        """(set index, params, metrics) of sets evaluated; writing a set again replaces it."""
        await self._pool.executemany(
            """INSERT INTO backtest_results (run_id, scope, set_index, params, metrics)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (run_id, scope, set_index)
               DO UPDATE SET params = EXCLUDED.params, metrics = EXCLUDED.metrics""",
            [(run_id, scope, i, dict(p), dict(m)) for i, p, m in evaluations],
        )

    async def close_run(
        self,
        run_id: str,
        status: str,
        metric: str,
        descending: bool = True,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        """Ranks every scope's sets by `metric` (missing values last, ties by index) and
        marks the run finished, in one transaction; closing again gives the same ranks."""
        order = "DESC" if descending else "ASC"
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"""UPDATE backtest_results r SET rank = ranked.n
                    FROM (SELECT scope, set_index, row_number() OVER (
                              PARTITION BY scope
                              ORDER BY (metrics ->> $2)::float8 {order} NULLS LAST, set_index
                          ) AS n
                          FROM backtest_results WHERE run_id = $1) ranked
                    WHERE r.run_id = $1 AND r.scope = ranked.scope
                      AND r.set_index = ranked.set_index""",
                run_id,
                metric,
            )
            await conn.execute(
                """UPDATE backtest_runs SET status = $2, metrics = $3, finished_at = now()
                   WHERE run_id = $1""",
                run_id,
                status,
                dict(summary) if summary is not None else None,
            )

    async def runs(self, tenant: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """SELECT r.run_id, t.slug AS tenant, r.strategy,
                      array_to_string(r.symbols, ',') AS symbol, r.timeframe, r.date_from,
                      r.date_to, r.mode, r.metric, r.status,
                      r.metrics, r.created_at, r.finished_at
               FROM backtest_runs r LEFT JOIN tenants t ON t.id = r.tenant_id
               WHERE $1::text IS NULL OR t.slug = $1
               ORDER BY r.created_at DESC LIMIT $2""",
            tenant,
            limit,
        )
        return [dict(r) for r in rows]

    async def run(self, run_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """One run with its request, or None (also when it belongs to another tenant)."""
        row = await self._pool.fetchrow(
            """SELECT r.run_id, t.slug AS tenant, r.strategy,
                      array_to_string(r.symbols, ',') AS symbol, r.timeframe, r.date_from,
                      r.date_to, r.mode, r.metric, r.status,
                      r.metrics, r.request, r.created_at, r.finished_at
               FROM backtest_runs r LEFT JOIN tenants t ON t.id = r.tenant_id
               WHERE r.run_id = $1 AND ($2::text IS NULL OR t.slug = $2)""",
            run_id,
            tenant,
        )
        return dict(row) if row is not None else None

    async def results(
        self, run_id: str, scope: str = "all", limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A scope's sets, best first once the run is closed (by index while it runs)."""
        rows = await self._pool.fetch(
            """SELECT rank, set_index, params, metrics FROM backtest_results
               WHERE run_id = $1 AND scope = $2
               ORDER BY rank NULLS LAST, set_index LIMIT $3""",
            run_id,
            scope,
            limit,
        )
        return [dict(r) for r in rows]
