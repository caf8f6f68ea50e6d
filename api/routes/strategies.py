"""The strategies an account's hot path runs: listed with their parameters, stopped and
started. The hot path holds the truth (and keeps the switches across restarts); the API asks
it over the account's command stream."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException

from adapters.postgres.tenant_books import TenantBooks
from api.guards import Books, Reader, Res, Trader, tenant_account
from api.hotpath import HotpathRefusalError, ask
from api.resources import Resources
from api.schemas.trading import Strategy
from domain.messages import ListStrategies, SetStrategy

router = APIRouter(prefix="/v1/accounts/{account}/strategies", tags=["strategies"])

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_AWAY: dict[int | str, dict[str, Any]] = {
    503: {"description": "the account's hot path is not answering"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such account in your tenant, or no such strategy"}
}


def strategy_id(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-")


async def _strategies(res: Resources, books: TenantBooks, account: str) -> list[Strategy]:
    await tenant_account(books, account)
    answer = await ask(res, account, ListStrategies())
    return [Strategy(id=strategy_id(s["name"]), **s) for s in answer.get("strategies", [])]


@router.get(
    "",
    summary="The strategies the account runs, with their parameters",
    responses={**_NOT_FOUND, **_AWAY},
)
async def list_strategies(
    account: str, principal: Reader, res: Res, books: Books
) -> list[Strategy]:
    return await _strategies(res, books, account)


async def _switch(
    res: Resources, books: TenantBooks, account: str, strategy: str, enabled: bool
) -> Strategy:
    running = await _strategies(res, books, account)
    found = next((s for s in running if s.id == strategy), None)
    if found is None:
        known = ", ".join(s.id for s in running) or "none"
        raise HTTPException(404, f"no strategy {strategy!r} on {account!r}; it runs: {known}")
    try:
        answer = await ask(res, account, SetStrategy(name=found.name, enabled=enabled))
    except HotpathRefusalError as exc:  # stopped meanwhile by a restart with other strategies
        raise HTTPException(404, exc.detail) from None
    return found.model_copy(update={"enabled": answer["enabled"]})


@router.post(
    "/{strategy}/start",
    summary="Start acting on the strategy's signals",
    responses={**_NOT_FOUND, **_AWAY},
)
async def start_strategy(
    account: str, strategy: str, principal: Trader, res: Res, books: Books
) -> Strategy:
    return await _switch(res, books, account, strategy, True)


@router.post(
    "/{strategy}/stop",
    summary="Stop acting on its signals; open positions and working orders stay as they are",
    responses={**_NOT_FOUND, **_AWAY},
)
async def stop_strategy(
    account: str, strategy: str, principal: Trader, res: Res, books: Books
) -> Strategy:
    return await _switch(res, books, account, strategy, False)
