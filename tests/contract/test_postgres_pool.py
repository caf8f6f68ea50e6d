"""The shared pool: sized from settings, named in pg_stat_activity, jsonb as Python values."""

from __future__ import annotations

from adapters.postgres.pool import create_pool
from config.settings import PostgresSettings
from tests.conftest import RunningPlatform


async def test_pool_follows_settings_and_decodes_jsonb(platform: RunningPlatform) -> None:
    pool = await create_pool(
        platform.postgres_url, PostgresSettings(pool_min_size=2, pool_max_size=3), "tests"
    )
    try:
        assert pool.get_min_size() == 2
        assert pool.get_max_size() == 3
        value = await pool.fetchval("SELECT $1::jsonb", {"side": "buy", "volume": 1.5})
        assert value == {"side": "buy", "volume": 1.5}
        name = await pool.fetchval("SELECT current_setting('application_name')")
        assert name == "aitp-tests"
    finally:
        await pool.close()
