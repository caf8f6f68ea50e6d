"""The asyncpg pool every process opens once at start-up and shares.

jsonb columns come back as Python objects (orjson) rather than strings, and every
connection names its process in `application_name`, so `pg_stat_activity` tells ops who
holds which connection.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from config.settings import PostgresSettings


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        format="text",
    )


async def create_pool(url: str, settings: PostgresSettings, application: str) -> asyncpg.Pool:
    pool: Any = await asyncpg.create_pool(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        init=_init,
        server_settings={"application_name": f"aitp-{application}"},
    )
    assert isinstance(pool, asyncpg.Pool)
    return pool
