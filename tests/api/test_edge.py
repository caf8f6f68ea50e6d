"""The edge answers GET /v1/positions exactly as FastAPI does when the edge is off: the same
statuses, problem documents, authentication challenges, rate-limit headers and documents,
for every kind of caller, on the same stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from adapters.postgres.identity import IdentityStore
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from api.app import create_app
from api.edge import Edge
from api.security.passwords import hash_password
from config.settings import PostgresSettings, TierLimits
from domain.messages import FillReported
from domain.orders import Order, Side
from tests.api.conftest import PASSWORD, People, bearer, login, settings_for
from tests.conftest import RunningPlatform

WAYS = ("edge", "fastapi")
COMPARED = ("content-type", "WWW-Authenticate", "RateLimit-Limit", "RateLimit-Policy")


@pytest.fixture(scope="module")
async def desk_account(platform: RunningPlatform, people: People) -> str:
    """An account of tenant a holding one position."""
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    try:
        book = PostgresOrderBook(pool)
        account = f"edge-{uuid.uuid4().hex[:8]}"
        await book.ensure_account(account, people["a", "trader"].tenant)
        order = Order(f"edge-{uuid.uuid4().hex[:8]}", "GBPUSD", Side.SELL, Decimal("0.3"))
        await book.record_order(account, order)
        fill = FillReported(
            fill_id="edge-f1",
            client_order_id=order.client_order_id,
            symbol="GBPUSD",
            side=Side.SELL,
            volume=order.volume,
            price=Decimal("1.27"),
            ts=1,
        )
        await book.record_fill(account, fill)
    finally:
        await pool.close()
    return account


async def _clients(
    platform: RunningPlatform, root_path: str = "", **api: object
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    apps = {way: create_app(settings_for(platform, edge=way == "edge", **api)) for way in WAYS}
    assert [any(m.cls is Edge for m in apps[way].user_middleware) for way in WAYS] == [True, False]
    async with (
        apps["edge"].router.lifespan_context(apps["edge"]),
        apps["fastapi"].router.lifespan_context(apps["fastapi"]),
    ):
        clients = {
            way: httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, root_path=root_path),
                base_url=f"http://api{root_path}",
            )
            for way, app in apps.items()
        }
        yield clients
        for client in clients.values():
            await client.aclose()


@pytest.fixture(scope="module")
async def ways(platform: RunningPlatform) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async for clients in _clients(platform):
        yield clients


async def _both(
    clients: dict[str, httpx.AsyncClient], path: str, headers: dict[str, str], method: str = "GET"
) -> httpx.Response:
    """The edge's answer, after checking FastAPI's is the same."""
    edge, plain = [await clients[way].request(method, path, headers=headers) for way in WAYS]
    assert edge.status_code == plain.status_code, (edge.text, plain.text)
    assert edge.json() == plain.json()
    for name in COMPARED:
        assert edge.headers.get(name) == plain.headers.get(name), name
    assert ("RateLimit-Remaining" in edge.headers) == ("RateLimit-Remaining" in plain.headers)
    return edge


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "credentials required"),
        ("Basic dXNlcjpwYXNz", "credentials required"),
        ("Bearer ", "credentials required"),
        ("bearer not.a.token", "malformed token"),
        ("Bearer aitp_nope_0000000000", "unknown or revoked API key"),
    ],
)
async def test_a_missing_or_bad_credential_is_the_same_401(
    ways: dict[str, httpx.AsyncClient], authorization: str | None, detail: str
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = await _both(ways, "/v1/positions", headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_every_caller_reads_the_same_document(
    ways: dict[str, httpx.AsyncClient],
    tokens: dict[tuple[str, str], str],
    desk_account: str,
) -> None:
    viewer, stranger = bearer(tokens["a", "viewer"]), bearer(tokens["b", "admin"])
    mine = await _both(ways, f"/v1/positions?account={desk_account}", viewer)
    assert [(p["symbol"], p["side"], Decimal(p["volume"])) for p in mine.json()] == [
        ("GBPUSD", "sell", Decimal("0.3"))
    ]
    assert mine.headers["RateLimit-Policy"].startswith('"api"')
    everything = await _both(ways, "/v1/positions", viewer)
    assert mine.json()[0] in everything.json()
    # another tenant's account is as empty as none; the operator holds no book
    assert (await _both(ways, f"/v1/positions?account={desk_account}", stranger)).json() == []
    assert (await _both(ways, "/v1/positions", bearer(tokens["ops", "operator"]))).json() == []
    # a repeated parameter: the last one counts, as FastAPI reads it
    both = await _both(ways, f"/v1/positions?account=nothing&account={desk_account}", viewer)
    assert both.json() == mine.json()


async def test_an_api_key_and_a_revoked_token_are_judged_alike(
    ways: dict[str, httpx.AsyncClient],
    people: People,
    tokens: dict[tuple[str, str], str],
    desk_account: str,
) -> None:
    admin = bearer(tokens["a", "admin"])
    created = await ways["fastapi"].post(
        "/v1/api-keys", json={"name": "edge parity", "scopes": ["read"]}, headers=admin
    )
    program = bearer(created.json()["key"])
    answer = await _both(ways, f"/v1/positions?account={desk_account}", program)
    assert len(answer.json()) == 1

    pair = await login(ways["fastapi"], people["a", "viewer"])
    signed_in = bearer(pair["access_token"])
    assert (await _both(ways, "/v1/positions", signed_in)).status_code == 200
    out = await ways["fastapi"].post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=signed_in
    )
    assert out.status_code == 204
    revoked = await _both(ways, "/v1/positions", signed_in)
    assert (revoked.status_code, revoked.json()["detail"]) == (401, "token revoked")


async def test_routing_around_the_read_is_fastapis(
    ways: dict[str, httpx.AsyncClient], tokens: dict[tuple[str, str], str]
) -> None:
    viewer = bearer(tokens["a", "viewer"])
    assert (await _both(ways, "/v1/positions", viewer, method="POST")).status_code == 405
    slash = await ways["edge"].get("/v1/positions/", headers=viewer)
    assert (
        slash.status_code
        == (await ways["fastapi"].get("/v1/positions/", headers=viewer)).status_code
    )


async def test_behind_a_root_path_the_edge_still_answers(
    platform: RunningPlatform, tokens: dict[tuple[str, str], str]
) -> None:
    async for clients in _clients(platform, root_path="/gateway"):
        answer = await _both(clients, "/v1/positions", bearer(tokens["a", "viewer"]))
        assert answer.status_code == 200


async def test_a_rate_limited_caller_gets_the_same_429(
    platform: RunningPlatform, people: People
) -> None:
    strict = TierLimits(per_second=0.01, burst=2, trading_per_second=1, trading_burst=1)
    tenant = people["a", "viewer"].tenant
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    try:  # one fresh person per way: buckets are per user and shared through Redis
        emails = {way: f"edge-{way}-{uuid.uuid4().hex[:6]}@{tenant}.test" for way in WAYS}
        for email in emails.values():
            await IdentityStore(pool).create_user(tenant, email, hash_password(PASSWORD), "viewer")
    finally:
        await pool.close()
    async for clients in _clients(platform, tiers={"pro": strict}):
        answers: dict[str, list[httpx.Response]] = {}
        for way, client in clients.items():
            signed = await client.post(
                "/auth/login", json={"email": emails[way], "password": PASSWORD}
            )
            headers = bearer(signed.json()["access_token"])
            answers[way] = [await client.get("/v1/positions", headers=headers) for _ in range(3)]
        edge, plain = answers["edge"], answers["fastapi"]
        assert [a.status_code for a in edge] == [a.status_code for a in plain] == [200, 200, 429]
        for a, b in zip(edge, plain, strict=True):
            assert {k: a.headers.get(k) for k in ("RateLimit-Remaining", *COMPARED)} == {
                k: b.headers.get(k) for k in ("RateLimit-Remaining", *COMPARED)
            }
        assert edge[-1].json() == plain[-1].json()
        assert edge[-1].headers["Retry-After"] == plain[-1].headers["Retry-After"]
