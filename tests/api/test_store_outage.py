"""A store that is away is a 503 naming it, with Retry-After, never a 500; the API serves
again by itself once the store is back. The API here runs on a Redis of its own, stalled
(SIGSTOP) and resumed under it."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.problems import PROBLEM
from config.settings import RedisSettings
from tests.api.conftest import bearer, serve, settings_for
from tests.conftest import RunningPlatform
from tests.private_redis import PrivateRedis


@pytest.fixture
async def client(
    platform: RunningPlatform,
    private_redis: PrivateRedis,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(platform).model_copy(
        update={"redis": RedisSettings(url=private_redis.url)}
    )
    async for opened in serve(create_app(settings)):
        yield opened


async def test_a_stalled_redis_is_a_503_naming_it_and_the_api_recovers(
    client: httpx.AsyncClient,
    private_redis: PrivateRedis,
    tokens: dict[tuple[str, str], str],
) -> None:
    viewer = bearer(tokens["a", "viewer"])
    assert (await client.get("/v1/accounts", headers=viewer)).status_code == 200
    private_redis.signal(signal.SIGSTOP)
    try:
        away = await client.get("/v1/accounts", headers=viewer)
    finally:
        private_redis.signal(signal.SIGCONT)
    assert away.status_code == 503, away.text
    assert away.headers["content-type"] == PROBLEM
    assert away.headers["Retry-After"] == "5"
    assert away.json()["dependency"] == "redis"
    assert "incident" not in away.json()  # not an internal error
    assert (await client.get("/v1/accounts", headers=viewer)).status_code == 200
