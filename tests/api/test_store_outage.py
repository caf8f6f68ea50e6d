"""A store that is away is a 503 naming it, with Retry-After, never a 500; the API serves
again by itself once the store is back. The API here runs on a Redis of its own, stalled
(SIGSTOP) and resumed under it."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.redis.connection import connect as connect_redis
from api.app import create_app
from api.problems import PROBLEM
from api.streams import Fanout
from config.settings import RedisSettings, TemporalSettings
from domain.messages import OrderAccepted, encode, events_stream
from temporal.client import connect
from tests.api.conftest import bearer, serve, settings_for
from tests.conftest import RunningPlatform
from tests.private_redis import PrivateRedis, until_async
from tests.tcp_proxy import TcpProxy
from tests.trading_stack import Stack


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


async def test_an_order_placed_while_temporal_is_away_is_refused_not_remembered(
    platform: RunningPlatform, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    """The trader learns it was not placed (503 naming Temporal), and the key is free again:
    the retry with it places the order as a first request, not as a replay."""
    app = create_app(settings_for(platform))
    headers = {**bearer(tokens["a", "trader"]), "Idempotency-Key": uuid.uuid4().hex}
    order = {"account": desk.account, "symbol": "EURUSD", "side": "buy", "volume": "0.01"}
    host, port = platform.temporal_address.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    async for client in serve(app):
        resources = app.state.resources
        reachable = resources.temporal
        # the API's Temporal, reached through a line the test cuts
        resources.temporal = await connect(f"127.0.0.1:{proxy.port}", TemporalSettings())
        await proxy.cut()
        try:
            refused = await client.post("/v1/orders", json=order, headers=headers)
        finally:
            resources.temporal = reachable
        assert refused.status_code == 503, refused.text
        assert refused.json()["dependency"] == "temporal"
        assert refused.headers["Retry-After"] == "5"
        placed = await client.post("/v1/orders", json=order, headers=headers)
        assert placed.status_code in (201, 202), placed.text
        assert "Idempotent-Replayed" not in placed.headers  # the first placing, truly


async def test_the_websocket_fanout_waits_out_a_stalled_redis_and_resumes_where_it_stopped(
    private_redis: PrivateRedis,
) -> None:
    account, tenant = f"ws-{uuid.uuid4().hex[:6]}", uuid.uuid4()

    async def accounts() -> dict[str, uuid.UUID]:
        return {account: tenant}

    fanout = Fanout(connect_redis(private_redis.url), accounts, block_ms=100)
    sub = fanout.join(tenant, lambda: None)
    fanout.subscribe(sub, ["orders"])
    writer = connect_redis(private_redis.url)
    fanout.start()

    async def frame() -> str:
        return await asyncio.wait_for(sub.queue.get(), 30)

    try:
        await until_async(lambda: events_stream(account) in fanout.following, "the fan-out")
        await writer.xadd(events_stream(account), encode(OrderAccepted(client_order_id="o-1")))
        assert '"o-1"' in await frame()
        private_redis.signal(signal.SIGSTOP)
        try:
            await until_async(lambda: fanout.outage.since is not None, "the fan-out to notice")
        finally:
            private_redis.signal(signal.SIGCONT)
        # written before the fan-out reads again: its cursor finds it all the same
        await writer.xadd(events_stream(account), encode(OrderAccepted(client_order_id="o-2")))
        assert '"o-2"' in await frame()
        assert (fanout.outage.since, fanout.outage.count) == (None, 1)
    finally:
        await fanout.stop()
        await writer.aclose()
