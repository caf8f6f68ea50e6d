"""Vector collections in Weaviate (production), with the same contract as pgvector.

Weaviate wants UUID object ids and capitalised collection names; our ids are kept in the
`item_id` property and mapped to a stable UUIDv5, and collection `patterns_h1` becomes
`Patterns_h1`. Metadata becomes properties; `where` is an equality filter on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import weaviate
from weaviate.classes.config import Configure, DataType, Property, VectorDistances
from weaviate.classes.query import Filter, MetadataQuery

from adapters.vectors.pgvector import _table
from domain.ports import CollectionNotFoundError, Nearest, VectorItem, VectorMatch

_ID_NAMESPACE = uuid.UUID("5b0c1f1e-7f39-4d1b-9a3c-2f4b7f0e9d21")


def _collection(name: str) -> str:
    _table(name)  # the same naming rules as pgvector
    return name[0].upper() + name[1:]


class WeaviateVectorStore:
    def __init__(self, client: weaviate.WeaviateAsyncClient) -> None:
        self._client = client

    @classmethod
    async def connect(
        cls, url: str, api_key: str | None = None, grpc_port: int = 50051
    ) -> WeaviateVectorStore:
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        client = weaviate.use_async_with_custom(
            http_host=parts.hostname or "localhost",
            http_port=parts.port or (443 if secure else 8080),
            http_secure=secure,
            grpc_host=parts.hostname or "localhost",
            grpc_port=grpc_port,
            grpc_secure=secure,
            auth_credentials=api_key,
        )
        await client.connect()
        return cls(client)

    async def ensure_collection(self, name: str, dimensions: int) -> None:
        coll = _collection(name)
        if await self._client.collections.exists(coll):
            return
        await self._client.collections.create(
            coll,
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE
                )
            ),
            properties=[Property(name="item_id", data_type=DataType.TEXT)],
        )

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> None:
        coll = self._client.collections.get(_collection(collection))
        for item in items:
            props: dict[str, Any] = {**dict(item.metadata), "item_id": item.id}
            oid = uuid.uuid5(_ID_NAMESPACE, item.id)
            if await coll.data.exists(oid):
                await coll.data.replace(uuid=oid, properties=props, vector=list(item.vector))
            else:
                await coll.data.insert(uuid=oid, properties=props, vector=list(item.vector))

    async def search(self, collection: str, query: Nearest) -> list[VectorMatch]:
        if not await self._client.collections.exists(_collection(collection)):
            raise CollectionNotFoundError(f"no vector collection {collection!r}")
        coll = self._client.collections.get(_collection(collection))
        filters = None
        for key, value in query.where.items():
            clause = Filter.by_property(key).equal(value)
            filters = clause if filters is None else filters & clause
        result = await coll.query.near_vector(
            near_vector=list(query.vector),
            limit=query.k,
            filters=filters,
            return_metadata=MetadataQuery(distance=True),
        )
        matches = []
        for obj in result.objects:
            props = dict(obj.properties)
            item_id = str(props.pop("item_id"))
            matches.append(VectorMatch(item_id, float(obj.metadata.distance or 0.0), props))
        return matches

    async def delete_collection(self, name: str) -> None:
        await self._client.collections.delete(_collection(name))

    async def close(self) -> None:
        await self._client.close()
