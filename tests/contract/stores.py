"""Scratch stores for contract tests: a migrated PostgreSQL database of its own, and the
ClickHouse executor a backend parameter names."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from adapters.clickhouse.executors import ChdbExecutor, ClickHouseHttpExecutor, SqlExecutor
from adapters.postgres import migrations
from adapters.postgres.pool import create_pool
from adapters.vectors.pgvector import PgVectorStore
from config.settings import PostgresSettings
from domain.ports import VectorStore
from tests.conftest import RunningPlatform, backends


@asynccontextmanager
async def scratch_database(base_url: str, prefix: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database beside `base_url`'s, migrated, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(base_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    head, sep, tail = base_url.partition("?")
    pool = await create_pool(
        head.rsplit("/", 1)[0] + f"/{name}" + sep + tail, PostgresSettings(), "tests"
    )
    try:
        async with pool.acquire() as conn:
            await migrations.apply(conn)
        yield pool
    finally:
        await pool.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def postgres_url(backend: str, platform: RunningPlatform) -> str:
    return platform.postgres_url if backend == "embedded" else os.environ["AITP_POSTGRES__URL"]


def clickhouse_executor(backend: str, tmp_path: Path, platform: RunningPlatform) -> SqlExecutor:
    if backend == "chdb":
        return ChdbExecutor(tmp_path / "chdb")
    if backend == "chdb_http":
        return ClickHouseHttpExecutor(platform.clickhouse_url)
    return ClickHouseHttpExecutor(os.environ["AITP_CLICKHOUSE__URL"])


@asynccontextmanager
async def vector_store(backend: str, platform: RunningPlatform) -> AsyncIterator[VectorStore]:
    """pgvector on the platform's PostgreSQL, or the Weaviate AITP_WEAVIATE__URL names."""
    if backend == "pgvector":
        pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
        try:
            yield PgVectorStore(pool)
        finally:
            await pool.close()
        return
    from adapters.vectors.weaviate import WeaviateVectorStore

    weaviate = await WeaviateVectorStore.connect(os.environ["AITP_WEAVIATE__URL"])
    try:
        yield weaviate
    finally:
        await weaviate.close()


@pytest.fixture(name="store", params=backends("pgvector", weaviate="AITP_WEAVIATE__URL"))
async def any_vector_store(
    request: pytest.FixtureRequest, platform: RunningPlatform
) -> AsyncIterator[VectorStore]:
    """`store`: the vector store on each backend there is (import it into a test module)."""
    async with vector_store(request.param, platform) as opened:
        yield opened
