"""Accounts, positions and fills (reads of the tenant's books), the books' reconciliation with
the venue, and the kill switch."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Response

from api.guards import Books, Reader, Res, Trader, tenant_account
from api.hotpath import ask
from api.pagination import Cursor, Limit, decode, next_cursor
from api.schemas.base import Page
from api.schemas.trading import (
    Account,
    Balance,
    Fill,
    KillRequest,
    KillSwitch,
    Position,
    Reconciliation,
)
from domain.messages import Kill, QueryBalance, Rearm

router = APIRouter(prefix="/v1", tags=["accounts"])
log = structlog.get_logger("aitp.api.accounts")


@router.get("/accounts", summary="Your tenant's trading accounts")
async def list_accounts(principal: Reader, books: Books) -> list[Account]:
    rows = await books.accounts()
    return [Account(id=r["code"], **{k: r[k] for k in _ACCOUNT}) for r in rows]


@router.get("/accounts/{account}", summary="One account")
async def get_account(account: str, principal: Reader, books: Books) -> Account:
    row = await tenant_account(books, account)
    return Account(id=row["code"], **{k: row[k] for k in _ACCOUNT})


_ACCOUNT = ("name", "broker", "currency", "leverage", "hedging", "created_at")


@router.get(
    "/accounts/{account}/balance",
    summary="Balance and equity now, from the account's hot path",
    responses={
        404: {"description": "no such account in your tenant"},
        503: {"description": "the account's hot path is not answering"},
    },
)
async def get_balance(account: str, principal: Reader, res: Res, books: Books) -> Balance:
    await tenant_account(books, account)
    return Balance(account=account, **await ask(res, account, QueryBalance()))


@router.post(
    "/accounts/{account}/kill",
    summary="Engage the kill switch: cancel every working order, refuse new ones, and close "
    "every position if asked",
    responses={
        404: {"description": "no such account in your tenant"},
        503: {"description": "the account's hot path is not answering"},
    },
)
async def kill(
    account: str, body: KillRequest, principal: Trader, res: Res, books: Books
) -> KillSwitch:
    """The flattening orders' fills reach `/v1/fills` (source `kill_switch`) and the positions
    go flat as soon as the venue fills them. Orders stay refused until `rearm`."""
    await tenant_account(books, account)
    answer = await ask(res, account, Kill(flatten=body.flatten))
    log.warning(
        "kill switch engaged", account=account, flatten=body.flatten, by=str(principal.user_id)
    )
    return KillSwitch(
        account=account,
        engaged=True,
        cancelled=answer.get("cancelled", []),
        flattened=answer.get("flattened", []),
    )


@router.post(
    "/accounts/{account}/rearm",
    summary="Re-arm after a kill: the account takes orders again",
    responses={
        404: {"description": "no such account in your tenant"},
        503: {"description": "the account's hot path is not answering"},
    },
)
async def rearm(account: str, principal: Trader, res: Res, books: Books) -> KillSwitch:
    await tenant_account(books, account)
    await ask(res, account, Rearm())
    log.warning("kill switch re-armed", account=account, by=str(principal.user_id))
    return KillSwitch(account=account, engaged=False)


@router.get(
    "/accounts/{account}/reconciliation",
    summary="The last comparison of the account's books with its venue, and its repairs",
    responses={404: {"description": "no such account in your tenant"}},
)
async def get_reconciliation(account: str, principal: Reader, books: Books) -> Reconciliation:
    await tenant_account(books, account)
    row = await books.reconciliation(account)
    if row is None:
        return Reconciliation(account=account, checked_at=None, status="never", repairs_total=0)
    report = row["report"]
    fields = ("venue_fills", "book_fills", "repaired_fills", "differences")
    return Reconciliation(
        account=account,
        checked_at=report["checked_at"],
        status=report["status"],
        repairs_total=row["repairs"],
        **{k: report[k] for k in fields if k in report},
    )


@router.get(
    "/positions",
    summary="Open positions, netted per symbol (per ticket on hedging)",
    response_model=list[Position],
)
async def list_positions(
    principal: Reader, res: Res, response: Response, account: str | None = None
) -> Response:
    """The kept document as it is: validating and serialising it again per request would cost
    more than the rest of the read. `response` carries the rate-limit headers the guard set."""
    document = await res.positions.document(principal.tenant_id, account)
    return Response(document, media_type="application/json", headers=response.headers)


@router.get("/fills", summary="Fills (broker deals), newest first")
async def list_fills(
    principal: Reader,
    books: Books,
    account: str | None = None,
    order_id: str | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Fill]:
    rows = await books.fills(limit + 1, decode(cursor), account, order_id)
    items = [
        Fill(
            id=r["id"],
            account=r["account"],
            order_id=r["client_order_id"],
            broker_fill_id=r["broker_fill_id"],
            symbol=r["symbol"],
            side=r["side"],
            volume=r["volume"],
            price=r["price"],
            commission=r["commission"],
            swap=r["swap"],
            profit=r["profit"],
            source=r["source"],
            repaired=r["repaired"],
            time=r["ts_event"],
        )
        for r in rows[:limit]
    ]
    return Page[Fill](
        items=items, next_cursor=next_cursor(rows, limit, lambda r: (r["ts_event"], r["id"]))
    )
