"""Tier rate limits on the real Redis: headers on every answer, a 429 problem with
Retry-After when the bucket is empty, and service again once it refills."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from api.app import create_app
from api.ratelimit import Bucket, RateLimiter
from config.settings import TierLimits
from tests.api.conftest import PASSWORD, People, bearer, login, settings_for
from tests.conftest import RunningPlatform

STRICT = TierLimits(per_second=4, burst=3, trading_per_second=1, trading_burst=1)


async def test_a_tier_limit_answers_429_with_headers_and_recovers(
    platform: RunningPlatform, people: People
) -> None:
    app = create_app(settings_for(platform, tiers={"free": STRICT, "pro": STRICT}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            # a person of their own: buckets are per user and live in the shared Redis
            token = (await login(client, people["b", "admin"]))["access_token"]
            headers = bearer(token)
            remaining = []
            for _ in range(3):
                ok = await client.get("/v1/me", headers=headers)
                assert ok.status_code == 200
                assert ok.headers["RateLimit-Limit"] == "3"
                assert ok.headers["RateLimit-Policy"] == '"api";q=3;w=1'
                remaining.append(int(ok.headers["RateLimit-Remaining"]))
            assert remaining == [2, 1, 0]

            limited = await client.get("/v1/me", headers=headers)
            assert limited.status_code == 429
            assert limited.headers["content-type"] == "application/problem+json"
            assert limited.headers["Retry-After"] == "1"
            assert limited.headers["RateLimit-Remaining"] == "0"
            assert "pro tier's api bucket" in limited.json()["detail"]

            await asyncio.sleep(0.3)  # one request's worth refills in 0.25 s
            assert (await client.get("/v1/me", headers=headers)).status_code == 200


async def test_sign_in_attempts_are_limited_per_client_address(
    platform: RunningPlatform, people: People
) -> None:
    app = create_app(settings_for(platform, login_per_minute=2))
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            body = {"email": people["a", "viewer"].email, "password": "not the password"}
            codes = [(await client.post("/auth/login", json=body)).status_code for _ in range(3)]
            assert codes == [401, 401, 429]
            # even the right password waits: guessing is slowed before any hash is checked
            right = await client.post("/auth/login", json={**body, "password": PASSWORD})
            assert right.status_code == 429
            assert int(right.headers["Retry-After"]) > 20


@pytest.mark.parametrize("burst", [1, 5])
async def test_gcra_admits_the_burst_then_the_rate(platform: RunningPlatform, burst: int) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(platform.redis_url)
    limiter = RateLimiter(redis, prefix=f"rl-test-{uuid.uuid4().hex}")
    bucket = Bucket("api", per_second=20, burst=burst)
    try:
        verdicts = [await limiter.hit(bucket, "someone") for _ in range(burst + 1)]
        assert [v.allowed for v in verdicts] == [True] * burst + [False]
        assert [v.remaining for v in verdicts[:burst]] == list(range(burst - 1, -1, -1))
        assert 0 < verdicts[-1].retry_after_s <= 0.05
        await asyncio.sleep(verdicts[-1].retry_after_s + 0.01)
        assert (await limiter.hit(bucket, "someone")).allowed
        # another subject has a bucket of its own
        assert (await limiter.hit(bucket, "someone else")).remaining == burst - 1
    finally:
        await redis.aclose()


async def test_concurrent_requests_share_round_trips_and_are_judged_one_by_one(
    platform: RunningPlatform,
) -> None:
    """Forty requests at once against a burst of ten: exactly ten pass, each told a different
    remainder, a revoked token among them is refused alone, and Redis saw fewer calls than
    requests."""
    from redis.asyncio import Redis

    redis = Redis.from_url(platform.redis_url)
    limiter = RateLimiter(redis, prefix=f"rl-test-{uuid.uuid4().hex}")
    bucket = Bucket("api", per_second=0.001, burst=10)
    await limiter.revoke_token("stolen", ttl_s=60)
    try:
        verdicts, revoked = await asyncio.gather(
            asyncio.gather(*(limiter.hit(bucket, "crowd") for _ in range(40))),
            limiter.hit(bucket, "thief", token_id="stolen"),
        )
        assert sum(v.allowed for v in verdicts) == 10
        assert sorted(v.remaining for v in verdicts if v.allowed) == list(range(10))
        assert all(v.retry_after_s > 0 for v in verdicts if not v.allowed)
        assert revoked.revoked
        assert not revoked.allowed
        assert limiter.hits == 41
        assert limiter.round_trips < limiter.hits
    finally:
        await redis.aclose()


async def test_when_redis_is_unreachable_every_waiting_request_fails() -> None:
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    redis = Redis.from_url("redis://127.0.0.1:1")  # nothing listens on port 1
    limiter = RateLimiter(redis)
    bucket = Bucket("api", per_second=10, burst=10)
    try:
        outcomes = await asyncio.gather(
            *(limiter.hit(bucket, "someone") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, RedisConnectionError) for o in outcomes), outcomes
    finally:
        await redis.aclose()
