"""The API's skeleton on the real stores: lifespan, health, readiness, problem documents."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from config.settings import PostgresSettings, Settings
from tests.api.conftest import bearer, serve, settings_for
from tests.conftest import RunningPlatform


@pytest.fixture
async def client(platform: RunningPlatform) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(platform))

    @app.get("/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async for c in serve(app):
        yield c


async def test_liveness_and_readiness_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "temporal": "ok", "clickhouse": "ok"},
    }


async def test_readiness_names_the_dependency_that_is_down(platform: RunningPlatform) -> None:
    app = create_app(settings_for(platform))
    async for client in serve(app):
        await app.state.resources.redis.aclose()
        app.state.resources.redis = type(app.state.resources.redis).from_url(
            "redis://127.0.0.1:1"  # nothing listens there
        )
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["postgres"] == "ok"
        assert checks["redis"].startswith("down: ")


async def test_an_unexpected_error_is_a_problem_without_a_traceback(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["detail"]) == (500, "an internal error occurred")
    assert len(body["incident"]) == 32
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not Found"


def test_the_app_connects_to_nothing_until_it_starts() -> None:
    app = create_app(Settings())  # no stores configured: building it must still work
    assert {"/healthz", "/readyz"} <= set(app.openapi()["paths"])


async def test_starting_without_the_stores_says_which_settings_are_missing() -> None:
    app = create_app(Settings(postgres=PostgresSettings(url=None)))
    with pytest.raises(RuntimeError, match="AITP_POSTGRES__URL"):
        async with app.router.lifespan_context(app):
            pass


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/v1/orders/some-order")  # 401: counted under its template, not its path
    text = (await client.get("/metrics")).text
    assert 'aitp_api_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/v1/orders/{order_id}",status="401"' in text
    assert "some-order" not in text
    assert "aitp_api_request_seconds_bucket" in text
    assert "aitp_api_ws_clients 0.0" in text
    assert "aitp_api_ws_down 0.0" in text  # what `aitp up` judges the API's fan-out by
    assert re.search(r"^aitp_api_ws_read_age_seconds \d", text, re.MULTILINE), text


async def test_a_burst_beyond_every_pool_is_served_without_a_server_error(
    client: httpx.AsyncClient, tokens: dict[tuple[str, str], str]
) -> None:
    """300 requests at once: more than the Redis and PostgreSQL pools hold; they queue."""
    headers = bearer(tokens["a", "viewer"])
    burst = asyncio.gather(*(client.get("/v1/positions", headers=headers) for _ in range(300)))
    answers = await asyncio.wait_for(burst, 60)
    assert {a.status_code for a in answers} == {200}
    scraped = (await client.get("/metrics")).text
    hits, trips = (
        float(line.split()[-1])
        for name in ("aitp_api_ratelimit_hits_total", "aitp_api_ratelimit_round_trips_total")
        for line in scraped.splitlines()
        if line.startswith(name + " ")
    )
    assert hits >= 300
    assert trips < hits / 4  # concurrent requests were counted together
