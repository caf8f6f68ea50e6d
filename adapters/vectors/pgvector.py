"""Vector collections as PostgreSQL tables with an HNSW index (pgvector, cosine distance).

One table per collection, because an HNSW index needs a fixed dimension. Vectors travel as
pgvector's text form (`[1,2,3]`), so no extra client library is needed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import asyncpg

from domain.ports import CollectionNotFoundError, Nearest, VectorItem, VectorMatch

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class VectorStoreError(ValueError):
    pass


def _table(name: str) -> str:
    if not _NAME.match(name):
        raise VectorStoreError(
            f"collection name {name!r}: use lower-case letters, digits and _ (max 41)"
        )
    return f"vec_{name}"


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


class PgVectorStore:
    """Needs a pool from `adapters.postgres.pool.create_pool` (jsonb as Python values)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ensure_collection(self, name: str, dimensions: int) -> None:
        table = _table(name)
        if not 1 <= dimensions <= 2000:
            raise VectorStoreError(
                f"dimensions must be 1..2000 for an HNSW index, not {dimensions}"
            )
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", table)
            existing = await conn.fetchval(
                """SELECT atttypmod FROM pg_attribute
                   WHERE attrelid = to_regclass($1) AND attname = 'embedding'""",
                table,
            )
            if existing is not None:
                if existing != dimensions:
                    raise VectorStoreError(
                        f"collection {name!r} holds {existing}-dimensional vectors, "
                        f"not {dimensions}"
                    )
                return
            await conn.execute(
                f"""CREATE TABLE {table} (
                        id        text PRIMARY KEY,
                        embedding vector({dimensions}) NOT NULL,
                        metadata  jsonb NOT NULL DEFAULT '{{}}'
                    )"""
            )
            await conn.execute(
                f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"
            )
            await conn.execute(f"CREATE INDEX {table}_meta ON {table} USING gin (metadata)")

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> None:
        table = _table(collection)
        rows = [(i.id, _literal(i.vector), dict(i.metadata)) for i in items]
        async with self._pool.acquire() as conn:
            await conn.executemany(
                f"""INSERT INTO {table} (id, embedding, metadata)
                    VALUES ($1, $2::vector, $3::jsonb)
                    ON CONFLICT (id) DO UPDATE
                    SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata""",
                rows,
            )

    async def search(self, collection: str, query: Nearest) -> list[VectorMatch]:
        table = _table(collection)
        async with self._pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass($1)", table) is None:
                raise CollectionNotFoundError(f"no vector collection {collection!r}")
            rows = await conn.fetch(
                f"""SELECT id, embedding <=> $1::vector AS distance, metadata
                    FROM {table}
                    WHERE metadata @> $2::jsonb
                    ORDER BY embedding <=> $1::vector
                    LIMIT $3""",
                _literal(query.vector),
                dict(query.where),
                query.k,
            )
        return [VectorMatch(r["id"], float(r["distance"]), r["metadata"]) for r in rows]

    async def delete_collection(self, name: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {_table(name)}")
