"""Orders: placed by starting the order's workflow, changed through its updates, read from
the books (and from the workflow while it runs).

The gateway never talks to a broker. Placing an order ties the Idempotency-Key to a client
order id derived from it, then starts `OrderLifecycleWorkflow` under the id `order-<that id>`;
Temporal refuses a second workflow of that id, so a retried request, a double click or two
API processes racing cannot make two orders.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, HTTPException, Response, status
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from adapters.postgres.instruments import PostgresInstruments
from adapters.postgres.tenant_books import IdempotencyConflictError, TenantBooks
from api.guards import Books, Reader, Res, Trader, tenant_account
from api.pagination import Cursor, Limit, decode, next_cursor
from api.problems import invalid
from api.resources import Resources
from api.schemas.base import Page
from api.schemas.trading import AmendOrder, CancelOrder, Order, PlaceOrder, UpdateOutcome
from api.security.principal import Principal
from domain.clock import ns_of
from domain.order_checks import refusals
from domain.orders import OrderError, OrderState, OrderType, Side, TimeInForce
from temporal.orders import (
    ORDER_WORKFLOW,
    AmendRequest,
    CancelRequest,
    OrderRequest,
    OrderView,
    UpdateResult,
    order_workflow_id,
)
from temporal.queues import TRADING

router = APIRouter(prefix="/v1", tags=["orders"])

_PENDING = {OrderState.NEW, OrderState.SUBMITTED, OrderState.UNRESOLVED}
_LIVE = {OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.FILLED}

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="unique per order you mean to place; a retry with the same key and body "
        "returns the same order",
    ),
]


def client_order_id(principal: Principal, key: str) -> str:
    """24 characters (what an MT5 comment carries), the same for the same caller and key."""
    raw = hashlib.sha256(f"{principal.user_id}|{key}".encode()).digest()
    return "api-" + base64.b32encode(raw).decode().lower()[:20]


def _request(body: PlaceOrder, principal: Principal, cid: str) -> OrderRequest:
    try:
        request = OrderRequest(
            account=body.account,
            tenant=principal.tenant,
            client_order_id=cid,
            symbol=body.symbol,
            side=Side(body.side),
            volume=body.volume,
            order_type=OrderType(body.type),
            time_in_force=TimeInForce(body.time_in_force),
            price=body.price,
            stop_price=body.stop_price,
            expire_at=ns_of(body.expire_at) if body.expire_at else None,
            stop_loss=body.stop_loss,
            take_profit=body.take_profit,
        )
        request.to_order()  # the domain's own checks: a limit needs a price, and so on
    except OrderError as exc:  # the domain names the field it faults
        raise invalid(exc.field or "body", exc.why) from None
    if body.type == "market" and (body.price is not None or body.stop_price is not None):
        raise invalid("price", "a market order takes no price")
    return request


async def _refuse_what_the_broker_would(
    res: Resources, principal: Principal, request: OrderRequest
) -> None:
    """A 422 naming the field for an order the venue would refuse, before any workflow."""
    instruments = PostgresInstruments(res.pool)
    instrument = await instruments.get(request.symbol)
    if instrument is None:
        traded = ", ".join(await instruments.symbols()) or "none yet"
        raise invalid("symbol", f"{request.symbol} is not traded here; traded: {traded}")
    quote = res.fanout.last_quote(principal.tenant_id, request.symbol)
    bid_ask = None if quote is None else (Decimal(repr(quote["bid"])), Decimal(repr(quote["ask"])))
    found = refusals(request.to_order(), instrument, bid_ask, time.time_ns())
    if found:
        raise invalid(found[0].field, found[0].message)


def _view(view: OrderView, row: asyncpg.Record | None = None) -> Order:
    return Order(
        id=view.client_order_id,
        account=view.account,
        symbol=view.symbol,
        side=view.side.value,
        type=row["order_type"] if row else None,
        volume=view.volume,
        filled_volume=view.filled,
        avg_fill_price=view.avg_fill_price,
        price=row["price"] if row else None,
        stop_price=row["stop_price"] if row else None,
        state=view.state.value,
        reason=view.reason,
        strategy=row["strategy"] if row else None,
        broker_order_id=view.broker_order_id,
        created_at=row["created_at"] if row else None,
        updated_at=row["updated_at"] if row else None,
    )


def _row(row: asyncpg.Record) -> Order:
    return Order(
        id=row["client_order_id"],
        account=row["account"],
        symbol=row["symbol"],
        side=row["side"],
        type=row["order_type"],
        volume=row["volume"],
        filled_volume=row["filled_volume"],
        price=row["price"],
        stop_price=row["stop_price"],
        state=row["state"],
        strategy=row["strategy"],
        broker_order_id=row["broker_order_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _query(handle: WorkflowHandle[Any, Any], timeout_s: float) -> OrderView | None:
    """The running workflow's view; None when no worker answers within the time."""
    try:
        view: OrderView = await handle.query(
            "state", result_type=OrderView, rpc_timeout=timedelta(seconds=max(timeout_s, 0.2))
        )
        return view
    except (TimeoutError, RPCError):
        return None


async def _settled(handle: WorkflowHandle[Any, Any], wait_s: float) -> OrderView | None:
    """Ask until the broker has answered or `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    delay = 0.01
    while True:
        view = await _query(handle, deadline - time.monotonic())
        left = deadline - time.monotonic()
        if (view is not None and view.state not in _PENDING) or left <= 0:
            return view
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 0.1)


@router.post(
    "/orders",
    summary="Place an order",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        201: {"model": Order, "description": "the broker accepted (or filled) it already"},
        202: {"model": Order, "description": "placed; follow it on GET or the WebSocket"},
        404: {"description": "no such account in your tenant"},
        422: {"description": "invalid order, or the Idempotency-Key was used for another"},
    },
)
async def place_order(
    body: PlaceOrder,
    idempotency_key: IdempotencyKey,
    principal: Trader,
    res: Res,
    books: Books,
    response: Response,
) -> Order:
    account = await tenant_account(books, body.account)
    cid = client_order_id(principal, idempotency_key)
    request = _request(body, principal, cid)
    if not await books.claimed(principal.user_id, idempotency_key):  # a retry gets its order
        await _refuse_what_the_broker_would(res, principal, request)
    try:
        claim = await books.claim(
            principal.user_id,
            idempotency_key,
            hashlib.sha256(body.model_dump_json().encode()).digest(),
            account["id"],
            cid,
        )
    except IdempotencyConflictError as exc:
        raise invalid("Idempotency-Key", str(exc), "header") from None
    try:
        await res.temporal.start_workflow(
            ORDER_WORKFLOW,
            request,
            id=order_workflow_id(cid),
            task_queue=TRADING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"{body.side} {body.volume} {body.symbol} on {body.account} "
            f"(API, {principal.subject})",
        )
    except WorkflowAlreadyStartedError:
        pass  # a retry: the order exists
    except RPCError as exc:
        if exc.status is RPCStatusCode.UNAVAILABLE and not claim.replayed:
            # Temporal was not reached: nothing was placed, and the key must not say it was
            await books.release(principal.user_id, idempotency_key, cid)
        raise  # a 503 naming Temporal: the trader knows the order is not placed
    handle = res.temporal.get_workflow_handle(order_workflow_id(cid))
    view = await _settled(handle, res.settings.api.accept_wait_s)
    response.headers["Location"] = f"/v1/orders/{cid}"
    if claim.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if view is None:
        return Order(
            id=cid,
            account=body.account,
            symbol=body.symbol,
            side=body.side,
            type=body.type,
            volume=body.volume,
            filled_volume=Decimal(0),
            price=body.price,
            stop_price=body.stop_price,
            state=OrderState.NEW.value,
        )
    if view.state in _LIVE:
        response.status_code = status.HTTP_201_CREATED
    order = _view(view)
    return order.model_copy(update={"type": body.type, "price": body.price})


@router.get("/orders", summary="Orders, newest first")
async def list_orders(
    principal: Reader,
    books: Books,
    account: str | None = None,
    state: OrderState | None = None,
    symbol: str | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Order]:
    rows = await books.orders(
        limit + 1, decode(cursor), account, state.value if state else None, symbol
    )
    return Page[Order](
        items=[_row(r) for r in rows[:limit]],
        next_cursor=next_cursor(rows, limit, lambda r: (r["created_at"], r["id"])),
    )


async def _owned(books: TenantBooks, order_id: str) -> asyncpg.Record | None:
    """The order's row, None while only its workflow knows it; 404 when it is not the
    caller's tenant's (or does not exist: the two are not told apart)."""
    row = await books.order(order_id)
    if row is None and await books.placed(order_id) is None:
        raise HTTPException(404, f"no order {order_id!r}")
    return row


@router.get("/orders/{order_id}", summary="One order, live from its workflow while it runs")
async def get_order(order_id: str, principal: Reader, res: Res, books: Books) -> Order:
    row = await _owned(books, order_id)
    view = await _query(res.temporal.get_workflow_handle(order_workflow_id(order_id)), 1.0)
    if view is not None:
        return _view(view, row)
    if row is None:  # placed, but no worker has picked it up yet
        raise HTTPException(503, "the order is placed but not yet visible; retry shortly")
    return _row(row)


async def _update(
    res: Res, books: TenantBooks, order_id: str, name: str, argument: Any
) -> UpdateOutcome:
    row = await _owned(books, order_id)
    handle = res.temporal.get_workflow_handle(order_workflow_id(order_id))
    try:
        result: UpdateResult = await handle.execute_update(
            name, argument, result_type=UpdateResult, rpc_timeout=timedelta(seconds=15)
        )
    except (RPCError, WorkflowUpdateFailedError):
        state = row["state"] if row else "unknown"
        raise HTTPException(409, f"the order is {state}; it cannot be changed") from None
    if not result.accepted:
        raise HTTPException(409, result.reason or f"{name} refused")
    view = await _query(handle, 1.0)
    return UpdateOutcome(
        accepted=True, reason=result.reason, order=_view(view, row) if view else None
    )


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel a working order",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "the order is filled, cancelled or otherwise final"}},
)
async def cancel_order(
    order_id: str, principal: Trader, res: Res, books: Books, body: CancelOrder | None = None
) -> UpdateOutcome:
    request = CancelRequest(reason=(body or CancelOrder()).reason)
    return await _update(res, books, order_id, "cancel", request)


@router.patch(
    "/orders/{order_id}",
    summary="Amend a working order's price or volume",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "the order cannot be amended (final, or the broker refused)"}},
)
async def amend_order(
    order_id: str, body: AmendOrder, principal: Trader, res: Res, books: Books
) -> UpdateOutcome:
    if body.price is None and body.volume is None:
        raise invalid("price", "give a new price, a new volume, or both")
    request = AmendRequest(price=body.price, volume=body.volume)
    return await _update(res, books, order_id, "amend", request)
