"""The books equal the broker at the fake MT5 terminal in its own process, whatever moves the
money: market, limit, cancel, amend, a night's swap, the broker's stop-loss, a trade typed
into the terminal while the platform runs and one typed while its hot path is down, and the
kill switch's flattening. The whole platform runs as `aitp up` starts it; afterwards every
deal in PostgreSQL equals the terminal's (side, volume, price, commission, swap, profit), the
position equals the terminal's and the balance its `account_info`, and the deal nobody
reported is counted as repaired, in PostgreSQL and in the trading worker's metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import rpyc
from temporalio.client import Client

from adapters.mt5.loader import load as load_mt5
from config.settings import TemporalSettings
from domain.orders import OrderState, OrderType, Side
from embedded import state
from embedded.process import free_port
from temporal import orders
from temporal.client import connect
from temporal.queues import TRADING
from tests.fakes.mt5_bridge import served
from tests.waits import until

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
Deal = tuple[str, Decimal, Decimal, Decimal, Decimal, Decimal]  # side, volume, price, costs...


def aitp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = str(Path(sys.executable).parent / "aitp")
    return subprocess.run([script, *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def terminal() -> Iterator[tuple[str, Any]]:
    """The fake netting account in its own process, and the test's own line to it."""
    with served("--netting") as address:
        line = load_mt5(address)
        try:
            yield address, line
        finally:
            line.disconnect()


def terminal_deals(line: Any) -> dict[str, Deal]:
    deals = rpyc.classic.obtain(line._module.deals)
    return {
        str(d.ticket): (
            "buy" if d.type == 0 else "sell",
            Decimal(str(d.volume)),
            Decimal(str(d.price)),
            -(Decimal(str(d.commission)) + Decimal(str(d.fee))),
            Decimal(str(d.swap)),
            Decimal(str(d.profit)),
        )
        for d in deals
    }


def terminal_net(line: Any) -> Decimal:
    positions = line.positions_get() or ()
    return sum((Decimal(str(p.volume)) * (1 if p.type == 0 else -1) for p in positions), Decimal(0))


def repairs_counted(port: int) -> float:
    """The trading worker's count of repaired deals for the demo account, as scraped."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("aitp_books_repaired_fills") and 'account="demo"' in line
    )


class Books:
    def __init__(self, pg: asyncpg.Connection) -> None:
        self.pg = pg

    async def deals(self) -> dict[str, Deal]:
        rows = await self.pg.fetch(
            """SELECT broker_fill_id, side, volume, price, commission, swap, profit FROM fills f
               JOIN accounts a ON a.id = f.account_id WHERE a.code = 'demo'"""
        )
        return {
            r["broker_fill_id"]: (
                r["side"], r["volume"], r["price"], r["commission"], r["swap"], r["profit"]
            )
            for r in rows
        }  # fmt: skip

    async def net(self) -> Decimal:
        volume = await self.pg.fetchval(
            """SELECT volume FROM positions p JOIN accounts a ON a.id = p.account_id
               WHERE a.code = 'demo' AND symbol = 'EURUSD'"""
        )
        return volume or Decimal(0)

    async def balance(self) -> Decimal:
        value: Decimal = await self.pg.fetchval(
            """SELECT a.deposit + COALESCE((SELECT sum(profit - commission + swap) FROM fills
               WHERE account_id = a.id), 0) FROM accounts a WHERE a.code = 'demo'"""
        )
        return value

    async def reconciliation(self) -> tuple[str, int] | None:
        row = await self.pg.fetchrow(
            """SELECT r.status, r.repairs FROM reconciliations r
               JOIN accounts a ON a.id = r.account_id WHERE a.code = 'demo'"""
        )
        return None if row is None else (row["status"], row["repairs"])


async def order(client: Client, cid: str, side: Side, volume: str, **kw: Any) -> Any:
    request = orders.OrderRequest(
        account="demo",
        client_order_id=cid,
        symbol="EURUSD",
        side=side,
        volume=Decimal(volume),
        ack_timeout_s=10.0,
        reconcile_s=1.0,
        **kw,
    )
    return await client.start_workflow(
        orders.ORDER_WORKFLOW,
        request,
        id=orders.order_workflow_id(cid),
        task_queue=TRADING,
        result_type=orders.OrderView,
    )


async def settled(handle: Any) -> orders.OrderView:
    view: orders.OrderView = await asyncio.wait_for(handle.result(), 60)
    return view


async def resting(line: Any, cid: str) -> int:
    """The terminal's ticket of our resting order, once it is placed there."""

    async def look() -> int | None:
        return next((o.ticket for o in line.orders_get() or () if o.comment == cid), None)

    ticket = await until(look, lambda t: t is not None, f"{cid} resting at the terminal", 90)
    assert ticket is not None
    return ticket


async def test_any_mix_at_the_terminal_ends_with_books_equal_to_it(
    tmp_path: Path, terminal: tuple[str, Any]
) -> None:
    bridge, line = terminal
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
    metrics = free_port()
    env |= {
        "AITP_WORKER__METRICS_PORT": str(metrics),
        "AITP_DATA_DIR": str(tmp_path / "data"),
        "AITP_TEMPORAL__PORT": str(free_port()),
        "AITP_TEMPORAL__UI_PORT": str(free_port()),
        "AITP_DEMO__STRATEGIES": "[]",
        "AITP_DEMO__SYMBOLS": '["EURUSD"]',
        "AITP_MT5__ENABLED": "true",
        "AITP_MT5__BRIDGE": bridge,
        # limit prices are collared at 2% from the synthetic feed's EURUSD (about 1.085)
        # the synthetic feed's prices are not the terminal's: no loss limit is this test's
        "AITP_RISK__DAILY_LOSS_REDUCE_ONLY": "1000000000",
        "AITP_RISK__DAILY_LOSS_HALT": "1000000000",
    }
    line.trade_by_hand("EURUSD", 0, 0.05)  # held before the platform first started
    up = aitp(env, "up", "--detach")
    assert up.returncode == 0, up.stderr
    pg: asyncpg.Connection | None = None
    try:
        components = state.load(tmp_path / "data").components
        client = await connect(components["temporal"].url, TemporalSettings())
        pg = await asyncpg.connect(components["postgres"].url)
        books = Books(pg)

        bought = await order(client, "mx-buy", Side.BUY, "0.30")
        assert (await settled(bought)).state is OrderState.FILLED
        limit = await order(
            client, "mx-limit", Side.BUY, "0.10", order_type=OrderType.LIMIT, price=Decimal("1.07")
        )
        line.fill_pending(await resting(line, "mx-limit"), 1.07)
        assert (await settled(limit)).state is OrderState.FILLED
        spare = await order(
            client,
            "mx-cancel",
            Side.BUY,
            "0.10",
            order_type=OrderType.LIMIT,
            price=Decimal("1.068"),
        )
        await resting(line, "mx-cancel")
        await until(  # amended only once its workflow has heard it rests at the broker
            lambda: spare.query("state", result_type=orders.OrderView),
            lambda v: v.state is OrderState.ACCEPTED,
            "mx-cancel accepted",
            90,
        )
        amend = orders.AmendRequest(price=Decimal("1.069"))
        amended = await asyncio.wait_for(
            spare.execute_update("amend", amend, result_type=orders.UpdateResult), 60
        )
        assert amended.accepted, amended.reason
        cancel = orders.CancelRequest()
        cancelled = await asyncio.wait_for(
            spare.execute_update("cancel", cancel, result_type=orders.UpdateResult), 60
        )
        assert cancelled.accepted, cancelled.reason
        assert (await settled(spare)).state is OrderState.CANCELLED

        line.rollover(-6.9)  # the night's swap, booked on the deal that closes
        line.quote(1.1050, 1.1052)
        sold = await order(client, "mx-sell", Side.SELL, "0.20")
        assert (await settled(sold)).state is OrderState.FILLED
        line.trade_by_hand("EURUSD", 1, 0.05)  # typed into the terminal meanwhile
        position = line.positions_get()[0].ticket
        line.close_by_broker(position, 4)  # the broker's stop-loss: flat
        line.trade_by_hand("EURUSD", 1, 0.20)  # short by hand
        so_far = await asyncio.to_thread(terminal_deals, line)  # seen before the kill
        await until(books.deals, lambda booked: set(booked) == set(so_far), "the deals booked", 90)
        killed = aitp(env, "account", "kill", "demo", "--flatten", "--yes")
        assert killed.returncode == 0, killed.stderr
        await until(lambda: asyncio.to_thread(terminal_net, line), lambda v: v == 0, "flat", 90)
        rearmed = aitp(env, "account", "rearm", "demo")
        assert rearmed.returncode == 0, rearmed.stderr

        # the hot path dies; a trade typed meanwhile is known only to the terminal's history
        hotpath = state.load(tmp_path / "data").components["hotpath"].pid
        assert hotpath is not None
        os.kill(hotpath, signal.SIGKILL)
        line.trade_by_hand("EURUSD", 0, 0.10)
        restarted = aitp(env, "up", "--detach")
        assert restarted.returncode == 0, restarted.stderr

        venue = await asyncio.to_thread(terminal_deals, line)
        await until(books.deals, lambda booked: set(booked) == set(venue), "every deal booked", 90)
        assert await books.deals() == venue  # side, volume, price, commission, swap, profit
        assert any(swap for *_, swap, _ in venue.values())  # the swap was charged and booked
        assert await books.net() == terminal_net(line) == Decimal("0.10")
        held = Decimal(str(line.account_info().balance))
        assert await books.balance() == held
        status = await until(
            books.reconciliation, lambda r: r is not None and r[0] == "equal", "an equal check", 90
        )
        assert status is not None
        assert status[1] >= 2  # the deals typed before the start and while it was down
        counted = await asyncio.to_thread(repairs_counted, metrics)
        assert counted == status[1]  # and the trading worker's metrics count them alike
    finally:
        if pg is not None:
            await pg.close()
        aitp(env, "down")
