"""Tenants, users, refresh tokens and API keys: who may call the API, kept in PostgreSQL.

Secrets never reach this module in the clear except as digests: passwords arrive hashed
(argon2id, by the caller) and tokens and keys as SHA-256 digests, so a dump of these tables
lets nobody sign in.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


class IdentityError(ValueError):
    """A request the identity tables refuse (a duplicate email, an unknown tenant)."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str
    tier: str
    email: str
    password_hash: str
    role: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


class Refresh(enum.Enum):
    """What a presented refresh token turned out to be."""

    ROTATED = "rotated"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REUSED = "reused"  # spent before: the family is revoked now


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    result: Refresh
    user: UserRecord | None = None


_USER = """SELECT u.id, u.tenant_id, t.slug AS tenant, t.tier, u.email, u.password_hash, u.role,
                  u.disabled
           FROM users u JOIN tenants t ON t.id = u.tenant_id"""
_KEY_COLUMNS = "id, tenant_id, user_id, name, prefix, scopes, created_at, revoked_at"
_KEY = f"SELECT {_KEY_COLUMNS} FROM api_keys"


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(**dict(row))


def _key(row: asyncpg.Record) -> ApiKeyRecord:
    values = dict(row)
    values["scopes"] = tuple(values["scopes"])
    return ApiKeyRecord(**values)


class IdentityStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- tenants and users ----------------------------------------------------------------

    async def ensure_tenant(
        self, slug: str, name: str | None = None, tier: str = "free"
    ) -> uuid.UUID:
        """The tenant's id, creating it on first use; an existing tenant keeps its tier."""
        tenant_id: uuid.UUID = await self._pool.fetchval(
            """INSERT INTO tenants (slug, name, tier) VALUES ($1, $2, $3)
               ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id""",
            slug,
            name or slug,
            tier,
        )
        return tenant_id

    async def create_tenant(self, slug: str, name: str, tier: str) -> uuid.UUID:
        tenant_id: uuid.UUID | None = await self._pool.fetchval(
            """INSERT INTO tenants (slug, name, tier) VALUES ($1, $2, $3)
               ON CONFLICT (slug) DO NOTHING RETURNING id""",
            slug,
            name,
            tier,
        )
        if tenant_id is None:
            raise IdentityError(f"a tenant {slug!r} exists already")
        return tenant_id

    async def tenants(self) -> list[asyncpg.Record]:
        return list(await self._pool.fetch("SELECT id, slug, tier FROM tenants ORDER BY slug"))

    async def create_user(
        self, tenant: str, email: str, password_hash: str, role: str
    ) -> UserRecord:
        try:
            user_id = await self._pool.fetchval(
                """INSERT INTO users (tenant_id, email, password_hash, role)
                   SELECT id, lower($2), $3, $4 FROM tenants WHERE slug = $1 RETURNING id""",
                tenant,
                email,
                password_hash,
                role,
            )
        except asyncpg.UniqueViolationError:
            raise IdentityError(f"a user with email {email!r} exists already") from None
        if user_id is None:
            raise IdentityError(f"no tenant {tenant!r}")
        user = await self.user_by_id(user_id)
        assert user is not None
        return user

    async def user_by_email(self, email: str) -> UserRecord | None:
        row = await self._pool.fetchrow(f"{_USER} WHERE u.email = lower($1)", email)
        return None if row is None else _user(row)

    async def user_by_id(self, user_id: uuid.UUID) -> UserRecord | None:
        row = await self._pool.fetchrow(f"{_USER} WHERE u.id = $1", user_id)
        return None if row is None else _user(row)

    async def users(self, tenant_id: uuid.UUID) -> list[UserRecord]:
        rows = await self._pool.fetch(f"{_USER} WHERE u.tenant_id = $1 ORDER BY u.email", tenant_id)
        return [_user(r) for r in rows]

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self._pool.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )

    # --- refresh tokens -------------------------------------------------------------------

    async def start_family(self, user_id: uuid.UUID, digest: bytes, expires_at: datetime) -> None:
        await self._pool.execute(
            """INSERT INTO refresh_tokens (family_id, user_id, digest, expires_at)
               VALUES (gen_random_uuid(), $1, $2, $3)""",
            user_id,
            digest,
            expires_at,
        )

    async def rotate(self, digest: bytes, successor: bytes, expires_at: datetime) -> RefreshOutcome:
        """Spend the token and issue its successor, in one transaction, so two concurrent
        refreshes with one token cannot both succeed: the second sees it spent."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT id, family_id, user_id, expires_at < now() AS expired, spent_at,
                          revoked_at
                   FROM refresh_tokens WHERE digest = $1 FOR UPDATE""",
                digest,
            )
            if row is None:
                return RefreshOutcome(Refresh.UNKNOWN)
            if row["revoked_at"] is not None:
                return RefreshOutcome(Refresh.REVOKED)
            if row["spent_at"] is not None:
                await conn.execute(
                    """UPDATE refresh_tokens SET revoked_at = now()
                       WHERE family_id = $1 AND revoked_at IS NULL""",
                    row["family_id"],
                )
                return RefreshOutcome(Refresh.REUSED)
            if row["expired"]:
                return RefreshOutcome(Refresh.EXPIRED)
            await conn.execute(
                "UPDATE refresh_tokens SET spent_at = now() WHERE id = $1", row["id"]
            )
            await conn.execute(
                """INSERT INTO refresh_tokens (family_id, user_id, digest, expires_at)
                   VALUES ($1, $2, $3, $4)""",
                row["family_id"],
                row["user_id"],
                successor,
                expires_at,
            )
            user = await conn.fetchrow(f"{_USER} WHERE u.id = $1", row["user_id"])
        return RefreshOutcome(Refresh.ROTATED, _user(user))

    async def revoke_family(self, digest: bytes, user_id: uuid.UUID) -> bool:
        """Sign out: the token's whole family, if the token is this user's."""
        done: str = await self._pool.execute(
            """UPDATE refresh_tokens SET revoked_at = now()
               WHERE revoked_at IS NULL AND family_id = (
                   SELECT family_id FROM refresh_tokens WHERE digest = $1 AND user_id = $2)""",
            digest,
            user_id,
        )
        return done != "UPDATE 0"

    # --- API keys -------------------------------------------------------------------------

    async def create_key(
        self, user: UserRecord, name: str, prefix: str, digest: bytes, scopes: Sequence[str]
    ) -> ApiKeyRecord:
        row = await self._pool.fetchrow(
            f"""INSERT INTO api_keys (tenant_id, user_id, name, prefix, digest, scopes)
                VALUES ($1, $2, $3, $4, $5, $6)
                RETURNING {_KEY_COLUMNS}""",
            user.tenant_id,
            user.id,
            name,
            prefix,
            digest,
            list(scopes),
        )
        return _key(row)

    async def key_by_digest(self, digest: bytes) -> tuple[ApiKeyRecord, UserRecord] | None:
        """A live key and its owner; None for an unknown or revoked key."""
        row = await self._pool.fetchrow(f"{_KEY} WHERE digest = $1 AND revoked_at IS NULL", digest)
        if row is None:
            return None
        key = _key(row)
        user = await self.user_by_id(key.user_id)
        return None if user is None else (key, user)

    async def keys(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID | None = None
    ) -> list[ApiKeyRecord]:
        """The tenant's keys, or one user's; revoked keys stay listed with their date."""
        rows = await self._pool.fetch(
            f"""{_KEY} WHERE tenant_id = $1 AND ($2::uuid IS NULL OR user_id = $2)
                ORDER BY created_at DESC""",
            tenant_id,
            user_id,
        )
        return [_key(r) for r in rows]

    async def revoke_key(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID, user_id: uuid.UUID | None = None
    ) -> bool:
        done: str = await self._pool.execute(
            """UPDATE api_keys SET revoked_at = now()
               WHERE id = $1 AND tenant_id = $2 AND ($3::uuid IS NULL OR user_id = $3)
                 AND revoked_at IS NULL""",
            key_id,
            tenant_id,
            user_id,
        )
        return done != "UPDATE 0"
