"""The platform's graph (exposures, decision lineage): PostgreSQL tables by default, ArangoDB
when configured."""

from __future__ import annotations

import asyncio
from typing import Any

from domain.ports import GraphStore


async def open_graph_store(
    arango_url: str | None, database: str, username: str, password: str, pool: Any
) -> GraphStore:
    """ArangoDB when a URL is set, else the tables on the platform's PostgreSQL pool."""
    if arango_url:
        from adapters.graph.arango import ArangoGraphStore

        return await asyncio.to_thread(ArangoGraphStore, arango_url, database, username, password)
    from adapters.graph.postgres import PostgresGraphStore

    return PostgresGraphStore(pool)
