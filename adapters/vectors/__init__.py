"""Pattern embeddings: pgvector inside PostgreSQL by default, Weaviate when configured."""

from __future__ import annotations

from typing import Any

from domain.ports import VectorStore


async def open_vector_store(
    weaviate_url: str | None, weaviate_key: str | None, pool: Any
) -> tuple[VectorStore, str]:
    """The store and its name for explanations: Weaviate when a URL is set, else pgvector on
    the platform's PostgreSQL pool."""
    if weaviate_url:
        from adapters.vectors.weaviate import WeaviateVectorStore

        return await WeaviateVectorStore.connect(weaviate_url, weaviate_key), "weaviate"
    from adapters.vectors.pgvector import PgVectorStore

    return PgVectorStore(pool), "pgvector"
