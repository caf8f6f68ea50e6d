"""Every money limit of the risk gate fires through the running `python -m hotpath` process,
configured as an operator configures it (AITP_RISK__*), against the account it really holds:
margin refuses, gross exposure refuses, a daily loss leaves only reducing orders, and a larger
one halts everything but the kill switch's flattening."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from adapters.redis.event_bus import RedisStreamBus
from domain.messages import Kill, QueryOrder, QueryPositions, SubmitOrder
from domain.orders import Side
from tests.conftest import RunningPlatform
from tests.hotpath_client import hotpath_env, send_command, start_hotpath, wait_reply

pytestmark = pytest.mark.slow


@dataclass
class Desk:
    """A running hot path and a way to trade on it."""

    account: str
    bus: RedisStreamBus
    client: aioredis.Redis
    ids: itertools.count[int]

    async def order(self, side: Side, lots: str) -> dict[str, Any]:
        """The hot path's answer to one market order (sent again while it has no quote yet)."""
        while True:
            cid = f"r-{next(self.ids)}"
            command = SubmitOrder(
                client_order_id=cid, symbol="EURUSD", side=side, volume=Decimal(lots)
            )
            await send_command(self.bus, self.account, cid, command)
            reply = await wait_reply(self.client, self.account, cid)
            data: dict[str, Any] = reply["data"]  # type: ignore[assignment]
            if data.get("reason") == "no_quote":
                await asyncio.sleep(0.1)
                continue
            while data["state"] == "accepted":  # a market order fills on the next tick
                await asyncio.sleep(0.02)
                data = await self.ask(QueryOrder(client_order_id=cid))
            return data

    async def ask(self, command: Any) -> dict[str, Any]:
        cid = f"q-{next(self.ids)}"
        await send_command(self.bus, self.account, cid, command)
        data: dict[str, Any] = (await wait_reply(self.client, self.account, cid))["data"]  # type: ignore[assignment]
        return data

    async def held(self) -> Decimal:
        positions = (await self.ask(QueryPositions()))["positions"]
        return sum((Decimal(v) for v in positions.values()), Decimal(0))


@contextlib.asynccontextmanager
async def desk(
    platform: RunningPlatform, data_dir: Path, balance: str, **risk: str
) -> AsyncIterator[Desk]:
    account = f"risk{uuid.uuid4().hex[:6]}"
    env = hotpath_env(
        redis__url=platform.redis_url,
        data_dir=str(data_dir),
        **{f"risk__{name}": value for name, value in risk.items()},
    )
    proc = await start_hotpath(env, "--account", account, "--balance", balance)
    client = aioredis.from_url(platform.redis_url)
    try:
        yield Desk(account, RedisStreamBus(client), client, itertools.count(1))
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await client.aclose()


async def test_margin_refuses_an_order_the_free_margin_cannot_carry(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    """1,000 USD at 1:10: 0.05 lots of EURUSD need about 543 USD, two of them more than the
    equity."""
    async with desk(platform, tmp_path, "1000", leverage="10") as d:
        assert (await d.order(Side.BUY, "0.05"))["state"] == "filled"
        refused = await d.order(Side.BUY, "0.05")
        assert (refused["state"], refused["reason"]) == ("rejected", "insufficient_margin")
        assert (await d.order(Side.SELL, "0.05"))["state"] == "filled"  # reducing needs none


async def test_gross_exposure_refuses_growth_and_lets_a_reduction_through(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    async with desk(platform, tmp_path, "100000", max_gross_exposure="15000") as d:
        assert (await d.order(Side.BUY, "0.10"))["state"] == "filled"  # about 10,850 USD
        refused = await d.order(Side.BUY, "0.10")
        assert (refused["state"], refused["reason"]) == ("rejected", "max_gross_exposure")
        assert (await d.order(Side.SELL, "0.10"))["state"] == "filled"
        assert await d.held() == 0


async def test_a_daily_loss_leaves_only_orders_that_reduce(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    """Round trips pay the spread each time; once the day's loss passes the limit, an order
    that would add is refused and one that reduces goes through. (Whether a later addition is
    refused again depends on where the random market has taken the open position since.)"""
    async with desk(platform, tmp_path, "100000", daily_loss_reduce_only="100") as d:
        assert (await d.order(Side.BUY, "2"))["state"] == "filled"
        for n in range(200):  # each size once: the same order repeated is refused on its own
            lots = str(Decimal("0.50") + Decimal(n) / 100)
            added = await d.order(Side.BUY, lots)
            if added["state"] == "rejected":
                break
            assert (await d.order(Side.SELL, lots))["state"] == "filled"
        assert (added["state"], added["reason"]) == ("rejected", "reduce_only_daily_loss")
        assert (await d.order(Side.SELL, "1"))["state"] == "filled"  # reduces: allowed
        assert await d.held() == 1


async def test_a_larger_daily_loss_halts_all_but_the_kill_switchs_flattening(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    async with desk(
        platform, tmp_path, "100000", daily_loss_reduce_only="1000000", daily_loss_halt="100"
    ) as d:
        assert (await d.order(Side.BUY, "1"))["state"] == "filled"
        for n in range(200):  # losing round trips until even a reduction is refused
            closing = await d.order(Side.SELL, str(Decimal("0.01") * (1 + n % 40)))
            if closing["state"] == "rejected":
                break
            lots = str(Decimal("0.50") + Decimal(n) / 100)
            if (await d.order(Side.BUY, lots))["state"] == "filled":
                closing = await d.order(Side.SELL, lots)
                if closing["state"] == "rejected":  # the buy's own spread crossed the limit
                    break
        assert (closing["state"], closing["reason"]) == ("rejected", "halted_daily_loss")
        killed = await d.ask(Kill(flatten=True))
        assert len(killed["flattened"]) == 1
        for _ in range(100):
            if await d.held() == 0:
                break
            await asyncio.sleep(0.05)
        assert await d.held() == 0
