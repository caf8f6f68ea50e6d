"""One contract for pattern embeddings: pgvector always, Weaviate when AITP_WEAVIATE__URL is set."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.postgres.pool import create_pool
from adapters.vectors.pgvector import PgVectorStore, VectorStoreError
from config.settings import PostgresSettings
from domain.ports import CollectionNotFoundError, Nearest, VectorItem, VectorStore
from tests.conftest import RunningPlatform
from tests.contract.stores import any_vector_store  # noqa: F401  (the `store` fixture)


@pytest.fixture
async def collection(store: VectorStore) -> AsyncIterator[str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    await store.ensure_collection(name, 3)
    yield name
    await store.delete_collection(name)


def unit(angle: float) -> list[float]:
    return [math.cos(angle), math.sin(angle), 0.0]


async def test_nearest_first_with_cosine_distance(store: VectorStore, collection: str) -> None:
    await store.upsert(
        collection,
        [VectorItem(f"w{i}", unit(i * 0.3), {"symbol": "EURUSD", "i": str(i)}) for i in range(6)],
    )
    found = await store.search(collection, Nearest(unit(0.61), 3))
    assert [m.id for m in found] == ["w2", "w3", "w1"]  # 0.01, 0.29 and 0.31 rad away
    assert found[0].distance == pytest.approx(1 - math.cos(0.01), abs=1e-5)
    assert found[0].metadata["symbol"] == "EURUSD"


async def test_upsert_replaces_by_id(store: VectorStore, collection: str) -> None:
    await store.upsert(collection, [VectorItem("a", unit(0.0), {"v": "1"})])
    await store.upsert(collection, [VectorItem("a", unit(1.5), {"v": "2"})])
    found = await store.search(collection, Nearest(unit(1.5), 5))
    assert [(m.id, m.metadata["v"]) for m in found] == [("a", "2")]


async def test_where_filters_on_metadata(store: VectorStore, collection: str) -> None:
    await store.upsert(
        collection,
        [
            VectorItem("e", unit(0.0), {"symbol": "EURUSD"}),
            VectorItem("g", unit(0.01), {"symbol": "GBPUSD"}),
        ],
    )
    found = await store.search(collection, Nearest(unit(0.01), 5, where={"symbol": "EURUSD"}))
    assert [m.id for m in found] == ["e"]


async def test_searching_a_collection_never_created_says_so(store: VectorStore) -> None:
    with pytest.raises(CollectionNotFoundError, match="never_made"):
        await store.search(f"never_made_{uuid.uuid4().hex[:6]}", Nearest([1.0, 0.0], 3))


async def test_ensure_collection_is_idempotent(store: VectorStore, collection: str) -> None:
    await store.ensure_collection(collection, 3)
    await store.upsert(collection, [VectorItem("x", unit(0.0))])
    assert len(await store.search(collection, Nearest(unit(0.0), 1))) == 1


async def test_pgvector_refuses_a_dimension_change_and_bad_names(platform: RunningPlatform) -> None:
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    store = PgVectorStore(pool)
    name = f"t{uuid.uuid4().hex[:10]}"
    try:
        await store.ensure_collection(name, 3)
        with pytest.raises(VectorStoreError, match="3-dimensional"):
            await store.ensure_collection(name, 4)
        with pytest.raises(VectorStoreError, match="collection name"):
            await store.ensure_collection("Robert'); DROP TABLE users;--", 3)
        index = await pool.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1", f"vec_{name}_hnsw"
        )
        assert "hnsw" in index
        assert "vector_cosine_ops" in index
    finally:
        await store.delete_collection(name)
        await pool.close()


def test_a_question_without_neighbours_or_vector_is_refused_before_any_store() -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        Nearest(unit(0.0), 0)
    with pytest.raises(ValueError, match="vector is empty"):
        Nearest([], 3)
