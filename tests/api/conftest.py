"""An in-process API on the session's real PostgreSQL, Redis and Temporal, and the people who
call it: two tenants, each with a viewer, a trader and an admin, and a platform operator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from fastapi import FastAPI

from adapters.clickhouse.executors import ClickHouseHttpExecutor
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from adapters.postgres.identity import IdentityStore
from adapters.postgres.pool import create_pool
from api.app import create_app
from api.security.passwords import hash_password
from config.settings import (
    ApiSettings,
    ClickHouseSettings,
    PostgresSettings,
    RedisSettings,
    Settings,
    TemporalSettings,
    TierLimits,
)
from domain.market_data import PriceSide, Timeframe
from domain.strategies import MaCross
from temporal.queues import TRADING
from tests.conftest import RunningPlatform
from tests.trading_stack import Stack, trading_stack

PASSWORD = "correct horse battery"
ROLES = ("viewer", "trader", "admin")
GENEROUS = TierLimits(
    per_second=10_000, burst=10_000, trading_per_second=10_000, trading_burst=10_000
)


def settings_for(platform: RunningPlatform, **api: object) -> Settings:
    """Settings for an API on the session's stores; limits generous unless a test sets them."""
    options: dict[str, object] = {
        "jwt_keys_dir": platform.settings.data_dir / "api-test-keys",
        "login_per_minute": 10_000,
        "tiers": {"free": GENEROUS, "pro": GENEROUS, "institutional": GENEROUS},
    }
    options.update(api)
    return Settings(
        data_dir=platform.settings.data_dir,
        postgres=PostgresSettings(url=platform.postgres_url),
        redis=RedisSettings(url=platform.redis_url),
        temporal=TemporalSettings(address=platform.temporal_address),
        clickhouse=ClickHouseSettings(url=platform.clickhouse_url),
        api=ApiSettings(**options),  # type: ignore[arg-type]
    )


async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@dataclass(frozen=True)
class Person:
    email: str
    role: str
    tenant: str
    user_id: uuid.UUID


@dataclass(frozen=True)
class People:
    """`people["a", "trader"]`: tenant a's trader; tenants are unique per test session."""

    members: dict[tuple[str, str], Person]
    operator: Person

    def __getitem__(self, key: tuple[str, str]) -> Person:
        return self.members[key]


@pytest.fixture(scope="session")
def keys_dir(platform: RunningPlatform) -> Path:
    return platform.settings.data_dir / "api-test-keys"


@pytest.fixture(scope="session")
async def people(platform: RunningPlatform) -> People:
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    identity = IdentityStore(pool)
    run = uuid.uuid4().hex[:6]
    password_hash = hash_password(PASSWORD)
    members: dict[tuple[str, str], Person] = {}
    try:
        for tenant in ("a", "b"):
            slug = f"{tenant}-{run}"
            await identity.ensure_tenant(slug, tier="pro")
            for role in ROLES:
                email = f"{role}@{slug}.test"
                user = await identity.create_user(slug, email, password_hash, role)
                members[tenant, role] = Person(email, role, slug, user.id)
        ops = f"ops-{run}"
        await identity.ensure_tenant(ops)
        user = await identity.create_user(ops, f"operator@{ops}.test", password_hash, "operator")
        operator = Person(user.email, "operator", ops, user.id)
    finally:
        await pool.close()
    return People(members, operator)


@pytest.fixture(scope="session")
async def app_client(platform: RunningPlatform) -> AsyncIterator[httpx.AsyncClient]:
    """One app for the tests that need no settings of their own."""
    async for client in serve(create_app(settings_for(platform))):
        yield client


async def login(client: httpx.AsyncClient, person: Person) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": person.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
async def tokens(app_client: httpx.AsyncClient, people: People) -> dict[tuple[str, str], str]:
    """An access token for every person, signed in once for the session."""
    found = {key: (await login(app_client, p))["access_token"] for key, p in people.members.items()}
    found["ops", "operator"] = (await login(app_client, people.operator))["access_token"]
    return found


@pytest.fixture(scope="module")
async def desk(platform: RunningPlatform, people: People) -> AsyncIterator[Stack]:
    """Tenant a's account, traded by a paper hot path and a worker on the API's queue; per
    module, so no stack is left running (and starved) while a synchronous suite blocks the
    loop."""
    tenant = people["a", "trader"].tenant
    slow = MaCross("EURUSD", fast=50, slow=200)  # listed and switched; never fires in a test
    async with trading_stack(platform, [slow], task_queue=TRADING, tenant=tenant) as stack:
        yield stack


def minute_bars(t0: datetime, opens: list[float], wick: float, drift: float) -> pl.DataFrame:
    """M1 bars from `t0`: each opens at its value, spans +-wick, closes drift above it."""
    return pl.DataFrame(
        {
            "ts": [t0 + timedelta(minutes=i) for i in range(len(opens))],
            "open": opens,
            "high": [o + wick for o in opens],
            "low": [o - wick for o in opens],
            "close": [o + drift for o in opens],
            "volume": [1.0] * len(opens),
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))


@pytest.fixture(scope="session")
def stored_symbol(platform: RunningPlatform) -> str:
    """A symbol of its own in the platform's market-data store: ten M1 bid bars from
    2024-01-02 00:00 UTC (open 1.1000 + 0.0001 a minute) and two ticks, the last at 00:09:30."""
    symbol = f"T{uuid.uuid4().hex[:6].upper()}"
    store = ClickHouseMarketDataStore(ClickHouseHttpExecutor(platform.clickhouse_url))
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    opens = [1.1 + i * 1e-4 for i in range(10)]
    try:
        store.ensure_schema()
        store.write_bars(symbol, Timeframe.M1, PriceSide.BID, minute_bars(t0, opens, 5e-4, 1e-4))
        store.write_ticks(
            symbol,
            pl.DataFrame(
                {
                    "ts": [t0 + timedelta(minutes=9), t0 + timedelta(minutes=9, seconds=30)],
                    "bid": [1.1009, 1.1010],
                    "ask": [1.1011, 1.1012],
                    "bid_volume": [0.0, 0.0],
                    "ask_volume": [0.0, 0.0],
                }
            ).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC"))),
        )
    finally:
        store.close()
    return symbol


BACKTEST_SYMBOL = "NZDUSD"  # nothing else in the tests stores it
BACKTEST_DAY = "2024-01-02"


@pytest.fixture(scope="session")
def backtest_symbol(platform: RunningPlatform) -> str:
    """600 M1 bid bars of a slow wave from 2024-01-02 00:00 UTC, enough for moving averages
    to cross a few times; rewriting them changes nothing, so any session may."""
    import math

    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    mids = [1.08 + 0.004 * math.sin(i / 40) for i in range(600)]
    store = ClickHouseMarketDataStore(ClickHouseHttpExecutor(platform.clickhouse_url))
    try:
        store.ensure_schema()
        store.write_bars(
            BACKTEST_SYMBOL, Timeframe.M1, PriceSide.BID, minute_bars(t0, mids, 2e-4, 1e-5)
        )
    finally:
        store.close()
    return BACKTEST_SYMBOL


def backtest_body(symbol: str, **fields: Any) -> dict[str, Any]:
    return {
        "strategy": "ma_cross",
        "symbol": symbol,
        "start": f"{BACKTEST_DAY}T00:00:00Z",
        "end": f"{BACKTEST_DAY}T12:00:00Z",
        "grid": {"fast": [3, 5]},
        "params": {"slow": 20},
        **fields,
    }


@dataclass(frozen=True)
class LiveApi:
    http: str
    ws: str


@pytest.fixture(scope="module")
async def live_api(platform: RunningPlatform, desk: Stack) -> AsyncIterator[LiveApi]:
    """The API served by uvicorn on a free port, for clients that need a real socket
    (WebSockets, load). Started after the desk so its account is known from the start."""
    import asyncio

    import uvicorn

    from embedded.process import free_port

    port = free_port()
    app = create_app(settings_for(platform, ws_heartbeat_s=0.5))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn stopped at start-up"
        await asyncio.sleep(0.02)
    yield LiveApi(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/v1/ws")
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
def api_process(platform: RunningPlatform, keys_dir: Path) -> Iterator[str]:
    """`python -m api` as its own process on the session's stores, for synchronous clients
    (schemathesis) that would otherwise block the loop an in-process server runs on."""
    import json
    import os
    import subprocess
    import sys
    import time

    from embedded.process import free_port

    port = free_port()
    generous = GENEROUS.model_dump()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AITP_")},
        "AITP_DATA_DIR": str(platform.settings.data_dir),
        "AITP_POSTGRES__URL": platform.postgres_url,
        "AITP_REDIS__URL": platform.redis_url,
        "AITP_TEMPORAL__ADDRESS": platform.temporal_address,
        "AITP_CLICKHOUSE__URL": platform.clickhouse_url,
        "AITP_API__JWT_KEYS_DIR": str(keys_dir),
        "AITP_API__LOGIN_PER_MINUTE": "100000",
        "AITP_API__ACCEPT_WAIT_S": "0",
        "AITP_API__TIERS": json.dumps({t: generous for t in ("free", "pro", "institutional")}),
    }
    log = open(platform.settings.data_dir / "api-process.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "python -m api exited at start-up; see api-process.log"
        assert time.monotonic() < deadline, "python -m api did not get ready in 30 s"
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(15)
    log.close()
