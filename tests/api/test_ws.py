"""The WebSocket on a real socket: authentication at connect, channels, tenant scoping,
heartbeats, and an order followed from placement to fill."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.streams import Fanout
from domain.messages import OrderAccepted, encode
from tests.api.conftest import LiveApi, People, bearer
from tests.trading_stack import Stack


async def receive(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), within))
    return message


async def until(ws: ClientConnection, match: Any, within: float = 10.0) -> dict[str, Any]:
    """The first message for which `match` is true, skipping heartbeats and the rest."""
    async with asyncio.timeout(within):
        while True:
            message = await receive(ws, within)
            if match(message):
                return message


@pytest.fixture
async def http(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_api.http) as client:
        yield client


async def signed_in(live_api: LiveApi, token: str) -> ClientConnection:
    ws = await connect(live_api.ws)
    await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    return ws


async def test_a_token_in_the_first_message_is_welcomed(
    live_api: LiveApi, tokens: dict[tuple[str, str], str], people: People
) -> None:
    ws = await connect(live_api.ws)
    await ws.send(orjson.dumps({"type": "auth", "token": tokens["a", "viewer"]}).decode())
    welcome = await receive(ws)
    assert (welcome["type"], welcome["tenant"], welcome["role"]) == (
        "welcome",
        people["a", "viewer"].tenant,
        "viewer",
    )
    await ws.close()


async def test_a_token_in_the_subprotocol_is_welcomed(
    live_api: LiveApi, tokens: dict[tuple[str, str], str]
) -> None:
    token = tokens["a", "trader"]
    async with connect(live_api.ws, subprotocols=["aitp.v1", f"bearer.{token}"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "aitp.v1"
        assert (await receive(ws))["type"] == "welcome"


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "token": "not-a-token"},
        {"type": "subscribe", "channels": ["orders"]},
        {"type": "auth", "token": "aitp_deadbeef_nope"},
    ],
    ids=["bad token", "no auth first", "unknown key"],
)
async def test_an_unauthenticated_socket_is_closed_with_4401(
    live_api: LiveApi, first: dict[str, Any]
) -> None:
    ws = await connect(live_api.ws)
    await ws.send(orjson.dumps(first).decode())
    error = await receive(ws)
    assert error["type"] == "error"
    with pytest.raises(ConnectionClosed) as closed:
        await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_channels_are_checked_and_heartbeats_keep_coming(
    live_api: LiveApi, tokens: dict[tuple[str, str], str]
) -> None:
    ws = await signed_in(live_api, tokens["a", "viewer"])
    await ws.send(orjson.dumps({"type": "subscribe", "channels": ["orders", "secrets"]}).decode())
    error = await receive(ws)
    assert error["type"] == "error"
    assert "secrets" in error["detail"]
    await ws.send(orjson.dumps({"type": "subscribe", "channels": ["quotes:EURUSD"]}).decode())
    assert await receive(ws) == {"type": "subscribed", "channels": ["quotes:EURUSD"]}
    await ws.send(orjson.dumps({"type": "unsubscribe", "channels": ["quotes:EURUSD"]}).decode())
    assert await receive(ws) == {"type": "unsubscribed", "channels": []}
    await ws.send(b'{"type": "ping"}'.decode())
    assert (await until(ws, lambda m: m["type"] == "pong"))["type"] == "pong"
    beat = await until(ws, lambda m: m["type"] == "heartbeat", within=3)
    assert beat["ts"] > 0
    await ws.close()


async def test_an_order_is_followed_to_filled_and_booked(
    live_api: LiveApi,
    http: httpx.AsyncClient,
    desk: Stack,
    people: People,
    tokens: dict[tuple[str, str], str],
) -> None:
    """End to end: log in, place an order over REST, watch it fill on the WebSocket, then
    find the fill and the position over REST; another tenant's socket hears nothing of it."""
    pair = await http.post(
        "/auth/login",
        json={"email": people["a", "trader"].email, "password": "correct horse battery"},
    )
    token = pair.json()["access_token"]
    ws = await signed_in(live_api, token)
    await ws.send(orjson.dumps({"type": "subscribe", "channels": ["orders", "positions"]}).decode())
    await until(ws, lambda m: m["type"] == "subscribed")
    intruder = await signed_in(live_api, tokens["b", "admin"])
    await intruder.send(
        orjson.dumps({"type": "subscribe", "channels": ["orders", "fills"]}).decode()
    )
    await until(intruder, lambda m: m["type"] == "subscribed")
    quotes = await signed_in(live_api, tokens["a", "viewer"])
    await quotes.send(orjson.dumps({"type": "subscribe", "channels": ["quotes:EURUSD"]}).decode())
    await until(quotes, lambda m: m["type"] == "subscribed")

    placed = await http.post(
        "/v1/orders",
        json={"account": desk.account, "symbol": "EURUSD", "side": "sell", "volume": "0.30"},
        headers={**bearer(token), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code in (201, 202), placed.text
    order_id = placed.json()["id"]

    def about(kind: str) -> Any:
        return lambda m: m.get("kind") == kind and m["data"].get("client_order_id") == order_id

    accepted = await until(ws, about("order_accepted"))
    assert (accepted["channel"], accepted["account"]) == ("orders", desk.account)
    fill = await until(ws, about("fill"))
    assert fill["data"]["order_state"] == "filled"
    assert Decimal(fill["data"]["volume"]) == Decimal("0.30")
    position = await until(ws, lambda m: m["channel"] == "positions")
    assert position["data"]["client_order_id"] == order_id
    assert "net_volume" in position["data"]

    quote = await until(quotes, lambda m: m.get("kind") == "quote")
    assert quote["channel"] == "quotes:EURUSD"
    assert quote["data"]["bid"] > 0

    for _ in range(50):
        fills = (await http.get(f"/v1/fills?order_id={order_id}", headers=bearer(token))).json()
        if fills["items"]:
            break
        await asyncio.sleep(0.05)
    assert [f["order_id"] for f in fills["items"]] == [order_id]
    positions = (
        await http.get(f"/v1/positions?account={desk.account}", headers=bearer(token))
    ).json()
    assert [p["symbol"] for p in positions] in ([], ["EURUSD"])  # flat, or what is left open

    with pytest.raises(TimeoutError):
        await until(intruder, lambda m: m["type"] == "event", within=0.5)
    for socket in (ws, intruder, quotes):
        await socket.close()


async def test_a_slow_subscriber_is_dropped_and_the_others_go_on() -> None:
    fanout = Fanout(redis=None, accounts=None, queue_size=2)  # type: ignore[arg-type]
    tenant = uuid.uuid4()
    fanout._tenant_of = {"acct": tenant}
    dropped: list[str] = []
    slow = fanout.join(tenant, lambda: dropped.append("slow"))
    fast = fanout.join(tenant, lambda: dropped.append("fast"))
    elsewhere = fanout.join(uuid.uuid4(), lambda: dropped.append("elsewhere"))
    for sub in (slow, fast, elsewhere):
        fanout.subscribe(sub, ["orders"])
    event = {k.encode(): v for k, v in encode(OrderAccepted(client_order_id="x")).items()}
    for n in range(5):
        fanout.dispatch("acct", event)
        if n < 4:
            fast.queue.get_nowait()  # the fast one reads as it goes
    assert dropped == ["slow"]
    assert slow.channels == set()
    assert fast.queue.qsize() == 1
    assert elsewhere.queue.qsize() == 0  # another tenant hears nothing
    frame = orjson.loads(fast.queue.get_nowait())
    assert frame == {
        "type": "event",
        "channel": "orders",
        "account": "acct",
        "kind": "order_accepted",
        "data": {"client_order_id": "x", "broker_order_id": None},
    }
