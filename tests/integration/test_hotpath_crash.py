"""kill -9 the hot path in the middle of orders, restart it: the books equal the venue's."""

from __future__ import annotations

import asyncio
import signal
import uuid
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from adapters.redis.event_bus import RedisStreamBus
from domain.messages import QueryPositions, SubmitOrder
from domain.orders import OrderType, Side
from tests.conftest import RunningPlatform
from tests.hotpath_client import all_replies, hotpath_env, send_command, start_hotpath, wait_reply

pytestmark = pytest.mark.slow


async def start(
    account: str, data_dir: Path, platform: RunningPlatform
) -> asyncio.subprocess.Process:
    env = hotpath_env(redis__url=platform.redis_url, data_dir=str(data_dir))
    return await start_hotpath(env, "--account", account, "--symbols", "EURUSD")


def venue_positions(journal: Path) -> dict[str, Decimal]:
    """The venue's truth, read straight from its journal: net volume per symbol."""
    net: dict[str, Decimal] = {}
    for line in journal.read_bytes().splitlines():
        record = orjson.loads(line)
        if record["type"] == "fill":
            fill = record["data"]
            signed = Decimal(fill["volume"]) * (1 if fill["side"] == "buy" else -1)
            net[fill["symbol"]] = net.get(fill["symbol"], Decimal(0)) + signed
    return {s: v for s, v in net.items() if v}


async def test_kill_9_mid_order_then_restart_keeps_books_equal_to_the_venue(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    account = f"k{uuid.uuid4().hex[:6]}"
    client = aioredis.from_url(platform.redis_url)
    bus = RedisStreamBus(client)
    proc = await start(account, tmp_path, platform)
    try:
        market = SubmitOrder(
            client_order_id="k-1", symbol="EURUSD", side=Side.BUY, volume=Decimal("0.3")
        )
        await send_command(bus, account, "c1", market)
        limit = SubmitOrder(
            client_order_id="k-2",
            symbol="EURUSD",
            side=Side.BUY,
            volume=Decimal("0.20"),
            order_type=OrderType.LIMIT,
            price=Decimal("1.0650"),
        )
        await send_command(bus, account, "c2", limit)
        assert (await wait_reply(client, account, "c2"))["ok"] is True
        # more orders in flight, then kill -9 at once: some may be done, some not yet read
        for n in range(3, 9):
            side = Side.SELL if n % 2 else Side.BUY
            order = SubmitOrder(
                client_order_id=f"k-{n}", symbol="EURUSD", side=side, volume=Decimal("0.1")
            )
            await send_command(bus, account, f"c{n}", order)
        await asyncio.sleep(0.15)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

        proc = await start(account, tmp_path, platform)
        for n in range(3, 9):  # every command is answered after the restart
            await wait_reply(client, account, f"c{n}")
        await send_command(bus, account, "q", QueryPositions())
        books = (await wait_reply(client, account, "q"))["data"]
        venue = venue_positions(tmp_path / "hotpath" / f"{account}.jsonl")
        assert {s: Decimal(v) for s, v in books["positions"].items()} == venue  # type: ignore[index]
        assert books["working"] == ["k-2"]  # type: ignore[index]
        answered = await all_replies(client, account)
        for n in range(1, 9):  # a command answered twice got the same answer both times
            answers = answered[f"c{n}"]
            assert all(a == answers[0] for a in answers), answers
        # each client order id reached the venue at most once
        ids = [
            orjson.loads(line)["data"]["client_order_id"]
            for line in (tmp_path / "hotpath" / f"{account}.jsonl").read_bytes().splitlines()
            if orjson.loads(line)["type"] == "submit"
        ]
        assert sorted(ids) == sorted(set(ids))
        assert len(ids) == 8
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
        await client.aclose()


async def test_a_second_hot_path_for_the_same_account_refuses_to_start(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    account = f"k{uuid.uuid4().hex[:6]}"
    first = await start(account, tmp_path, platform)
    try:
        await asyncio.sleep(2)
        second = await start(account, tmp_path, platform)
        assert await asyncio.wait_for(second.wait(), 30) == 2
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), 30)


async def test_at_start_the_hot_path_names_books_that_differ_from_the_broker(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    from adapters.postgres.orders import PostgresOrderBook
    from adapters.postgres.pool import create_pool
    from config.settings import PostgresSettings
    from domain.orders import Order, Side

    account = f"k{uuid.uuid4().hex[:6]}"
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    book = PostgresOrderBook(pool)
    await book.ensure_account(account)
    ghost = Order("ghost-1", "EURUSD", Side.BUY, Decimal("0.1"))
    ghost.submit()
    ghost.accept("T9")
    await book.record_order(account, ghost)  # the books say working; this broker never saw it
    await pool.close()
    env = hotpath_env(
        redis__url=platform.redis_url, postgres__url=platform.postgres_url, data_dir=str(tmp_path)
    )
    proc = await start_hotpath(env, "--account", account, "--symbols", "EURUSD", capture=True)
    await asyncio.sleep(3)
    proc.send_signal(signal.SIGTERM)
    raw, _ = await asyncio.wait_for(proc.communicate(), 30)
    lines = [orjson.loads(line) for line in raw.decode().splitlines() if line.startswith("{")]
    differ = [line for line in lines if line.get("event") == "the books differ from the broker"]
    assert [line["detail"] for line in differ] == [
        "order ghost-1 is accepted in the books but unknown to the broker"
    ]
