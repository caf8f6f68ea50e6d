"""The embedded servers are configured as DESIGN.md says, not just running."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from temporal.search_attributes import ALL as SEARCH_ATTRIBUTES
from tests.conftest import RunningPlatform


async def test_temporal_has_every_search_attribute_registered(platform: RunningPlatform) -> None:
    client = await Client.connect(platform.temporal_address)
    reply = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert {key.name for key in SEARCH_ATTRIBUTES} <= set(reply.custom_attributes)


async def test_postgres_has_pgvector_and_the_migrations(platform: RunningPlatform) -> None:
    conn = await asyncpg.connect(platform.postgres_url)
    try:
        assert await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname='vector'")
        applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        assert applied >= 2
        assert platform.postgres_url.startswith("postgresql://postgres@/aitp?host=/")
    finally:
        await conn.close()


async def test_redis_keeps_an_append_only_file_on_a_unix_socket(platform: RunningPlatform) -> None:
    client = aioredis.from_url(platform.redis_url)
    try:
        config = await client.config_get("appendonly")
        assert config["appendonly"] == "yes"
        assert (await client.config_get("port"))["port"] == "0"  # no TCP port to collide with
        assert str(platform.settings.data_dir) in (await client.config_get("dir"))["dir"]
    finally:
        await client.aclose()
