"""Every route of the app against every kind of caller, from the app's own route table (as its
OpenAPI document lists it): a route added without an entry here fails
`test_every_route_has_an_entry`.

Callers: anonymous; another tenant's admin (who holds every tenant permission, so only
tenant scoping can stop them); tenant a's viewer, trader and admin; the platform operator.
A caller without the permission gets 403; one with it gets the route's success status, or,
for another tenant's object, 404 (never 403, which would tell that it exists).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.app import create_app
from config.settings import Settings
from tests.api.conftest import (
    BACKTEST_SYMBOL,
    PASSWORD,
    People,
    backtest_body,
    bearer,
    login,
)
from tests.trading_stack import Stack, decide

CALLERS = ("anonymous", "other tenant", "viewer", "trader", "admin", "operator")
GRANTS = {
    "other tenant": {"read", "trade", "manage"},
    "viewer": {"read"},
    "trader": {"read", "trade"},
    "admin": {"read", "trade", "manage"},
    "operator": {"read", "operate"},
}


@dataclass
class Ctx:
    client: httpx.AsyncClient
    people: People
    desk: Stack
    caller: str
    headers: dict[str, str]
    symbol: str  # one with stored bars and ticks

    @property
    def tenant_a(self) -> bool:
        return self.caller in ("viewer", "trader", "admin")

    async def working_order(self) -> str:
        """A fresh limit order of tenant a, resting at the paper broker."""
        token = (await login(self.client, self.people["a", "trader"]))["access_token"]
        placed = await self.client.post(
            "/v1/orders",
            json={
                "account": self.desk.account,
                "symbol": "EURUSD",
                "side": "buy",
                "volume": "0.01",
                "type": "limit",
                "price": "1.0900",
            },
            headers={**bearer(token), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert placed.status_code == 201, placed.text
        order_id: str = placed.json()["id"]
        return order_id

    async def key_of_caller(self) -> str:
        """An API key the caller owns (tenant a's admin's for callers with no own keys)."""
        person = {
            "viewer": self.people["a", "viewer"],
            "trader": self.people["a", "trader"],
        }.get(self.caller, self.people["a", "admin"])
        token = (await login(self.client, person))["access_token"]
        made = await self.client.post(
            "/v1/api-keys", json={"name": "m", "scopes": ["read"]}, headers=bearer(token)
        )
        key_id: str = made.json()["id"]
        return key_id


Call = Callable[[Ctx], Awaitable[tuple[str, dict[str, Any] | None]]]


async def _fixed(ctx: Ctx, path: str, body: dict[str, Any] | None = None) -> tuple[str, Any]:
    return path, body


def at(path: str, body: dict[str, Any] | None = None) -> Call:
    return lambda ctx: _fixed(ctx, path, body)


async def _login(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    return "/auth/login", {"email": ctx.people["a", "viewer"].email, "password": PASSWORD}


async def _refresh(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    pair = await login(ctx.client, ctx.people["a", "viewer"])
    return "/auth/refresh", {"refresh_token": pair["refresh_token"]}


async def _account(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/accounts/{ctx.desk.account}", None


async def _place(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    body = {"account": ctx.desk.account, "symbol": "EURUSD", "side": "buy", "volume": "0.01"}
    return "/v1/orders", body


async def _order(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/orders/{await ctx.working_order()}", None


async def _cancel(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/orders/{await ctx.working_order()}/cancel", None


async def _amend(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    return f"/v1/orders/{await ctx.working_order()}", {"price": "1.0910"}


async def _balance(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/accounts/{ctx.desk.account}/balance", None


async def _kill(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    """Engaged without flattening; the rearm route, next in order, lets the desk trade again."""
    return f"/v1/accounts/{ctx.desk.account}/kill", {"flatten": False}


async def _rearm(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/accounts/{ctx.desk.account}/rearm", None


async def _reconciliation(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/accounts/{ctx.desk.account}/reconciliation", None


async def _strategies(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/accounts/{ctx.desk.account}/strategies", None


def _switch(action: str) -> Call:
    async def call(ctx: Ctx) -> tuple[str, None]:
        return f"/v1/accounts/{ctx.desk.account}/strategies/ma_cross-50-200/{action}", None

    return call


_DECISIONS: dict[str, str] = {}  # desk account -> a finished decision of it


async def _decision(ctx: Ctx) -> tuple[str, None]:
    if ctx.desk.account not in _DECISIONS:
        _DECISIONS[ctx.desk.account] = await decide(ctx.desk, ctx.people["a", "trader"].tenant)
    return f"/v1/decisions/{_DECISIONS[ctx.desk.account]}", None


async def _lineage(ctx: Ctx) -> tuple[str, None]:
    url, _ = await _decision(ctx)
    return f"{url}/lineage", None


async def _quote(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/quotes/{ctx.symbol}", None


async def _bars(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/bars/{ctx.symbol}?start=2024-01-02T00:00:00Z&end=2024-01-03T00:00:00Z", None


_BACKTESTS: dict[str, str] = {}  # symbol -> a finished backtest of tenant a


async def _launch(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    return "/v1/backtests", backtest_body(BACKTEST_SYMBOL)


async def _tenant_a_backtest(ctx: Ctx) -> str:
    if BACKTEST_SYMBOL not in _BACKTESTS:
        token = (await login(ctx.client, ctx.people["a", "trader"]))["access_token"]
        made = await ctx.client.post(
            "/v1/backtests", json=backtest_body(BACKTEST_SYMBOL), headers=bearer(token)
        )
        assert made.status_code == 202, made.text
        _BACKTESTS[BACKTEST_SYMBOL] = made.json()["id"]
    return _BACKTESTS[BACKTEST_SYMBOL]


async def _backtest(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/backtests/{await _tenant_a_backtest(ctx)}", None


async def _cancel_backtest(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/backtests/{await _tenant_a_backtest(ctx)}/cancel", None


async def _revoke(ctx: Ctx) -> tuple[str, None]:
    return f"/v1/api-keys/{await ctx.key_of_caller()}", None


async def _new_user(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    email = f"u{uuid.uuid4().hex[:8]}@matrix.test"
    return "/v1/users", {"email": email, "password": PASSWORD, "role": "viewer"}


async def _new_tenant(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    return "/v1/tenants", {"slug": f"t-{uuid.uuid4().hex[:10]}", "name": "T"}


@dataclass(frozen=True)
class Rule:
    permission: str | None  # None: public
    call: Call
    ok: frozenset[int]
    scoped: bool = False  # names one object of tenant a: another tenant gets 404


def rule(permission: str | None, call: Call, *ok: int, scoped: bool = False) -> Rule:
    return Rule(permission, call, frozenset(ok), scoped)


ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): rule(None, at("/healthz"), 200),
    ("GET", "/readyz"): rule(None, at("/readyz"), 200),
    ("GET", "/metrics"): rule(None, at("/metrics"), 200),
    ("POST", "/auth/login"): rule(None, _login, 200),
    ("POST", "/auth/refresh"): rule(None, _refresh, 200),
    ("POST", "/auth/logout"): rule("read", at("/auth/logout", {}), 204),
    ("GET", "/v1/me"): rule("read", at("/v1/me"), 200),
    ("POST", "/v1/api-keys"): rule(
        "read", at("/v1/api-keys", {"name": "k", "scopes": ["read"]}), 201
    ),
    ("GET", "/v1/api-keys"): rule("read", at("/v1/api-keys"), 200),
    ("DELETE", "/v1/api-keys/{key_id}"): rule("read", _revoke, 204, scoped=True),
    ("GET", "/v1/users"): rule("manage", at("/v1/users"), 200),
    ("POST", "/v1/users"): rule("manage", _new_user, 201),
    ("GET", "/v1/tenants"): rule("operate", at("/v1/tenants"), 200),
    ("POST", "/v1/tenants"): rule("operate", _new_tenant, 201),
    ("GET", "/v1/accounts"): rule("read", at("/v1/accounts"), 200),
    ("GET", "/v1/accounts/{account}"): rule("read", _account, 200, scoped=True),
    ("GET", "/v1/positions"): rule("read", at("/v1/positions"), 200),
    ("GET", "/v1/fills"): rule("read", at("/v1/fills"), 200),
    ("POST", "/v1/orders"): rule("trade", _place, 201, 202, scoped=True),
    ("GET", "/v1/orders"): rule("read", at("/v1/orders"), 200),
    ("GET", "/v1/orders/{order_id}"): rule("read", _order, 200, scoped=True),
    ("POST", "/v1/orders/{order_id}/cancel"): rule("trade", _cancel, 202, scoped=True),
    ("PATCH", "/v1/orders/{order_id}"): rule("trade", _amend, 202, scoped=True),
    ("GET", "/v1/accounts/{account}/balance"): rule("read", _balance, 200, scoped=True),
    ("GET", "/v1/accounts/{account}/strategies"): rule("read", _strategies, 200, scoped=True),
    ("POST", "/v1/accounts/{account}/kill"): rule("trade", _kill, 200, scoped=True),
    ("POST", "/v1/accounts/{account}/rearm"): rule("trade", _rearm, 200, scoped=True),
    ("GET", "/v1/accounts/{account}/reconciliation"): rule(
        "read", _reconciliation, 200, scoped=True
    ),
    ("POST", "/v1/accounts/{account}/strategies/{strategy}/start"): rule(
        "trade", _switch("start"), 200, scoped=True
    ),
    ("POST", "/v1/accounts/{account}/strategies/{strategy}/stop"): rule(
        "trade", _switch("stop"), 200, scoped=True
    ),
    ("GET", "/v1/decisions"): rule("read", at("/v1/decisions"), 200),
    ("GET", "/v1/decisions/{decision_id}"): rule("read", _decision, 200, scoped=True),
    ("GET", "/v1/decisions/{decision_id}/lineage"): rule("read", _lineage, 200, scoped=True),
    ("GET", "/v1/symbols"): rule("read", at("/v1/symbols"), 200),
    ("GET", "/v1/quotes/{symbol}"): rule("read", _quote, 200),
    ("GET", "/v1/bars/{symbol}"): rule("read", _bars, 200),
    ("POST", "/v1/backtests"): rule("trade", _launch, 202),
    ("GET", "/v1/backtests"): rule("read", at("/v1/backtests"), 200),
    ("GET", "/v1/backtests/{run_id}"): rule("read", _backtest, 200, scoped=True),
    ("POST", "/v1/backtests/{run_id}/cancel"): rule("trade", _cancel_backtest, 202, scoped=True),
}


def route_table() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, as its OpenAPI document lists them."""
    paths = create_app(Settings()).openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_route_has_an_entry() -> None:
    table = route_table()
    assert table - set(ROUTES) == set(), "routes without an entry in the matrix"
    assert set(ROUTES) - table == set(), "entries of routes that are gone"


def expected(rule: Rule, caller: str) -> frozenset[int]:
    if rule.permission is None:
        return rule.ok
    if caller == "anonymous":
        return frozenset({401})
    if rule.permission not in GRANTS[caller]:
        return frozenset({403})
    if rule.scoped and caller in ("other tenant", "operator"):
        return frozenset({404})
    return rule.ok


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_the_route_answers_the_caller_as_its_rule_says(
    app_client: httpx.AsyncClient,
    people: People,
    desk: Stack,
    tokens: dict[tuple[str, str], str],
    stored_symbol: str,
    backtest_symbol: str,
    route: tuple[str, str],
    caller: str,
) -> None:
    person = {
        "other tenant": people["b", "admin"],
        "viewer": people["a", "viewer"],
        "trader": people["a", "trader"],
        "admin": people["a", "admin"],
        "operator": people.operator,
    }.get(caller)
    token = {
        "other tenant": tokens["b", "admin"],
        "viewer": tokens["a", "viewer"],
        "trader": tokens["a", "trader"],
        "admin": tokens["a", "admin"],
        "operator": tokens["ops", "operator"],
    }.get(caller)
    if person is not None and route == ("POST", "/auth/logout"):
        token = (await login(app_client, person))["access_token"]  # not spoil the shared one
    headers = bearer(token) if token else {}
    ctx = Ctx(app_client, people, desk, caller, headers, stored_symbol)
    method, _ = route
    rule_ = ROUTES[route]
    path, body = await rule_.call(ctx)
    if method == "POST" and path == "/v1/orders":
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    response = await app_client.request(method, path, json=body, headers=headers)
    assert response.status_code in expected(rule_, caller), response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
