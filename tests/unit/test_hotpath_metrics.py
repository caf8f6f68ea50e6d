"""The hot path's Prometheus metrics say what the engine did."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

from prometheus_client import generate_latest

from domain.clock import ManualClock
from domain.instruments import fx_major
from domain.orders import Order, Side
from domain.paper import PaperBroker
from domain.ports import BusUnavailableError
from domain.risk import RiskGate, RiskLimits
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.commands import CommandConsumer, CommandHandler
from hotpath.feeds import SyntheticFeed
from hotpath.metrics import HotpathMetrics
from hotpath.process import HotPath
from hotpath.publisher import Publisher


class NullBus:
    """A bus that is down: nothing is published, everything stays in the outbox."""

    async def publish(self, stream: str, fields: object) -> str:
        raise ConnectionError("bus down")


async def test_metrics_count_ticks_rejects_and_the_bus_outage() -> None:
    instruments = {"EURUSD": fx_major("EURUSD")}
    engine = Engine(
        "m",
        instruments,
        [],
        PaperBroker(instruments),
        RiskGate("m", RiskLimits(restricted=frozenset({"EURUSD"}))),
        Outbox(),
        balance=Decimal(1000),
    )
    metrics = HotpathMetrics("m")
    feed = SyntheticFeed({"EURUSD": 1.1}, realtime=False, start_ns=0, limit=5000)
    hot = HotPath(engine, feed, Publisher(engine.outbox, NullBus(), "events:m"), metrics=metrics)  # type: ignore[arg-type]
    stop = asyncio.Event()
    await asyncio.wait_for(hot._trade(stop), 10)
    engine.submit(Order("m-1", "EURUSD", Side.BUY, Decimal("0.1")), engine.quotes["EURUSD"].ts)
    with contextlib.suppress(TimeoutError):  # the publisher keeps trying while the bus is down
        await asyncio.wait_for(hot.publisher.run(asyncio.Event()), 0.3)
    assert hot.publisher.failures >= 1
    hot.update_gauges()
    text = generate_latest(metrics.registry).decode()
    assert 'aitp_ticks_total{account="m"} 5000.0' in text
    assert 'aitp_rejects{account="m",reason="restricted_symbol"} 1.0' in text
    assert 'aitp_orders{account="m",state="rejected"} 1.0' in text
    assert 'aitp_bus_down{account="m"} 1.0' in text
    assert 'aitp_outbox_backlogged{account="m"} 0.0' in text  # far from its bound
    assert f'aitp_outbox_depth{{account="m"}} {float(len(engine.outbox))}' in text
    assert "aitp_tick_seconds_bucket" in text


def test_a_replay_closes_its_bars_on_the_datas_time_not_the_walls() -> None:
    from domain.market import QuoteTick
    from hotpath.process import DataClock

    instruments = {"EURUSD": fx_major("EURUSD")}
    engine = Engine(
        "d", instruments, [], PaperBroker(instruments), RiskGate("d", RiskLimits()), Outbox()
    )
    clock = DataClock(engine)
    assert clock.now_ns() == 0
    engine.on_tick(QuoteTick("EURUSD", 1_357_000_000 * 10**9, 86.7, 86.72))  # 2013
    engine.close_bars(clock.now_ns())
    assert engine.stats.bars == 0  # the minute of 2013 is not over on the data's clock


class AwayBus:
    """A bus that cannot be reached at all."""

    async def ensure_group(self, stream: str, group: str) -> None:
        raise BusUnavailableError("connection refused")


async def test_a_command_consumer_waits_out_a_bus_that_is_away_and_says_so() -> None:
    instruments = {"EURUSD": fx_major("EURUSD")}
    engine = Engine(
        "m", instruments, [], PaperBroker(instruments), RiskGate("m", RiskLimits()), Outbox()
    )
    consumer = CommandConsumer("m", AwayBus(), None, CommandHandler(engine), "hp", ManualClock())  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    for _ in range(200):
        if consumer.outage.since is not None:
            break
        await asyncio.sleep(0.01)
    assert not task.done()  # waiting, not dead
    metrics = HotpathMetrics("m")
    feed = SyntheticFeed({"EURUSD": 1.1}, realtime=False, start_ns=0, limit=1)
    publisher = Publisher(engine.outbox, NullBus(), "events:m")  # type: ignore[arg-type]
    HotPath(engine, feed, publisher, consumer=consumer, metrics=metrics).update_gauges()
    text = generate_latest(metrics.registry).decode()
    assert 'aitp_commands_down{account="m"} 1.0' in text
    assert 'aitp_commands_outages{account="m"} 1.0' in text
    stop.set()
    await asyncio.wait_for(task, 2)  # a stop ends the wait at once
