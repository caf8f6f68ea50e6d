"""Sign-in, tokens, API keys, users and tenants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas.base import Input, Output
from api.security.passwords import MIN_LENGTH


class Login(Input):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshInput(Input):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutInput(Input):
    refresh_token: str | None = Field(default=None, max_length=200)


class TokenPair(Output):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the OAuth 2 token type)
    expires_in: int = Field(description="seconds the access token lives")
    refresh_token: str
    refresh_expires_in: int


class Me(Output):
    user_id: uuid.UUID
    tenant: str
    role: str
    tier: str
    permissions: list[str]
    api_key_id: uuid.UUID | None = None


Scope = Literal["read", "trade"]


class NewApiKey(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=2)


class ApiKey(Output):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    owner: uuid.UUID
    created_at: datetime
    revoked_at: datetime | None = None


class CreatedApiKey(ApiKey):
    key: str = Field(description="shown this once; store it now")


class NewUser(Input):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    password: str = Field(min_length=MIN_LENGTH, max_length=1024)
    role: Literal["viewer", "trader", "admin"]


class User(Output):
    id: uuid.UUID
    email: str
    role: str
    disabled: bool


class NewTenant(Input):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    tier: Literal["free", "pro", "institutional"] = "free"


class Tenant(Output):
    id: uuid.UUID
    slug: str
    tier: str
