"""`/v1/ws`: live quotes, bars, orders, fills, positions and decisions of the caller's tenant.

Protocol (JSON text frames):
- authenticate within 5 s of connecting: `{"type": "auth", "token": "<access token or API
  key>"}`, or offer the subprotocol `bearer.<token>` beside `aitp.v1`; never in the URL, where
  proxies would log it. The server answers `{"type": "welcome", ...}`.
- `{"type": "subscribe", "channels": ["quotes:EURUSD", "orders"]}` -> `subscribed`;
  `{"type": "unsubscribe", "channels": [...]}` -> `unsubscribed`; `{"type": "ping"}` -> `pong`.
- events arrive as `{"type": "event", "channel", "account", "kind", "data"}`; a `heartbeat`
  comes every `ws_heartbeat_s` seconds of silence.
Close codes: 4401 not authenticated or token expired, 4403 not allowed, 4400 protocol error,
1013 the client read too slowly and was dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from api.guards import admit, principal_of
from api.resources import Resources
from api.security.principal import Permission, Principal
from api.streams import SLOW_CLIENT, valid_channel

router = APIRouter()

PROTOCOL = "aitp.v1"
AUTH_TIMEOUT_S = 5.0
MAX_CHANNELS = 100


class RefusedError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _authenticate(websocket: WebSocket, res: Resources, offered: list[str]) -> Principal:
    token = next((p.removeprefix("bearer.") for p in offered if p.startswith("bearer.")), None)
    if token is None:
        try:
            first = orjson.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S))
        except TimeoutError:
            raise RefusedError(4401, "authenticate within 5 s: {type: auth, token}") from None
        except orjson.JSONDecodeError:
            raise RefusedError(4400, "frames are JSON objects") from None
        if not isinstance(first, dict) or first.get("type") != "auth":
            raise RefusedError(4401, "the first message must be {type: auth, token}")
        token = str(first.get("token") or "")
    try:
        principal = await principal_of(res, token)
        await admit(res, principal, Permission.READ)
    except HTTPException as exc:
        raise RefusedError(4403 if exc.status_code == 403 else 4401, str(exc.detail)) from None
    return principal


@router.websocket("/v1/ws", name="live events")
async def live(websocket: WebSocket) -> None:
    res: Resources = websocket.app.state.resources
    offered = list(websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
    try:
        principal = await _authenticate(websocket, res, offered)
    except RefusedError as refused:
        await _send(websocket, {"type": "error", "detail": refused.reason})
        await websocket.close(refused.code, refused.reason[:120])
        return
    except WebSocketDisconnect:
        return

    closing: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    def close_soon(code: int, reason: str) -> None:
        if not closing.done():
            closing.set_result((code, reason))

    fanout = res.fanout
    sub = fanout.join(
        principal.tenant_id, lambda: close_soon(SLOW_CLIENT, "too slow: events were dropped")
    )
    await _send(
        websocket,
        {
            "type": "welcome",
            "tenant": principal.tenant,
            "role": principal.role.value,
            "heartbeat_s": res.settings.api.ws_heartbeat_s,
        },
    )

    async def reader() -> None:
        while True:
            try:
                message = orjson.loads(await websocket.receive_text())
            except orjson.JSONDecodeError:
                await _send(websocket, {"type": "error", "detail": "frames are JSON objects"})
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "ping":
                await _send(websocket, {"type": "pong", "ts": time.time()})
            elif kind in ("subscribe", "unsubscribe"):
                channels = message.get("channels")
                if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
                    await _send(websocket, {"type": "error", "detail": "channels: a list of names"})
                    continue
                bad = [c for c in channels if not valid_channel(c)]
                if bad:
                    await _send(
                        websocket,
                        {
                            "type": "error",
                            "detail": f"unknown channels {bad}; use quotes:SYMBOL, bars:SYMBOL, "
                            "orders, fills, positions or decisions",
                        },
                    )
                    continue
                if kind == "subscribe":
                    if len(sub.channels | set(channels)) > MAX_CHANNELS:
                        await _send(
                            websocket,
                            {"type": "error", "detail": f"at most {MAX_CHANNELS} channels"},
                        )
                        continue
                    fanout.subscribe(sub, channels)
                else:
                    fanout.unsubscribe(sub, channels)
                await _send(
                    websocket,
                    {"type": f"{kind}d", "channels": sorted(sub.channels)},
                )
            else:
                await _send(websocket, {"type": "error", "detail": f"unknown message {kind!r}"})

    async def writer() -> None:
        heartbeat = res.settings.api.ws_heartbeat_s
        expires = principal.token_expires_at
        queue = sub.queue
        while True:
            try:
                # a busy stream is drained without arming a timer per frame
                frame = (
                    queue.get_nowait()
                    if queue.qsize()
                    else await asyncio.wait_for(queue.get(), heartbeat)
                )
            except TimeoutError:
                if expires is not None and time.time() >= expires:
                    close_soon(4401, "token expired; connect again with a fresh one")
                    return
                await _send(websocket, {"type": "heartbeat", "ts": time.time()})
                continue
            await websocket.send_text(frame)

    tasks = [asyncio.create_task(reader()), asyncio.create_task(writer())]
    try:
        waiting: list[asyncio.Future[Any]] = [*tasks, closing]
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if closing in done:
            code, reason = closing.result()
            with contextlib.suppress(Exception):
                await websocket.close(code, reason)
    finally:
        fanout.unsubscribe(sub)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await websocket.send_text(orjson.dumps(message).decode())
