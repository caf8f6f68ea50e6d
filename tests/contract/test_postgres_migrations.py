"""Migrations on the embedded PostgreSQL, and on a server when AITP_POSTGRES__URL names one."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.postgres import migrations
from tests.conftest import RunningPlatform, backends


@pytest.fixture(params=backends("embedded", server="AITP_POSTGRES__URL"))
async def fresh_db(request: pytest.FixtureRequest, platform: RunningPlatform) -> AsyncIterator[str]:
    """A new, empty database on the chosen server; dropped afterwards."""
    base = (
        platform.postgres_url if request.param == "embedded" else os.environ["AITP_POSTGRES__URL"]
    )
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base)
    await admin.execute(f'CREATE DATABASE "{name}"')
    head, sep, tail = base.partition("?")
    url = head.rsplit("/", 1)[0] + f"/{name}" + (sep + tail)
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_migrations_apply_once_in_order(fresh_db: str) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        first = await migrations.apply(conn)
        second = await migrations.apply(conn)
        assert first == [m.version for m in migrations.bundled()]
        assert first == sorted(first)
        assert second == []
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        expected = {"tenants", "users", "accounts", "instruments", "orders", "fills", "positions"}
        assert expected | {"models", "backtest_runs", "graph_nodes", "graph_edges"} <= tables
    finally:
        await conn.close()


async def test_an_applied_migration_that_was_edited_is_refused(fresh_db: str) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        await migrations.apply(conn)
        edited = [
            migrations.Migration(m.version, m.name, m.sql + "\n-- edited")
            for m in migrations.bundled()
        ]
        with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
            await migrations.apply(conn, edited)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(fresh_db: str) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        broken = migrations.Migration(1, "broken", "CREATE TABLE a (x int); SELECT 1/0;")
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrations.apply(conn, [broken])
        assert await conn.fetchval("SELECT to_regclass('a')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 0
    finally:
        await conn.close()


async def test_fills_are_unique_per_broker_ticket(fresh_db: str) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        await migrations.apply(conn)
        tenant = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ('t', 'T') RETURNING id"
        )
        account = await conn.fetchval(
            """INSERT INTO accounts (tenant_id, name, broker, code)
               VALUES ($1, 'a', 'paper', 'a') RETURNING id""",
            tenant,
        )
        order = await conn.fetchval(
            """INSERT INTO orders (tenant_id, account_id, client_order_id, symbol, side, order_type,
                   time_in_force, volume, state)
               VALUES ($1, $2, 'c-1', 'EURUSD', 'buy', 'market', 'gtc', 1, 'new') RETURNING id""",
            tenant,
            account,
        )
        insert = """INSERT INTO fills (tenant_id, account_id, order_id, client_order_id,
                        broker_fill_id, symbol, side, volume, price, ts_event, ts_ns)
                    VALUES ($1, $2, $3, 'c-1', 'deal-7', 'EURUSD', 'buy', 1, 1.1, now(), 0)
                    ON CONFLICT (account_id, broker_fill_id) DO NOTHING"""
        await conn.execute(insert, tenant, account, order)
        await conn.execute(insert, tenant, account, order)
        assert await conn.fetchval("SELECT count(*) FROM fills") == 1
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                """INSERT INTO orders (tenant_id, account_id, client_order_id, symbol, side,
                       order_type, time_in_force, volume, state)
                   VALUES ($1, $2, $3, 'EURUSD', 'buy', 'market', 'gtc', 1, 'new')""",
                tenant,
                account,
                "two words",  # the id travels in MT5's comment: printable ASCII, no spaces
            )
    finally:
        await conn.close()
