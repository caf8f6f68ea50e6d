"""The seeded crash campaign: many order lifecycles while the worker, the bridge and the hot
path are killed with -9 at random moments and restarted by `aitp up`. Afterwards the venue
(the paper broker's journal) and the books in PostgreSQL must agree exactly: no order sent
twice, no fill lost, every position equal."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import orjson
import pytest
from temporalio.client import Client

from config.settings import TemporalSettings
from domain.orders import OrderState, Side
from embedded import state
from embedded.process import free_port
from temporal.client import connect
from temporal.orders import ORDER_WORKFLOW, OrderRequest, OrderView, order_workflow_id
from temporal.queues import TRADING

pytestmark = [pytest.mark.slow]

LIFECYCLES = 200
SEED = 20261124
VICTIMS = ("worker", "bridge", "hotpath")


def aitp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = str(Path(sys.executable).parent / "aitp")
    return subprocess.run([script, *args], env=env, capture_output=True, text=True, timeout=180)


async def start_order(client: Client, n: int) -> None:
    request = OrderRequest(
        account="demo",
        client_order_id=f"cc-{n:04d}",
        symbol="EURUSD",
        side=Side.BUY if n % 3 else Side.SELL,
        volume=Decimal("0.01") * (1 + n % 40),
        ack_timeout_s=5.0,
    )
    await client.start_workflow(
        ORDER_WORKFLOW, request, id=order_workflow_id(request.client_order_id), task_queue=TRADING
    )


async def settle(client: Client, n: int, seconds: float) -> OrderView:
    handle = client.get_workflow_handle(order_workflow_id(f"cc-{n:04d}"), result_type=OrderView)
    return await asyncio.wait_for(handle.result(), seconds)


async def test_kill_9_campaign_keeps_the_books_equal_to_the_venue(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
    env |= {
        "AITP_DATA_DIR": str(tmp_path / "data"),
        "AITP_TEMPORAL__PORT": str(free_port()),
        "AITP_TEMPORAL__UI_PORT": str(free_port()),
        "AITP_DEMO__STRATEGIES": "[]",  # only the campaign's orders trade
    }
    assert aitp(env, "up", "--detach").returncode == 0
    rng = random.Random(SEED)
    kills: list[str] = []
    try:
        records = state.load(tmp_path / "data").components
        client = await connect(records["temporal"].url, TemporalSettings())
        for n in range(LIFECYCLES):
            await start_order(client, n)
            if n % 10 == 9:  # every 10 orders, kill a component at a random moment
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                victim = rng.choice(VICTIMS)
                pid = state.load(tmp_path / "data").components[victim].pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                kills.append(victim)
                await asyncio.sleep(rng.uniform(0.0, 0.3))
                restarted = await asyncio.to_thread(aitp, env, "up", "--detach")
                assert restarted.returncode == 0, restarted.stderr
            else:
                await asyncio.sleep(rng.uniform(0.0, 0.05))
        views = [await settle(client, n, 240) for n in range(LIFECYCLES)]
        assert {v.state for v in views} == {OrderState.FILLED}
        assert set(kills) == set(VICTIMS)

        journal = tmp_path / "data" / "hotpath" / "demo.jsonl"
        records_ = [orjson.loads(line) for line in journal.read_bytes().splitlines()]
        submitted = [r["order"]["client_order_id"] for r in records_ if r["t"] == "submit"]
        assert len(submitted) == len(set(submitted)) == LIFECYCLES  # no order sent twice
        venue_fills = {r["fill"]["fill_id"]: r["fill"] for r in records_ if r["t"] == "fill"}
        net = Decimal(0)
        for fill in venue_fills.values():
            net += Decimal(fill["volume"]) * (1 if fill["side"] == "buy" else -1)

        pg = await asyncpg.connect(state.load(tmp_path / "data").components["postgres"].url)
        try:
            booked = {
                r["broker_fill_id"]
                for r in await pg.fetch(
                    "SELECT broker_fill_id FROM fills f JOIN accounts a ON a.id = f.account_id "
                    "WHERE a.code = 'demo'"
                )
            }
            assert booked == set(venue_fills)  # no fill lost, none invented
            orders = await pg.fetch(
                "SELECT o.state, o.filled_volume, o.volume FROM orders o JOIN accounts a "
                "ON a.id = o.account_id WHERE a.code = 'demo'"
            )
            assert len(orders) == LIFECYCLES
            assert all(o["state"] == "filled" and o["filled_volume"] == o["volume"] for o in orders)
            position = await pg.fetchval(
                "SELECT volume FROM positions p JOIN accounts a ON a.id = p.account_id "
                "WHERE a.code = 'demo' AND symbol = 'EURUSD'"
            )
            assert position == net
        finally:
            await pg.close()
    finally:
        aitp(env, "down")
