"""The hot path's edges on a real Redis: commands answered once in effect, events buffered
while the bus is down, and the `python -m hotpath` process end to end."""

from __future__ import annotations

import asyncio
import signal
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis

from adapters.redis.command_log import RedisCommandLog
from adapters.redis.event_bus import RedisStreamBus
from domain.clock import ManualClock
from domain.instruments import fx_major
from domain.market import QuoteTick
from domain.messages import (
    AmendOrder,
    FillReported,
    Kill,
    OrderAccepted,
    Rearm,
    SubmitOrder,
    commands_stream,
    dead_letter_stream,
    decode,
    events_stream,
    replies_stream,
)
from domain.orders import OrderType, Side
from domain.paper import PaperBroker
from domain.risk import RiskGate, RiskLimits
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.commands import CommandConsumer, CommandHandler
from hotpath.publisher import Publisher
from tests.conftest import RunningPlatform
from tests.hotpath_client import hotpath_env, send_command, send_raw, start_hotpath, wait_reply

NOW = 1_700_000_000 * 10**9


def make_engine(account: str) -> Engine:
    instruments = {"EURUSD": fx_major("EURUSD")}
    engine = Engine(
        account,
        instruments,
        [],
        PaperBroker(instruments),
        RiskGate(account, RiskLimits()),
        Outbox(),
        balance=Decimal(100_000),
    )
    engine.on_tick(QuoteTick("EURUSD", NOW, 1.1, 1.1002))
    return engine


async def run_until_replies(
    consumer: CommandConsumer, bus: RedisStreamBus, account: str, n: int
) -> list[dict[str, object]]:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(100):
            if await bus.length(replies_stream(account)) >= n:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    raw = await bus._redis.xrange(replies_stream(account))
    return [{"id": f[b"id"].decode(), **orjson.loads(f[b"reply"])} for _, f in raw]


@pytest.fixture
async def wiring(platform: RunningPlatform):
    account = f"t{uuid.uuid4().hex[:8]}"
    bus = RedisStreamBus.from_url(platform.redis_url)
    log = RedisCommandLog.from_url(platform.redis_url)
    engine = make_engine(account)
    consumer = CommandConsumer(account, bus, log, CommandHandler(engine), "c1", ManualClock(NOW))
    yield account, bus, engine, consumer
    await bus.close()
    await log.close()


async def test_a_command_delivered_twice_is_answered_twice_and_acted_on_once(wiring) -> None:
    account, bus, engine, consumer = wiring
    submit = SubmitOrder(
        client_order_id="o-1", symbol="EURUSD", side=Side.BUY, volume=Decimal("0.10")
    )
    await send_command(bus, account, "cmd-1", submit)
    await send_command(bus, account, "cmd-1", submit)  # the same command again
    replies = await run_until_replies(consumer, bus, account, 2)
    assert [r["id"] for r in replies] == ["cmd-1", "cmd-1"]
    assert replies[0] == replies[1]
    assert replies[0]["ok"] is True
    assert replies[0]["data"]["state"] == "accepted"  # type: ignore[index]
    assert list(engine.orders) == ["o-1"]
    assert (consumer.handled, consumer.replayed) == (1, 1)
    engine.on_tick(QuoteTick("EURUSD", NOW + 1, 1.1, 1.1002))
    assert engine.orders["o-1"].state.value == "filled"


async def test_a_new_command_for_a_known_order_never_submits_it_again(wiring) -> None:
    account, bus, engine, consumer = wiring
    submit = SubmitOrder(
        client_order_id="o-2", symbol="EURUSD", side=Side.SELL, volume=Decimal("0.1")
    )
    await send_command(bus, account, "a", submit)
    await send_command(bus, account, "b", submit)  # a retried activity with a fresh command id
    replies = await run_until_replies(consumer, bus, account, 2)
    assert [r["data"]["client_order_id"] for r in replies] == ["o-2", "o-2"]  # type: ignore[index]
    assert engine.stats.orders == 1


async def test_unreadable_commands_are_answered_and_dead_lettered_with_the_reason(
    wiring,
) -> None:
    account, bus, engine, consumer = wiring
    await send_raw(bus, account, "x1", "teleport", {})
    await send_raw(bus, account, "x2", "submit", {"client_order_id": "o-3", "symbol": "EURUSD"})
    bad_side = {"client_order_id": "o-4", "symbol": "EURUSD", "side": "up", "volume": "1"}
    await send_raw(bus, account, "x3", "submit", bad_side)
    fill = FillReported(
        fill_id="D1",
        client_order_id="o-5",
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal(1),
        price=Decimal("1.1"),
        ts=NOW,
    )
    await send_command(bus, account, "x4", fill)  # type: ignore[arg-type]  # no command
    replies = await run_until_replies(consumer, bus, account, 4)
    assert [r["ok"] for r in replies] == [False, False, False, False]
    assert str(replies[0]["error"]).startswith("unknown message type 'teleport'")
    assert "side: Field required" in str(replies[1]["error"])
    assert "volume: Field required" in str(replies[1]["error"])
    assert "side: Input should be 'buy' or 'sell'" in str(replies[2]["error"])
    assert engine.orders == {}
    dead = await bus._redis.xrange(dead_letter_stream(commands_stream(account)))
    reasons = {f[b"id"]: f[b"dead.reason"].decode() for _, f in dead}
    assert set(reasons) == {b"x1", b"x2", b"x3", b"x4"}
    assert reasons[b"x4"] == "fill is not a command"
    assert consumer.unreadable == 4
    assert await bus.pending(commands_stream(account), "hotpath") == 0  # none comes back


async def test_the_kill_switch_cancels_flattens_and_refuses_until_rearmed(wiring) -> None:
    account, bus, engine, consumer = wiring
    submit = SubmitOrder(client_order_id="o-5", symbol="EURUSD", side=Side.BUY, volume=Decimal(1))
    await send_command(bus, account, "k0", submit)
    await run_until_replies(consumer, bus, account, 1)
    engine.on_tick(QuoteTick("EURUSD", NOW + 1, 1.1, 1.1002))
    assert engine.book.net_volume("EURUSD") == 1
    await send_command(bus, account, "k1", Kill(flatten=True))
    again = SubmitOrder(client_order_id="o-6", symbol="EURUSD", side=Side.BUY, volume=Decimal(1))
    await send_command(bus, account, "k2", again)
    await send_command(bus, account, "k3", Rearm())
    replies = await run_until_replies(consumer, bus, account, 4)
    engine.on_tick(QuoteTick("EURUSD", NOW + 2, 1.1, 1.1002))
    assert replies[1]["data"]["engaged"] is True  # type: ignore[index]
    assert replies[2]["data"]["reason"] == "kill_switch"  # type: ignore[index]
    assert replies[3]["data"] == {"engaged": False}
    assert engine.book.net_volume("EURUSD") == 0


async def test_events_wait_in_the_outbox_while_the_bus_is_down(platform: RunningPlatform) -> None:
    outbox = Outbox()
    down = RedisStreamBus.from_url("redis://127.0.0.1:1/0")
    stream = f"events:t{uuid.uuid4().hex[:8]}"
    publisher = Publisher(outbox, down, stream)
    for n in range(5):
        outbox.emit(OrderAccepted(client_order_id=f"o-{n}"))
    with pytest.raises(Exception):  # noqa: B017, PT011  (whatever the client raises)
        await publisher.flush()
    assert len(outbox) == 5
    publisher.bus = RedisStreamBus.from_url(platform.redis_url)
    assert await publisher.flush() == 5
    assert len(outbox) == 0
    entries = await publisher.bus._redis.xrange(stream)
    assert [decode(f).message for _, f in entries] == [
        OrderAccepted(client_order_id=f"o-{n}") for n in range(5)
    ]
    await publisher.bus.close()
    await down.close()


@pytest.mark.slow
async def test_the_hotpath_process_trades_by_command_and_stops_cleanly(
    platform: RunningPlatform,
) -> None:
    account = f"p{uuid.uuid4().hex[:6]}"
    env = hotpath_env(redis__url=platform.redis_url, clickhouse__url=platform.clickhouse_url)
    args = ("--account", account, "--symbols", "EURUSD", "--strategy", "ma_cross:fast=2,slow=3")
    proc = await start_hotpath(env, *args, capture=True)
    client = aioredis.from_url(platform.redis_url)
    try:
        bus = RedisStreamBus(client)
        submit = SubmitOrder(
            client_order_id="p-1", symbol="EURUSD", side=Side.BUY, volume=Decimal("0.1")
        )
        await send_command(bus, account, "p1", submit)
        reply = await wait_reply(client, account, "p1")
        assert reply["ok"] is True
        kinds: set[str] = set()
        for _ in range(100):
            kinds = {f[b"type"].decode() for _, f in await client.xrange(events_stream(account))}
            if {"quote", "fill"} <= kinds:
                break
            await asyncio.sleep(0.05)
        assert {"quote", "order_accepted", "fill"} <= kinds
    finally:
        proc.send_signal(signal.SIGTERM)
        raw, _ = await asyncio.wait_for(proc.communicate(), 30)
        await client.aclose()
    out = raw.decode()
    assert proc.returncode == 0, out
    lines = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "hot path stopped" for line in lines)


@pytest.mark.slow
@pytest.mark.shared_data
async def test_the_hotpath_replays_stored_ticks_and_ends_with_the_data(
    platform: RunningPlatform, shared_data: Path, tmp_path: Path
) -> None:
    from adapters.clickhouse.executors import ClickHouseHttpExecutor
    from adapters.clickhouse.market_data import ClickHouseMarketDataStore
    from adapters.files.market_files import read_market_file
    from domain.market_data import SeriesKind

    store = ClickHouseMarketDataStore(ClickHouseHttpExecutor(platform.clickhouse_url))
    store.ensure_schema()
    ticks = read_market_file(shared_data / "fx/USDJPY-ticks-2013-01.csv", SeriesKind.TICKS)
    store.write_ticks("USDJPY", ticks.frame)
    store.close()
    env = hotpath_env(
        redis__url=platform.redis_url,
        clickhouse__url=platform.clickhouse_url,
        data_dir=str(tmp_path),
    )
    proc = await start_hotpath(
        env,
        "--account",
        f"r{uuid.uuid4().hex[:6]}",
        "--feed",
        "replay",
        "--symbols",
        "USDJPY",
        "--from",
        "2013-01-01",
        "--to",
        "2013-01-03",
        "--strategy",
        "ma_cross:fast=2,slow=5,allow_short=true",
        capture=True,
    )
    raw, _ = await asyncio.wait_for(proc.communicate(), 120)
    out = raw.decode()
    assert proc.returncode == 0, out
    stopped = next(
        orjson.loads(line)
        for line in out.splitlines()
        if line.startswith("{") and "hot path stopped" in line
    )
    assert stopped["ticks"] == 1000
    assert stopped["orders"] > 0
    assert stopped["undelivered"] == 0


async def test_mt5_without_the_package_or_a_bridge_says_how_to_fix_it(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    env = hotpath_env(redis__url=platform.redis_url, data_dir=str(tmp_path))
    proc = await start_hotpath(env, "--account", "mt5x", "--broker", "mt5", capture=True)
    raw, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "set AITP_MT5__BRIDGE" in raw.decode()
    assert "Traceback" not in raw.decode()


async def test_amend_by_command(wiring) -> None:
    account, bus, engine, consumer = wiring
    limit = SubmitOrder(
        client_order_id="o-7",
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal("0.10"),
        order_type=OrderType.LIMIT,
        price=Decimal("1.0950"),
    )
    await send_command(bus, account, "a1", limit)
    await send_command(
        bus, account, "a2", AmendOrder(client_order_id="o-7", price=Decimal("1.0960"))
    )
    await send_command(bus, account, "a3", AmendOrder(client_order_id="o-7"))
    replies = await run_until_replies(consumer, bus, account, 3)
    assert replies[1]["data"]["amended"] is True  # type: ignore[index]
    assert replies[1]["data"]["price"] == "1.09600"  # type: ignore[index]
    assert replies[2] == {"id": "a3", "ok": False, "error": "amend needs a new price or volume"}
    assert engine.orders["o-7"].price == Decimal("1.09600")


async def test_settings_choose_mt5_when_no_broker_is_named(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    env = hotpath_env(redis__url=platform.redis_url, data_dir=str(tmp_path), mt5__enabled="true")
    proc = await start_hotpath(env, "--account", "mt5y", capture=True)
    raw, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2  # it went for MT5, which this machine cannot reach
    assert "cannot reach the broker" in raw.decode()


async def test_the_account_and_its_instruments_exist_before_the_first_signal(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    """A hot path with a strategy that has not signalled yet: its account row (tenant,
    currency, deposit) and its instruments are in PostgreSQL, and its start is announced."""
    account = f"a{uuid.uuid4().hex[:6]}"
    env = hotpath_env(
        redis__url=platform.redis_url, postgres__url=platform.postgres_url, data_dir=str(tmp_path)
    )
    args = ("--account", account, "--symbols", "EURUSD", "--strategy", "ma_cross:fast=50,slow=200")
    proc = await start_hotpath(env, *args, "--tenant", "desk-t", "--balance", "25000")
    conn = await asyncpg.connect(platform.postgres_url)
    client = aioredis.from_url(platform.redis_url)
    try:
        row = None
        for _ in range(300):
            row = await conn.fetchrow(
                """SELECT t.slug, a.currency, a.deposit FROM accounts a
                   JOIN tenants t ON t.id = a.tenant_id WHERE a.code = $1""",
                account,
            )
            if row is not None:
                break
            await asyncio.sleep(0.05)
        assert row is not None
        assert (row["slug"], row["currency"], row["deposit"]) == ("desk-t", "USD", Decimal(25000))
        spec = await conn.fetchrow(
            "SELECT volume_step, digits FROM instruments WHERE symbol = 'EURUSD'"
        )
        assert (spec["volume_step"], spec["digits"]) == (Decimal("0.01"), 5)
        started = []
        for _ in range(100):
            entries = await client.xrange(events_stream(account))
            started = [
                m for m in (decode(f).message for _, f in entries) if m.TYPE == "session_started"
            ]
            if started:
                break
            await asyncio.sleep(0.05)
        assert started
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await conn.close()
        await client.aclose()
