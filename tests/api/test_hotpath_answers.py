"""What a route says when the account's hot path answers no, or not at all."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import HTTPException

from api.hotpath import HotpathRefusalError, ask
from domain.messages import Command, Kill, Reply


class Link:
    def __init__(self, reply: Reply | None) -> None:
        self.reply = reply

    async def ask(self, account: str, command_id: str, command: Command, *_: Any) -> Reply | None:
        return self.reply


async def test_a_refusal_is_a_409_with_the_hot_paths_reason() -> None:
    res: Any = SimpleNamespace(hotpath=Link(Reply(False, error="kill version 2 is not known here")))
    with pytest.raises(HotpathRefusalError) as refused:
        await ask(res, "demo", Kill())
    assert (refused.value.status_code, refused.value.detail) == (
        409,
        "kill version 2 is not known here",
    )


async def test_no_answer_is_a_503_to_retry() -> None:
    res: Any = SimpleNamespace(hotpath=Link(None))
    with pytest.raises(HTTPException) as away:
        await ask(res, "demo", Kill())
    assert (away.value.status_code, away.value.headers) == (503, {"Retry-After": "5"})
