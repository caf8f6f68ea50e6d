"""Sign-in and sign-out, refresh, the caller's identity, API keys, users and tenants."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Request, status

from adapters.postgres.identity import ApiKeyRecord, IdentityError, Refresh, UserRecord
from api.guards import Manager, Operator, Reader, Res, unauthorized
from api.ratelimit import Bucket
from api.schemas.auth import (
    ApiKey,
    CreatedApiKey,
    Login,
    LogoutInput,
    Me,
    NewApiKey,
    NewTenant,
    NewUser,
    RefreshInput,
    Tenant,
    TokenPair,
    User,
)
from api.security.credentials import digest, new_api_key, new_refresh_token
from api.security.passwords import hash_password, needs_rehash, verify_password
from api.security.principal import SCOPES, Permission, Principal

router = APIRouter()

_REFRESH_REFUSED = {
    Refresh.UNKNOWN: "unknown refresh token",
    Refresh.EXPIRED: "refresh token expired; sign in again",
    Refresh.REVOKED: "refresh token revoked; sign in again",
    Refresh.REUSED: "refresh token already used: every session of that sign-in is revoked",
}


async def _login_rate(request: Request, res: Res) -> None:
    """Password guessing is slowed per client address before any hash is checked."""
    per_minute = res.settings.api.login_per_minute
    bucket = Bucket("login", per_minute / 60, per_minute)
    host = request.client.host if request.client else "unknown"
    verdict = await res.limiter.hit(bucket, f"ip:{host}")
    if not verdict.allowed:
        raise HTTPException(429, "too many sign-in attempts; wait and retry", verdict.headers())


def _refresh_expiry(res: Res) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=res.settings.api.refresh_ttl_s)


def _pair(res: Res, user: UserRecord, refresh: str) -> TokenPair:
    """A fresh access token for `user`, beside the refresh token just stored for them."""
    access = res.tokens.issue(
        user_id=user.id,
        tenant_id=user.tenant_id,
        tenant=user.tenant,
        role=user.role,
        tier=user.tier,
    )
    return TokenPair(
        access_token=access,
        expires_in=res.tokens.ttl_s,
        refresh_token=refresh,
        refresh_expires_in=res.settings.api.refresh_ttl_s,
    )


@router.post(
    "/auth/login",
    tags=["auth"],
    summary="Sign in: an access token and a refresh token",
    dependencies=[Depends(_login_rate)],
    responses={401: {"description": "email or password is wrong"}},
)
async def login(body: Login, res: Res) -> TokenPair:
    user = await res.identity.user_by_email(body.email)
    ok = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, body.password
    )
    if user is None or not ok or user.disabled:
        raise unauthorized("email or password is wrong")
    if needs_rehash(user.password_hash):
        rehashed = await asyncio.to_thread(hash_password, body.password)
        await res.identity.set_password_hash(user.id, rehashed)
    refresh_token = new_refresh_token()
    await res.identity.start_family(user.id, digest(refresh_token), _refresh_expiry(res))
    return _pair(res, user, refresh_token)


@router.post(
    "/auth/refresh",
    tags=["auth"],
    summary="Trade a refresh token for a new pair; the old one is spent",
    responses={401: {"description": "unknown, expired, revoked or reused refresh token"}},
)
async def refresh(body: RefreshInput, res: Res) -> TokenPair:
    successor = new_refresh_token()
    outcome = await res.identity.rotate(
        digest(body.refresh_token), digest(successor), _refresh_expiry(res)
    )
    if outcome.result is not Refresh.ROTATED or outcome.user is None:
        raise unauthorized(_REFRESH_REFUSED[outcome.result])
    if outcome.user.disabled:
        raise unauthorized("user disabled")
    return _pair(res, outcome.user, successor)


@router.post(
    "/auth/logout",
    tags=["auth"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: this access token and the refresh token's sign-in stop working",
)
async def logout(body: LogoutInput, principal: Reader, res: Res) -> None:
    if principal.token_id and principal.token_expires_at:
        ttl = principal.token_expires_at - int(datetime.now(UTC).timestamp())
        await res.limiter.revoke_token(principal.token_id, ttl)
    if body.refresh_token:
        await res.identity.revoke_family(digest(body.refresh_token), principal.user_id)


@router.get("/v1/me", tags=["auth"], summary="Who the credential belongs to")
async def me(principal: Reader) -> Me:
    return Me(
        user_id=principal.user_id,
        tenant=principal.tenant,
        role=principal.role.value,
        tier=principal.tier,
        permissions=sorted(p.value for p in principal.permissions),
        api_key_id=principal.key_id,
    )


# --- API keys -------------------------------------------------------------------------------


def _key(record: ApiKeyRecord) -> ApiKey:
    return ApiKey(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        scopes=list(record.scopes),
        owner=record.user_id,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )


def _signed_in(principal: Principal) -> None:
    if principal.key_id is not None:
        raise HTTPException(403, "API keys cannot manage API keys; sign in as their owner")


@router.post(
    "/v1/api-keys",
    tags=["api keys"],
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key for yourself; the key is shown in this reply only",
)
async def create_key(body: NewApiKey, principal: Reader, res: Res) -> CreatedApiKey:
    _signed_in(principal)
    for scope in body.scopes:
        if not SCOPES[scope] <= principal.permissions:
            raise HTTPException(403, f"your role ({principal.role.value}) cannot grant {scope!r}")
    user = await res.identity.user_by_id(principal.user_id)
    if user is None:
        raise unauthorized("user no longer exists")
    key, prefix = new_api_key()
    record = await res.identity.create_key(
        user, body.name, prefix, digest(key), sorted(set(body.scopes))
    )
    return CreatedApiKey(**_key(record).model_dump(), key=key)


@router.get("/v1/api-keys", tags=["api keys"], summary="Your API keys (an admin: the tenant's)")
async def list_keys(principal: Reader, res: Res) -> list[ApiKey]:
    mine = None if Permission.MANAGE in principal.permissions else principal.user_id
    return [_key(k) for k in await res.identity.keys(principal.tenant_id, mine)]


@router.delete(
    "/v1/api-keys/{key_id}",
    tags=["api keys"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key; it stops working at once",
)
async def revoke_key(key_id: uuid.UUID, principal: Reader, res: Res) -> None:
    _signed_in(principal)
    mine = None if Permission.MANAGE in principal.permissions else principal.user_id
    if not await res.identity.revoke_key(principal.tenant_id, key_id, mine):
        raise HTTPException(404, "no such API key")


# --- users and tenants ----------------------------------------------------------------------


@router.get("/v1/users", tags=["users"], summary="The tenant's users")
async def list_users(principal: Manager, res: Res) -> list[User]:
    return [
        User(id=u.id, email=u.email, role=u.role, disabled=u.disabled)
        for u in await res.identity.users(principal.tenant_id)
    ]


@router.post("/v1/users", tags=["users"], status_code=status.HTTP_201_CREATED, summary="Add a user")
async def create_user(body: NewUser, principal: Manager, res: Res) -> User:
    password_hash = await asyncio.to_thread(hash_password, body.password)
    try:
        user = await res.identity.create_user(
            principal.tenant, body.email, password_hash, body.role
        )
    except IdentityError as exc:
        raise HTTPException(409, str(exc)) from None
    return User(id=user.id, email=user.email, role=user.role, disabled=user.disabled)


@router.get("/v1/tenants", tags=["tenants"], summary="Every tenant (operators)")
async def list_tenants(principal: Operator, res: Res) -> list[Tenant]:
    return [
        Tenant(id=r["id"], slug=r["slug"], tier=r["tier"]) for r in await res.identity.tenants()
    ]


@router.post(
    "/v1/tenants",
    tags=["tenants"],
    status_code=status.HTTP_201_CREATED,
    summary="Open a tenant (operators)",
)
async def create_tenant(body: NewTenant, principal: Operator, res: Res) -> Tenant:
    try:
        tenant_id = await res.identity.create_tenant(body.slug, body.name, body.tier)
    except IdentityError as exc:
        raise HTTPException(409, str(exc)) from None
    return Tenant(id=tenant_id, slug=body.slug, tier=body.tier)
