"""The caller of a request and what it may do.

A role grants permissions; an API key can only narrow its owner's (a `read` key of a trader
cannot trade). The operator runs the platform, not a book: it may read and manage tenants, but
not trade.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Permission(enum.StrEnum):
    READ = "read"  # accounts, positions, orders, fills, decisions, market data
    TRADE = "trade"  # place, cancel and amend orders; start and stop strategies; backtests
    MANAGE = "manage"  # the tenant's users and API keys
    OPERATE = "operate"  # tenants and tiers across the platform


class Role(enum.StrEnum):
    VIEWER = "viewer"
    TRADER = "trader"
    ADMIN = "admin"
    OPERATOR = "operator"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.TRADER: frozenset({Permission.READ, Permission.TRADE}),
    Role.ADMIN: frozenset({Permission.READ, Permission.TRADE, Permission.MANAGE}),
    Role.OPERATOR: frozenset({Permission.READ, Permission.OPERATE}),
}

# what an API key's scopes may keep of its owner's permissions
SCOPES: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.READ}),
    "trade": frozenset({Permission.READ, Permission.TRADE}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str
    role: Role
    tier: str
    permissions: frozenset[Permission]
    key_id: uuid.UUID | None = None  # set when the caller is a program with an API key
    token_id: str | None = None  # the access token's jti, to revoke it at logout
    token_expires_at: int | None = None

    @classmethod
    def of(
        cls,
        *,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        tenant: str,
        role: str,
        tier: str,
        scopes: tuple[str, ...] | None = None,
        key_id: uuid.UUID | None = None,
        token_id: str | None = None,
        token_expires_at: int | None = None,
    ) -> Principal:
        granted = GRANTS[Role(role)]
        if scopes is not None:
            allowed = frozenset().union(*(SCOPES[s] for s in scopes if s in SCOPES))
            granted = granted & allowed
        return cls(
            user_id,
            tenant_id,
            tenant,
            Role(role),
            tier,
            granted,
            key_id,
            token_id,
            token_expires_at,
        )

    @property
    def subject(self) -> str:
        """Whose bucket a request is counted in: the key's for programs, else the user's."""
        return f"key:{self.key_id}" if self.key_id else f"user:{self.user_id}"
