"""Opaque cursors for keyset pagination: the (time, id) of a page's last row, base64url."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Query

from adapters.postgres.tenant_books import Keyset
from api.problems import invalid

Limit = Annotated[int, Query(ge=1, le=500, description="rows per page")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page")
]

R = TypeVar("R")


def decode(cursor: str | None) -> Keyset | None:
    if cursor is None:
        return None
    try:
        at, _, row = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), uuid.UUID(row)
    except ValueError:
        raise invalid("cursor", "not a cursor this API gave out", "query") from None


def next_cursor(rows: Sequence[R], limit: int, key: Callable[[R], Keyset]) -> str | None:
    """The cursor after `rows` when a page was full (the query asked for one row more)."""
    if len(rows) <= limit:
        return None
    at, row = key(rows[limit - 1])
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row}".encode()).decode()
