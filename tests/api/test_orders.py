"""Orders through the API on the real stack: Temporal, PostgreSQL, Redis, a paper-broker hot
path and the trading worker on the queue the API starts orders on."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import httpx
import pytest

from tests.api.conftest import bearer
from tests.trading_stack import Stack


def market(desk: Stack, **fields: object) -> dict[str, object]:
    return {"account": desk.account, "symbol": "EURUSD", "side": "buy", "volume": "0.10", **fields}


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def wait_for_state(
    client: httpx.AsyncClient, headers: dict[str, str], order_id: str, state: str
) -> dict[str, object]:
    for _ in range(100):
        order: dict[str, object] = (
            await client.get(f"/v1/orders/{order_id}", headers=headers)
        ).json()
        if order.get("state") == state:
            return order
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} never reached {state}: {order}")


async def test_a_market_order_is_placed_filled_and_booked(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    trader = bearer(tokens["a", "trader"])
    placed = await app_client.post("/v1/orders", json=market(desk), headers={**trader, **key()})
    assert placed.status_code == 201, placed.text  # the paper broker accepts at once
    order = placed.json()
    assert placed.headers["Location"] == f"/v1/orders/{order['id']}"
    assert order["state"] in {"accepted", "filled"}
    assert len(order["id"]) == 24

    filled = await wait_for_state(app_client, trader, order["id"], "filled")
    assert Decimal(filled["filled_volume"]) == Decimal("0.10")  # type: ignore[arg-type]
    assert Decimal(filled["avg_fill_price"]) == Decimal("1.1002")  # type: ignore[arg-type]

    for _ in range(50):  # the books are written by the workflow right after the fill
        fills = (await app_client.get(f"/v1/fills?order_id={order['id']}", headers=trader)).json()
        if fills["items"]:
            break
        await asyncio.sleep(0.05)
    assert [(Decimal(f["volume"]), Decimal(f["price"]), f["side"]) for f in fills["items"]] == [
        (Decimal("0.10"), Decimal("1.1002"), "buy")
    ]
    positions = (
        await app_client.get(f"/v1/positions?account={desk.account}", headers=trader)
    ).json()
    assert [(p["symbol"], p["side"]) for p in positions] == [("EURUSD", "buy")]
    assert Decimal(positions[0]["volume"]) >= Decimal("0.10")

    listed = (await app_client.get("/v1/orders", headers=trader)).json()["items"]
    assert order["id"] in {o["id"] for o in listed}


async def test_the_same_idempotency_key_twice_makes_one_order(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    headers = {**bearer(tokens["a", "trader"]), **key()}
    body = market(desk, volume="0.20")
    racing = await asyncio.gather(
        *(app_client.post("/v1/orders", json=body, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in racing} <= {201, 202}, [r.text for r in racing]
    assert len({r.json()["id"] for r in racing}) == 1
    first = racing[0]
    third = await app_client.post("/v1/orders", json=body, headers=headers)
    assert third.json()["id"] == first.json()["id"]
    assert third.headers["Idempotent-Replayed"] == "true"
    await wait_for_state(app_client, bearer(tokens["a", "trader"]), first.json()["id"], "filled")
    # the venue executed it once
    assert len(desk.engine.fills[first.json()["id"]]) == 1

    other = await app_client.post("/v1/orders", json=market(desk, volume="0.30"), headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "limit"}, "price"),
        ({"type": "stop", "price": "1.2"}, "stop_price"),
        ({"type": "stop_limit", "stop_price": "1.2"}, "price"),
        ({"price": "1.2"}, "price"),
        ({"time_in_force": "gtd", "type": "limit", "price": "1.0"}, "expire_at"),
        ({"volume": "0"}, "volume"),
        ({"side": "long"}, "side"),
        ({"tenant_id": str(uuid.uuid4())}, "tenant_id"),
        ({"state": "filled"}, "state"),
        ({"client_order_id": "mine"}, "client_order_id"),
    ],
)
async def test_an_invalid_order_is_a_422_naming_the_field(
    app_client: httpx.AsyncClient,
    desk: Stack,
    tokens: dict[tuple[str, str], str],
    fields: dict[str, object],
    field: str,
) -> None:
    response = await app_client.post(
        "/v1/orders",
        json=market(desk, **fields),
        headers={**bearer(tokens["a", "trader"]), **key()},
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_placing_needs_an_idempotency_key(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    response = await app_client.post(
        "/v1/orders", json=market(desk), headers=bearer(tokens["a", "trader"])
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_a_working_order_is_amended_then_cancelled_once(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    trader = bearer(tokens["a", "trader"])
    placed = await app_client.post(
        "/v1/orders",
        json=market(desk, type="limit", price="1.0900"),
        headers={**trader, **key()},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert placed.json()["state"] == "accepted"

    amended = await app_client.patch(
        f"/v1/orders/{order_id}", json={"price": "1.0950"}, headers=trader
    )
    assert amended.status_code == 202, amended.text
    assert amended.json()["accepted"] is True
    assert desk.engine.recall(order_id).price == Decimal("1.0950")  # type: ignore[union-attr]

    cancelled = await app_client.post(f"/v1/orders/{order_id}/cancel", headers=trader)
    assert cancelled.status_code == 202, cancelled.text
    await wait_for_state(app_client, trader, order_id, "cancelled")
    again = await app_client.post(f"/v1/orders/{order_id}/cancel", headers=trader)
    assert again.status_code == 409
    assert "cancel" in again.json()["detail"]


async def test_another_tenants_orders_and_accounts_do_not_exist_for_you(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    placed = await app_client.post(
        "/v1/orders",
        json=market(desk, type="limit", price="1.0850"),
        headers={**bearer(tokens["a", "trader"]), **key()},
    )
    order_id = placed.json()["id"]
    intruder = bearer(tokens["b", "admin"])
    assert (await app_client.get(f"/v1/orders/{order_id}", headers=intruder)).status_code == 404
    cancel = await app_client.post(f"/v1/orders/{order_id}/cancel", headers=intruder)
    assert cancel.status_code == 404
    amend = await app_client.patch(
        f"/v1/orders/{order_id}", json={"price": "1.0860"}, headers=intruder
    )
    assert amend.status_code == 404
    assert order_id not in str((await app_client.get("/v1/orders", headers=intruder)).json())
    account = await app_client.get(f"/v1/accounts/{desk.account}", headers=intruder)
    assert account.status_code == 404
    place = await app_client.post(
        "/v1/orders", json=market(desk), headers={**bearer(tokens["b", "trader"]), **key()}
    )
    assert place.status_code == 404
    # still working for its owner
    mine = await app_client.get(f"/v1/orders/{order_id}", headers=bearer(tokens["a", "viewer"]))
    assert mine.json()["state"] == "accepted"
    await app_client.post(f"/v1/orders/{order_id}/cancel", headers=bearer(tokens["a", "trader"]))


async def test_a_viewer_reads_but_cannot_trade(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    viewer = bearer(tokens["a", "viewer"])
    refused = await app_client.post("/v1/orders", json=market(desk), headers={**viewer, **key()})
    assert refused.status_code == 403
    accounts = (await app_client.get("/v1/accounts", headers=viewer)).json()
    assert desk.account in {a["id"] for a in accounts}


async def test_lists_page_with_a_cursor(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    trader = bearer(tokens["a", "trader"])
    for _ in range(3):
        await app_client.post("/v1/orders", json=market(desk), headers={**trader, **key()})
    await asyncio.sleep(0.3)
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await app_client.get("/v1/orders", params=params, headers=trader)).json()
        assert len(page["items"]) <= 2
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 3
    bad = await app_client.get("/v1/orders", params={"cursor": "garbage!"}, headers=trader)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"symbol": "XAUEUR"}, "symbol", "XAUEUR is not traded here; traded: "),
        ({"volume": "0.015"}, "volume", "volume 0.015 is not a multiple of the step 0.01"),
        (
            {"type": "limit", "price": "1.099995"},
            "price",
            "1.099995 is not on the tick of 0.00001",
        ),
        ({"type": "limit", "price": "1e30"}, "price", "1E+30 is not on the tick of 0.00001"),
        (
            {"type": "limit", "price": "1.09000", "stop_loss": "1.09500"},
            "stop_loss",
            "a buy's stop-loss must be below 1.09000",
        ),
        (
            {"side": "sell", "type": "limit", "price": "1.10100", "take_profit": "1.20000"},
            "take_profit",
            "a sell's take-profit must be below 1.10100",
        ),
        (
            {
                "type": "limit",
                "price": "1.0900",
                "time_in_force": "gtd",
                "expire_at": "2020-01-01T00:00:00Z",
            },
            "expire_at",
            "expire_at is in the past",
        ),
    ],
)
async def test_what_the_broker_would_refuse_is_a_422_before_any_workflow(
    app_client: httpx.AsyncClient,
    desk: Stack,
    tokens: dict[tuple[str, str], str],
    fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    headers = {**bearer(tokens["a", "trader"]), **key()}
    response = await app_client.post("/v1/orders", json=market(desk, **fields), headers=headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert message in error["message"]
    listed = (await app_client.get("/v1/orders?limit=200", headers=headers)).json()["items"]
    assert not any(o["symbol"] == fields.get("symbol") for o in listed)
