"""What a trader reads and switches beside orders: strategies, balance, decisions and market
data, on the real stack (a paper hot path with one strategy, Temporal, ClickHouse)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx

from tests.api.conftest import bearer
from tests.trading_stack import Stack, decide


def strategies_of(desk: Stack) -> str:
    return f"/v1/accounts/{desk.account}/strategies"


async def test_a_trader_stops_and_starts_a_strategy_and_the_hot_path_follows(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    viewer, trader = bearer(tokens["a", "viewer"]), bearer(tokens["a", "trader"])
    listed = (await app_client.get(strategies_of(desk), headers=viewer)).json()
    assert listed == [
        {
            "id": "ma_cross-50-200",
            "name": "ma_cross 50/200",
            "kind": "ma_cross",
            "symbol": "EURUSD",
            "params": {
                "fast": 50,
                "slow": 200,
                "allow_short": False,
                "sl_atr": 0.0,
                "tp_atr": 0.0,
                "volume": "0.1",
            },
            "enabled": True,
        }
    ]
    stopped = await app_client.post(f"{strategies_of(desk)}/ma_cross-50-200/stop", headers=trader)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["enabled"] is False
    assert desk.engine.enabled["ma_cross 50/200"] is False  # the hot path itself, not a copy
    again = (await app_client.get(strategies_of(desk), headers=viewer)).json()
    assert again[0]["enabled"] is False

    started = await app_client.post(f"{strategies_of(desk)}/ma_cross-50-200/start", headers=trader)
    assert started.json()["enabled"] is True
    assert desk.engine.enabled["ma_cross 50/200"] is True


async def test_an_unknown_strategy_is_a_404_that_lists_the_running_ones(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    answer = await app_client.post(
        f"{strategies_of(desk)}/rsi_reversion-14/stop", headers=bearer(tokens["a", "trader"])
    )
    assert answer.status_code == 404
    assert "it runs: ma_cross-50-200" in answer.json()["detail"]


async def test_balance_and_equity_come_from_the_hot_path(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    trader = bearer(tokens["a", "trader"])
    before = (await app_client.get(f"/v1/accounts/{desk.account}/balance", headers=trader)).json()
    assert before["currency"] == "USD"
    order = {"account": desk.account, "symbol": "EURUSD", "side": "buy", "volume": "0.10"}
    placed = await app_client.post(
        "/v1/orders", json=order, headers={**trader, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert placed.status_code == 201, placed.text
    for _ in range(100):
        after = (
            await app_client.get(f"/v1/accounts/{desk.account}/balance", headers=trader)
        ).json()
        if after["positions"] > before["positions"]:
            break
        await asyncio.sleep(0.05)
    # 0.10 lot bought at the ask 1.1002 and marked at the bid 1.1000: 10,000 x -0.0002 = -2 USD
    opened = Decimal(after["equity"]) - Decimal(after["balance"])
    assert opened - (Decimal(before["equity"]) - Decimal(before["balance"])) == Decimal(-2)


async def test_an_account_whose_hot_path_is_away_is_a_503_that_says_so(
    app_client: httpx.AsyncClient,
    desk: Stack,
    tokens: dict[tuple[str, str], str],
) -> None:
    ghost = f"ghost{uuid.uuid4().hex[:6]}"
    tenant = (await app_client.get("/v1/me", headers=bearer(tokens["a", "viewer"]))).json()
    await desk.book.ensure_account(ghost, tenant["tenant"])
    answer = await app_client.get(
        f"/v1/accounts/{ghost}/balance", headers=bearer(tokens["a", "viewer"])
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert f"the hot path of account {ghost!r} did not answer" in answer.json()["detail"]


async def test_decisions_are_listed_and_explained_within_the_tenant(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    viewer = bearer(tokens["a", "viewer"])
    tenant = (await app_client.get("/v1/me", headers=viewer)).json()["tenant"]
    first = await decide(desk, tenant)
    second = await decide(desk, tenant, volume="1000")  # beyond the portfolio's limit
    query = f"/v1/decisions?account={desk.account}&limit=1"
    seen: list[str] = []
    for _ in range(100):  # visibility follows the workflows within moments
        page = (await app_client.get(query, headers=viewer)).json()
        if page["items"] and page["next_cursor"]:
            following = await app_client.get(
                f"{query}&cursor={page['next_cursor']}", headers=viewer
            )
            seen = [page["items"][0]["id"], following.json()["items"][0]["id"]]
            if set(seen) == {first, second} and all(
                i["verdict"] for i in (page["items"][0], following.json()["items"][0])
            ):
                break
        await asyncio.sleep(0.05)
    assert seen == [second, first]  # newest first, one per page
    top = page["items"][0]
    assert top["account"] == desk.account
    assert top["strategy"] == "ma_cross 50/200"
    assert top["status"] == "completed"
    assert top["verdict"].startswith("rejected (portfolio")

    explained = (await app_client.get(f"/v1/decisions/{first}", headers=viewer)).json()
    assert [s["step"] for s in explained["steps"]] == ["model", "pattern", "llm", "portfolio"]
    assert explained["outcome"] == "approved"
    assert explained["order_id"]
    assert explained["signal"] == "entry_long"
    assert explained["features"]["close"] == 1.1001
    refused = (await app_client.get(f"/v1/decisions/{second}", headers=viewer)).json()
    assert refused["outcome"] == "rejected"
    assert refused["reason"].startswith("portfolio: ")
    assert refused["order_id"] is None
    assert refused["lineage"]["decision"]["props"]["outcome"] == "rejected"
    assert (refused["lineage"]["order"], refused["lineage"]["fills"]) == (None, [])

    lineage: dict[str, Any] = {}
    filled = Decimal(0)
    for _ in range(200):  # each deal is linked as the order workflow books it
        lineage = (await app_client.get(f"/v1/decisions/{first}/lineage", headers=viewer)).json()
        filled = sum((Decimal(f["props"]["volume"]) for f in lineage["fills"]), Decimal(0))
        if filled == Decimal("0.01"):
            break
        await asyncio.sleep(0.05)
    assert filled == Decimal("0.01")
    assert lineage["decision"]["props"]["outcome"] == "approved"
    assert lineage["order"]["props"]["client_order_id"] == explained["order_id"]
    assert lineage["model"] is None  # no model configured: nothing scored it

    other = bearer(tokens["b", "admin"])
    assert (await app_client.get(f"/v1/decisions/{first}", headers=other)).status_code == 404
    forbidden = await app_client.get(f"/v1/decisions/{first}/lineage", headers=other)
    assert forbidden.status_code == 404
    listed = (await app_client.get("/v1/decisions", headers=other)).json()
    assert first not in [i["id"] for i in listed["items"]]
    assert (await app_client.get("/v1/decisions/order-x", headers=viewer)).status_code == 404
    bad = await app_client.get("/v1/decisions?strategy=x'%20OR%20'1", headers=viewer)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "strategy"
    # cursors name a page token kept by the API, for the tenant and query that got it
    for who, url in (
        (viewer, f"/v1/decisions?cursor={'0' * 60}"),
        (other, f"{query}&cursor={page['next_cursor']}"),
        (viewer, f"{query}&symbol=EURUSD&cursor={page['next_cursor']}"),  # another query
    ):
        forged = await app_client.get(url, headers=who)
        assert forged.status_code == 422, url
        assert forged.json()["errors"][0]["field"] == "cursor"


async def test_stored_market_data_bars_in_pages_and_the_stored_quote(
    app_client: httpx.AsyncClient, tokens: dict[tuple[str, str], str], stored_symbol: str
) -> None:
    viewer = bearer(tokens["a", "viewer"])
    symbols = (await app_client.get("/v1/symbols", headers=viewer)).json()
    mine = next(s for s in symbols if s["symbol"] == stored_symbol)
    assert {(s["kind"], s["timeframe"], s["rows"]) for s in mine["series"]} == {
        ("bars", "M1", 10),
        ("ticks", None, 2),
    }
    window = "start=2024-01-02T00:00:00Z&end=2024-01-02T01:00:00Z"
    url = f"/v1/bars/{stored_symbol}?{window}&limit=4"
    opens: list[float] = []
    pages = 0
    while url:
        page = (await app_client.get(url, headers=viewer)).json()
        opens += [b["open"] for b in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        url = f"/v1/bars/{stored_symbol}?{window}&limit=4&cursor={cursor}" if cursor else ""
    assert pages == 3
    assert opens == [1.1 + i * 1e-4 for i in range(10)]

    m5 = (
        await app_client.get(f"/v1/bars/{stored_symbol}?{window}&timeframe=M5", headers=viewer)
    ).json()["items"]
    assert [(b["time"], b["open"], b["volume"]) for b in m5] == [
        ("2024-01-02T00:00:00Z", 1.1, 5.0),
        ("2024-01-02T00:05:00Z", 1.1 + 5e-4, 5.0),
    ]

    quote = (await app_client.get(f"/v1/quotes/{stored_symbol}", headers=viewer)).json()
    assert quote == {
        "symbol": stored_symbol,
        "bid": 1.101,
        "ask": 1.1012,
        "time": "2024-01-02T00:09:30Z",
        "source": "stored",
    }


async def test_the_live_quote_comes_from_the_tenants_hot_path(
    app_client: httpx.AsyncClient, desk: Stack, tokens: dict[tuple[str, str], str]
) -> None:
    for _ in range(100):
        quote = (
            await app_client.get("/v1/quotes/EURUSD", headers=bearer(tokens["a", "viewer"]))
        ).json()
        if quote.get("source") == "live":
            break
        await asyncio.sleep(0.05)
    assert (quote["source"], quote["bid"], quote["ask"]) == ("live", 1.1, 1.1002)


async def test_bad_market_data_requests_name_the_field(
    app_client: httpx.AsyncClient, tokens: dict[tuple[str, str], str], stored_symbol: str
) -> None:
    viewer = bearer(tokens["a", "viewer"])
    missing = await app_client.get("/v1/quotes/NOSUCH", headers=viewer)
    assert missing.status_code == 404
    for query, field in (
        ("start=2024-01-02T00:00:00", "start"),  # no time zone
        ("start=2024-01-03T00:00:00Z&end=2024-01-02T00:00:00Z", "start"),
        ("timeframe=M2", "timeframe"),
        ("side=last", "side"),
        ("cursor=nonsense", "cursor"),
    ):
        answer = await app_client.get(f"/v1/bars/{stored_symbol}?{query}", headers=viewer)
        assert answer.status_code == 422, query
        assert [e["field"] for e in answer.json()["errors"]] == [field], query
