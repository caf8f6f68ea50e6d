"""FastAPI dependencies that admit a request: who calls, whether they may, and at what rate.

Every route but health, docs and sign-in depends on `require(...)`, which authenticates the
bearer credential (an access token, or an API key for programs), counts the request in the
caller's bucket and checks the permission, in that order: a revoked token is a 401 whatever
it asked, and a refused request still counts against the rate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adapters.postgres.tenant_books import TenantBooks
from api.ratelimit import Verdict, buckets_for
from api.resources import Resources
from api.security.credentials import digest, is_api_key
from api.security.principal import Permission, Principal
from api.security.tokens import TokenError

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An access token from POST /auth/login, or an API key (aitp_...)",
)


async def resources(request: Request) -> Resources:  # async: a plain def would hop threads
    res: Resources = request.app.state.resources
    return res


Res = Annotated[Resources, Depends(resources)]


def unauthorized(reason: str) -> HTTPException:
    description = reason.replace('"', "'")
    return HTTPException(
        401,
        reason,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


async def authenticate(
    res: Res,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            401,
            "credentials required: Authorization: Bearer <token or API key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await principal_of(res, credentials.credentials)


async def principal_of(res: Resources, credential: str) -> Principal:
    """The caller a bearer credential stands for; a 401 HTTPException when it stands for none."""
    if is_api_key(credential):
        found = await res.identity.key_by_digest(digest(credential))
        if found is None:
            raise unauthorized("unknown or revoked API key")
        key, user = found
        if user.disabled:
            raise unauthorized("the key's owner is disabled")
        return Principal.of(
            user_id=user.id,
            tenant_id=user.tenant_id,
            tenant=user.tenant,
            role=user.role,
            tier=user.tier,
            scopes=key.scopes,
            key_id=key.id,
        )
    try:
        claims = res.tokens.verify(credential)
    except TokenError as exc:
        raise unauthorized(str(exc)) from None
    return Principal.of(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        tenant=claims.tenant,
        role=claims.role,
        tier=claims.tier,
        token_id=claims.token_id,
        token_expires_at=claims.expires_at,
    )


async def admit(
    res: Resources, principal: Principal, permission: Permission, bucket: str = "api"
) -> Verdict:
    """Count the request in the caller's bucket, then check the permission; raises the
    401 (revoked token), 429 or 403 HTTPException that refuses it."""
    tiers = res.settings.api.tiers
    tier = tiers.get(principal.tier) or tiers["free"]
    verdict = await res.limiter.hit(
        buckets_for(tier)[bucket], principal.subject, principal.token_id
    )
    if verdict.revoked:
        raise unauthorized("token revoked")
    if not verdict.allowed:
        raise HTTPException(
            429,
            f"rate limit of the {principal.tier} tier's {bucket} bucket reached; "
            f"retry in {verdict.headers()['Retry-After']} s",
            headers=verdict.headers(),
        )
    if permission not in principal.permissions:
        how = "this API key's scopes do not" if principal.key_id else "your role does not"
        raise HTTPException(
            403,
            f"{how} allow {permission.value} ({principal.role.value})",
            headers=verdict.headers(),
        )
    return verdict


def require(permission: Permission, bucket: str = "api") -> Callable[..., Awaitable[Principal]]:
    """The dependency of a route that needs `permission`, counted in `bucket` (api|trading)."""

    async def guard(
        res: Res,
        response: Response,
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Principal:
        verdict = await admit(res, principal, permission, bucket)
        response.headers.update(verdict.headers())
        return principal

    guard.__name__ = f"require_{permission.value}_{bucket}"
    return guard


Reader = Annotated[Principal, Depends(require(Permission.READ))]
Trader = Annotated[Principal, Depends(require(Permission.TRADE, "trading"))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE))]
Operator = Annotated[Principal, Depends(require(Permission.OPERATE))]


async def tenant_books(
    res: Res, principal: Annotated[Principal, Depends(authenticate)]
) -> TenantBooks:
    """The books as the caller's tenant sees them. Routes read through this one scope, so no
    query can leave the tenant out; authentication runs once per request whoever asks."""
    return TenantBooks(res.pool, principal.tenant_id)


Books = Annotated[TenantBooks, Depends(tenant_books)]


async def tenant_account(books: TenantBooks, code: str) -> asyncpg.Record:
    """The caller's tenant's account by its code; another tenant's is as absent as none (404)."""
    row = await books.account(code)
    if row is None:
        raise HTTPException(404, f"no account {code!r}")
    return row
