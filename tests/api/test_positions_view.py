"""GET /v1/positions answers from memory, and a fill committed in PostgreSQL shows in the next
read once its notification has arrived: the real database, its trigger and its LISTEN."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from adapters.postgres.identity import IdentityStore
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from api.app import create_app
from api.positions_view import PositionsView
from config.settings import PostgresSettings
from domain.messages import FillReported
from domain.orders import Order, Side
from tests.api.conftest import People, bearer, serve, settings_for
from tests.conftest import RunningPlatform


@pytest.fixture
async def pool(platform: RunningPlatform) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    yield pool
    await pool.close()


@pytest.fixture
async def api(platform: RunningPlatform) -> AsyncIterator[tuple[httpx.AsyncClient, PositionsView]]:
    app = create_app(settings_for(platform))
    async for client in serve(app):
        view: PositionsView = app.state.resources.positions
        await view.wait_listening()
        yield client, view


async def _fill(book: PostgresOrderBook, account: str, symbol: str, side: Side, lots: str) -> None:
    order = Order(uuid.uuid4().hex[:20], symbol, side, Decimal(lots))
    await book.record_order(account, order)
    fill = FillReported(
        fill_id=uuid.uuid4().hex,
        client_order_id=order.client_order_id,
        symbol=symbol,
        side=side,
        volume=Decimal(lots),
        price=Decimal("1.1"),
        ts=1,
    )
    await book.record_fill(account, fill)


async def _until(client: httpx.AsyncClient, url: str, headers: dict[str, str], want: Any) -> Any:
    """The positions once `want(positions)` holds; fails after two seconds."""
    deadline = time.monotonic() + 2
    while True:
        positions = (await client.get(url, headers=headers)).json()
        if want(positions) or time.monotonic() > deadline:
            return positions
        await asyncio.sleep(0.005)


async def test_positions_are_kept_until_a_fill_of_that_tenant_changes_them(
    api: tuple[httpx.AsyncClient, PositionsView],
    pool: asyncpg.Pool,
    people: People,
    tokens: dict[tuple[str, str], str],
) -> None:
    client, view = api
    book = PostgresOrderBook(pool)
    mine, theirs = f"pv-a-{uuid.uuid4().hex[:8]}", f"pv-b-{uuid.uuid4().hex[:8]}"
    await book.ensure_account(mine, people["a", "trader"].tenant)
    await book.ensure_account(theirs, people["b", "trader"].tenant)
    a, b = bearer(tokens["a", "viewer"]), bearer(tokens["b", "viewer"])
    url = f"/v1/positions?account={mine}"

    assert (await client.get(url, headers=a)).json() == []
    assert (await client.get(f"/v1/positions?account={theirs}", headers=b)).json() == []
    loads = view.loads
    for _ in range(5):
        assert (await client.get(url, headers=a)).json() == []
    assert view.loads == loads  # answered from memory

    await _fill(book, mine, "EURUSD", Side.BUY, "0.50")
    seen = await _until(client, url, a, bool)
    assert [(p["account"], p["symbol"], p["side"], Decimal(p["volume"])) for p in seen] == [
        (mine, "EURUSD", "buy", Decimal("0.50"))
    ]
    assert view.loads == loads + 1
    everything = (await client.get("/v1/positions", headers=a)).json()
    assert seen[0] in everything  # the tenant-wide document came from the same read
    assert view.loads == loads + 1

    # tenant b's positions were not touched, so they are still in memory
    assert (await client.get(f"/v1/positions?account={theirs}", headers=b)).json() == []
    assert view.loads == loads + 1
    # and another tenant's account is as empty as one that does not exist
    assert (await client.get(f"/v1/positions?account={mine}", headers=b)).json() == []


async def test_a_lost_listener_stops_the_keeping_until_it_is_back(
    api: tuple[httpx.AsyncClient, PositionsView],
    pool: asyncpg.Pool,
    people: People,
    tokens: dict[tuple[str, str], str],
) -> None:
    """Notifications sent while the LISTEN connection is down are lost; meanwhile every read
    asks the database, so a fill committed then is still seen."""
    client, view = api
    book = PostgresOrderBook(pool)
    account = f"pv-gap-{uuid.uuid4().hex[:8]}"
    await book.ensure_account(account, people["a", "trader"].tenant)
    headers, url = bearer(tokens["a", "viewer"]), f"/v1/positions?account={account}"
    assert (await client.get(url, headers=headers)).json() == []

    await pool.execute(
        """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE query = 'LISTEN "positions"' AND pid <> pg_backend_pid()"""
    )
    for _ in range(5_000):  # the termination reaches the client as its socket closes
        if not view.live:
            break
        await asyncio.sleep(0.001)
    assert not view.live
    assert (await client.get(url, headers=headers)).json() == []  # read, and not kept
    await _fill(book, account, "USDJPY", Side.SELL, "0.20")  # its notification is lost
    seen = (await client.get(url, headers=headers)).json()
    assert [(p["symbol"], p["side"]) for p in seen] == [("USDJPY", "sell")]

    await view.wait_listening()
    await client.get(url, headers=headers)
    loads = view.loads
    await client.get(url, headers=headers)
    assert view.loads == loads  # kept again


async def test_concurrent_reads_of_a_tenant_share_one_query(
    api: tuple[httpx.AsyncClient, PositionsView], pool: asyncpg.Pool
) -> None:
    _, view = api
    tenant_id = await IdentityStore(pool).ensure_tenant(f"pv-{uuid.uuid4().hex[:8]}")
    loads = view.loads
    documents = await asyncio.gather(*(view.document(tenant_id) for _ in range(30)))
    assert view.loads == loads + 1
    assert set(documents) == {b"[]"}
