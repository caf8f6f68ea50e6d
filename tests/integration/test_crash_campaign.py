"""The seeded crash campaign: many order lifecycles while the worker, the bridge and the hot
path are killed with -9 at random moments and restarted by `aitp up`. Afterwards the venue and
the books in PostgreSQL must agree exactly: no order executed twice, no fill lost, every
position equal. Two venues: the paper broker (its journal is the venue's truth) and the fake
MT5 terminal in its own process behind the bridge, which loses replies (executed or not) at a
seeded rate and outlives the hot path as a real broker does."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
import rpyc
from temporalio.client import Client

from adapters.mt5.loader import load as load_mt5
from config.settings import TemporalSettings
from domain.orders import OrderState, Side
from embedded import state
from embedded.process import free_port
from temporal.client import connect
from temporal.orders import ORDER_WORKFLOW, OrderRequest, OrderView, order_workflow_id
from temporal.queues import TRADING
from tests.fakes.mt5_bridge import served

pytestmark = [pytest.mark.slow]

LIFECYCLES = 200
SEED = 20261124
VICTIMS = ("worker", "bridge", "hotpath")
ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture
def mt5_bridge() -> Iterator[str]:
    """The fake terminal in its own process: 15% of orders execute with the reply lost, 5%
    vanish unexecuted with the reply lost. The account holds the margin the campaign's
    positions need (up to 20 lots at 1:100)."""
    options = ("--seed", str(SEED), "--reply-lost", "0.15", "--lost", "0.05")
    options += ("--balance", "1000000")
    with served(*options) as address:
        yield address


Venue = tuple[list[str], dict[str, tuple[str, Decimal]]]  # executed orders; fills by id


def paper_venue(data_dir: Path) -> Venue:
    journal = data_dir / "hotpath" / "demo.jsonl"
    records = [orjson.loads(line) for line in journal.read_bytes().splitlines()]
    executed = [r["data"]["client_order_id"] for r in records if r["type"] == "submit"]
    fills = {
        r["data"]["fill_id"]: (r["data"]["side"], Decimal(r["data"]["volume"]))
        for r in records
        if r["type"] == "fill"
    }
    return executed, fills


def mt5_venue(bridge: str) -> Venue:
    terminal: Any = load_mt5(bridge)
    orders = rpyc.classic.obtain(terminal.orders)  # the executed orders, by value
    deals = rpyc.classic.obtain(terminal.deals)
    executed = [o.comment for o in orders]
    fills = {
        str(d.ticket): ("buy" if d.type == 0 else "sell", Decimal(str(d.volume))) for d in deals
    }
    return executed, fills


@pytest.mark.parametrize("venue", ["paper", "mt5"])
async def test_kill_9_campaign_keeps_the_books_equal_to_the_venue(
    tmp_path: Path, venue: str, request: pytest.FixtureRequest
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
    env |= {
        "AITP_DATA_DIR": str(tmp_path / "data"),
        "AITP_TEMPORAL__PORT": str(free_port()),
        "AITP_TEMPORAL__UI_PORT": str(free_port()),
        "AITP_DEMO__STRATEGIES": "[]",  # only the campaign's orders trade
        # the synthetic feed's prices are not the fake terminal's: the open P&L marked at
        # them is no loss of the campaign's, and its orders are not the risk gate's test
        "AITP_RISK__DAILY_LOSS_REDUCE_ONLY": "1000000000",
        "AITP_RISK__DAILY_LOSS_HALT": "1000000000",
    }
    bridge = ""
    if venue == "mt5":
        bridge = request.getfixturevalue("mt5_bridge")
        env |= {
            "AITP_MT5__ENABLED": "true",
            "AITP_MT5__BRIDGE": bridge,
            "AITP_DEMO__SYMBOLS": '["EURUSD"]',
        }
    up = aitp(env, "up", "--detach")
    assert up.returncode == 0, up.stderr
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
        # Every order ends filled, or, at the terminal that loses orders outright, rejected
        # once it was proved absent after two sendings: refused, never lost or doubled.
        ended = {v.client_order_id: (v.state, v.reason) for v in views}
        refused = {
            cid: why for cid, (state, why) in ended.items() if state is not OrderState.FILLED
        }
        for cid, why in refused.items():
            assert venue == "mt5", (cid, why)
            assert ended[cid][0] is OrderState.REJECTED
            assert (why or "").startswith("lost twice, not sent a third time"), (cid, why)
        assert set(kills) == set(VICTIMS)

        executed, venue_fills = (
            paper_venue(tmp_path / "data") if venue == "paper" else mt5_venue(bridge)
        )
        assert len(executed) == len(set(executed))  # no order executed twice
        assert set(executed) == set(ended) - set(refused)  # and none refused was executed
        net = Decimal(0)
        for side, volume in venue_fills.values():
            net += volume * (1 if side == "buy" else -1)

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
            assert sum(o["state"] == "rejected" for o in orders) == len(refused)
            for o in orders:
                assert o["filled_volume"] == (o["volume"] if o["state"] == "filled" else 0)
            position = await pg.fetchval(
                "SELECT volume FROM positions p JOIN accounts a ON a.id = p.account_id "
                "WHERE a.code = 'demo' AND symbol = 'EURUSD'"
            )
            assert position == net
        finally:
            await pg.close()
    finally:
        aitp(env, "down")
