"""`aitp account kill | rearm` and `aitp books check` against a running account: the kill
switch reaches its hot path and the flattening reaches the books; a check compares the books
with the venue and says so."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from domain.paper import PaperConfig
from tests.conftest import RunningPlatform
from tests.trading_stack import Stack, trading_stack


@pytest.fixture
async def stack(platform: RunningPlatform) -> AsyncIterator[Stack]:
    paper = PaperConfig(commission_per_lot=Decimal("3.5"))
    async with trading_stack(platform, paper=paper, reconcile_s=0.5) as running:
        yield running


async def run(aitp: list[str], platform: RunningPlatform, *args: str) -> tuple[int, str, str]:
    """The command in its own process, while this test's hot path keeps serving."""
    proc = await asyncio.create_subprocess_exec(
        *aitp,
        *args,
        env=platform.cli_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_kill_with_flatten_then_a_check_finds_the_books_equal_to_the_venue(
    aitp: list[str], platform: RunningPlatform, stack: Stack
) -> None:
    handle = await stack.start("cli-1", volume=Decimal("0.20"))
    await asyncio.wait_for(handle.result(), 30)
    code, out, err = await run(
        aitp, platform, "account", "kill", stack.account, "--flatten", "--yes"
    )
    assert code == 0, err
    assert f"kill switch engaged on {stack.account}" in out
    assert re.search(r"closing orders: \w", out), out
    assert "closing orders: none" not in out
    for _ in range(600):
        if await stack.book.positions(stack.account) == {}:
            break
        await asyncio.sleep(0.05)
    assert await stack.book.positions(stack.account) == {}

    code, out, err = await run(aitp, platform, "books", "check", stack.account)
    assert code == 0, out + err
    assert re.search(r"status\W+(equal|repaired)\W", out), out
    assert re.search(r"deals at the venue\W+2\W", out), out  # the opening and the closing deal

    code, out, _ = await run(aitp, platform, "account", "rearm", stack.account)
    assert (code, out.strip()) == (0, f"{stack.account} re-armed: orders are taken again")


async def test_an_account_nobody_runs_is_named_with_the_fix(
    aitp: list[str], platform: RunningPlatform
) -> None:
    code, _, err = await run(aitp, platform, "account", "rearm", "nobody-runs-this")
    assert code == 1
    assert "the hot path of 'nobody-runs-this' did not answer" in err
    assert "aitp status" in err
    assert "Traceback" not in err
