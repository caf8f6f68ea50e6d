"""The kill switch for people: a trader or admin of the account's tenant engages it through
the API, the flattening fills reach /v1/fills and the positions go flat as soon as they are
booked; orders are refused until the account is re-armed."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import httpx

from tests.api.conftest import bearer
from tests.api.test_orders import key, market, wait_for_state
from tests.trading_stack import Stack


async def until(client: httpx.AsyncClient, url: str, headers: dict[str, str], done: Any) -> Any:
    deadline = time.monotonic() + 30
    while True:
        answer = (await client.get(url, headers=headers)).json()
        if done(answer):
            return answer
        assert time.monotonic() < deadline, f"{url}: still {answer}"
        await asyncio.sleep(0.05)


async def test_kill_with_flatten_books_the_closing_fills_and_flattens_the_positions(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    trader = bearer(tokens["a", "trader"])
    placed = await app_client.post(
        "/v1/orders", json=market(desk, volume="0.30"), headers={**trader, **key()}
    )
    await wait_for_state(app_client, trader, placed.json()["id"], "filled")
    positions_url = f"/v1/positions?account={desk.account}"
    await until(app_client, positions_url, trader, lambda got: got != [])

    killed = await app_client.post(
        f"/v1/accounts/{desk.account}/kill", json={"flatten": True}, headers=trader
    )
    assert killed.status_code == 200, killed.text
    body = killed.json()
    assert (body["account"], body["engaged"], len(body["flattened"])) == (desk.account, True, 1)

    await until(app_client, positions_url, trader, lambda got: got == [])
    fills = await until(
        app_client,
        f"/v1/fills?account={desk.account}&order_id={body['flattened'][0]}",
        trader,
        lambda got: got["items"],
    )
    [closing] = fills["items"]
    assert (closing["source"], closing["side"], closing["repaired"]) == (
        "kill_switch",
        "sell",
        False,
    )
    held = sum(
        Decimal(f["volume"]) * (1 if f["side"] == "buy" else -1)
        for f in (
            await app_client.get(f"/v1/fills?account={desk.account}&limit=500", headers=trader)
        ).json()["items"]
    )
    assert held == 0  # the books' fills add up to the venue's flat account

    refused = await app_client.post("/v1/orders", json=market(desk), headers={**trader, **key()})
    assert (refused.json()["state"], refused.json()["reason"]) == ("rejected", "kill_switch")
    rearmed = await app_client.post(f"/v1/accounts/{desk.account}/rearm", headers=trader)
    assert rearmed.json() == {
        "account": desk.account,
        "engaged": False,
        "cancelled": [],
        "flattened": [],
    }


async def test_only_traders_of_the_accounts_tenant_may_kill_it(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    url = f"/v1/accounts/{desk.account}/kill"
    viewer = await app_client.post(url, json={}, headers=bearer(tokens["a", "viewer"]))
    assert viewer.status_code == 403
    other = await app_client.post(url, json={}, headers=bearer(tokens["b", "admin"]))
    assert other.status_code == 404
    bad = await app_client.post(
        url, json={"flatten": "later"}, headers=bearer(tokens["a", "admin"])
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "flatten"


async def test_the_last_reconciliation_is_shown_to_the_accounts_tenant(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    url = f"/v1/accounts/{desk.account}/reconciliation"
    report = await until(
        app_client, url, bearer(tokens["a", "viewer"]), lambda got: got["status"] != "never"
    )
    assert report["status"] in {"equal", "catching up", "repaired"}
    assert report["venue_fills"] >= 0
    other = await app_client.get(url, headers=bearer(tokens["b", "admin"]))
    assert other.status_code == 404
