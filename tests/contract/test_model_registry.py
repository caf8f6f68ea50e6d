"""The model registry on every PostgreSQL available (embedded, and the server named by
AITP_POSTGRES__URL): versions, one champion, promotion and rollback, and the notification
running decision workers reload on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from adapters.postgres.models import CHAMPION_CHANNEL, PostgresModelRegistry
from domain.ports import ModelVersion, RegistryError
from tests.conftest import RunningPlatform, backends
from tests.contract.stores import postgres_url, scratch_database

T0 = 1_700_000_000 * 10**9


def trained(by: str = "", **fields: object) -> ModelVersion:
    model = ModelVersion(
        name="GBPUSD-M1",
        version=0,
        symbol="GBPUSD",
        timeframe="M1",
        kinds=("xgboost", "lightgbm"),
        features_hash="0123456789abcdef",
        label="triple_barrier h=30 tp=2 sl=1",
        data_from_ns=T0,
        data_to_ns=T0 + 86_400 * 10**9,
        artifact="/models/GBPUSD-M1/x",
        metrics={"log_loss": 0.65, "auc": 0.52},
        trained_by=by,
    )
    return replace(model, **fields)  # type: ignore[arg-type]


@pytest.fixture(params=backends("embedded", server="AITP_POSTGRES__URL"))
async def pool(
    request: pytest.FixtureRequest, platform: RunningPlatform
) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_database(postgres_url(request.param, platform), "models") as pool:
        yield pool


async def test_versions_count_up_per_model_and_a_retry_finds_its_own(
    pool: asyncpg.Pool,
) -> None:
    registry = PostgresModelRegistry(pool)
    first = await registry.register(trained("wf-1"))
    again = await registry.register(trained("wf-1"))  # the activity retried
    second = await registry.register(trained("wf-2"))
    other = await registry.register(trained("wf-1", name="USDJPY-M1", symbol="USDJPY"))
    assert (first.version, again.version, second.version, other.version) == (1, 1, 2, 1)
    assert first.status == "candidate"
    assert first.kinds == ("xgboost", "lightgbm")
    assert first.metrics == {"log_loss": 0.65, "auc": 0.52}
    assert (first.data_from_ns, first.data_to_ns) == (T0, T0 + 86_400 * 10**9)
    assert [v.tag for v in await registry.versions("GBPUSD-M1")] == [
        "GBPUSD-M1 v2",
        "GBPUSD-M1 v1",
    ]
    assert len(await registry.versions()) == 3
    assert await registry.get("GBPUSD-M1", 9) is None


async def test_concurrent_registrations_take_distinct_versions(pool: asyncpg.Pool) -> None:
    registry = PostgresModelRegistry(pool)
    done = await asyncio.gather(*(registry.register(trained(f"wf-{i}")) for i in range(8)))
    assert sorted(v.version for v in done) == list(range(1, 9))


async def test_promotion_crowns_one_champion_and_rollback_walks_back(
    pool: asyncpg.Pool,
) -> None:
    registry = PostgresModelRegistry(pool)
    for i in range(3):
        await registry.register(trained(f"wf-{i}"))
    assert await registry.promote("GBPUSD-M1", 1, "first") is None
    replaced = await registry.promote("GBPUSD-M1", 2)
    assert replaced is not None
    assert replaced.version == 1
    await registry.promote("GBPUSD-M1", 3)
    statuses = {v.version: v.status for v in await registry.versions("GBPUSD-M1")}
    assert statuses == {1: "retired", 2: "retired", 3: "champion"}
    assert (await registry.rollback("GBPUSD-M1", "v3 misbehaves")).version == 2
    assert (await registry.rollback("GBPUSD-M1")).version == 1
    champion = await registry.champion("GBPUSD-M1")
    assert champion is not None
    assert champion.version == 1
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        await registry.rollback("GBPUSD-M1")
    with pytest.raises(RegistryError, match="champion already"):
        await registry.promote("GBPUSD-M1", 1)
    with pytest.raises(RegistryError, match="no version 7"):
        await registry.promote("GBPUSD-M1", 7)
    with pytest.raises(RegistryError, match="no champion"):
        await registry.rollback("USDJPY-M1")
    actions = await pool.fetch("SELECT action, version, previous FROM model_promotions ORDER BY id")
    assert [tuple(r) for r in actions] == [
        ("promote", 1, None),
        ("promote", 2, 1),
        ("promote", 3, 2),
        ("rollback", 2, 3),
        ("rollback", 1, 2),
    ]


async def test_a_change_of_champion_is_announced(pool: asyncpg.Pool) -> None:
    registry = PostgresModelRegistry(pool)
    await registry.register(trained("wf-1"))
    heard: asyncio.Queue[str] = asyncio.Queue()

    def on_notify(*args: object) -> None:
        heard.put_nowait(str(args[3]))

    async with pool.acquire() as listener:
        await listener.add_listener(CHAMPION_CHANNEL, on_notify)
        await registry.promote("GBPUSD-M1", 1)
        assert await asyncio.wait_for(heard.get(), 5) == "GBPUSD-M1"
        await listener.remove_listener(CHAMPION_CHANNEL, on_notify)
