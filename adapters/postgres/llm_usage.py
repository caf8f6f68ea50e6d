"""LLM usage per tenant in PostgreSQL: each call adds to its tenant's row of the day."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from domain.ports import LlmCall


class PostgresLlmUsage:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, call: LlmCall) -> None:
        await self._pool.execute(
            """INSERT INTO llm_usage AS u (tenant, provider, model, day, requests, failures,
                   prompt_tokens, completion_tokens, cost_usd)
               VALUES ($1, $2, $3, current_date, 1, $4, $5, $6, $7)
               ON CONFLICT (tenant, provider, model, day) DO UPDATE SET
                   requests = u.requests + 1,
                   failures = u.failures + EXCLUDED.failures,
                   prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
                   completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
                   cost_usd = u.cost_usd + EXCLUDED.cost_usd""",
            call.tenant,
            call.provider,
            call.model,
            0 if call.ok else 1,
            call.prompt_tokens,
            call.completion_tokens,
            call.cost_usd,
        )

    async def usage(self, tenant: str, since: date | None = None) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """SELECT provider, model, day, requests, failures, prompt_tokens,
                      completion_tokens, cost_usd
               FROM llm_usage WHERE tenant = $1 AND ($2::date IS NULL OR day >= $2)
               ORDER BY day, provider, model""",
            tenant,
            since,
        )
        return [dict(r) for r in rows]
