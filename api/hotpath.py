"""Asking an account's hot path from a route: a fresh command id, a short wait, and the
answers a client understands when the hot path is away (503) or refuses (the caller decides)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import HTTPException

from api.resources import Resources
from domain.messages import Command

ANSWER_WITHIN_S = 2.0


class HotpathRefusalError(HTTPException):
    """The hot path answered, and said no: a 409 with its reason, unless the route knows
    better (a strategy stopped meanwhile is a 404)."""

    def __init__(self, reason: str) -> None:
        super().__init__(409, reason)


async def ask(res: Resources, account: str, command: Command) -> dict[str, Any]:
    reply = await res.hotpath.ask(account, f"api-{uuid.uuid4().hex}", command, ANSWER_WITHIN_S)
    if reply is None:
        raise HTTPException(
            503,
            f"the hot path of account {account!r} did not answer within {ANSWER_WITHIN_S:g} s; "
            "is it running? (`aitp status`)",
            headers={"Retry-After": "5"},
        )
    if not reply.ok:
        raise HotpathRefusalError(reply.error or "refused")
    return dict(reply.data)
