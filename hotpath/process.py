"""One hot path process: the feed drives the engine; publisher, command consumer, recorder
and the bar timer run beside it as tasks, none of them in the tick loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally

from domain.clock import Clock, WallClock
from engine.core import Engine
from hotpath.commands import CommandConsumer
from hotpath.feeds import Feed
from hotpath.metrics import HotpathMetrics
from hotpath.pacing import wait_or_stop
from hotpath.publisher import Publisher
from hotpath.recorder import MarketDataRecorder

log = logging.getLogger("aitp.hotpath")


class DataClock:
    """The time of the latest tick: a replay's bars close on its own time, not the wall's."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def now_ns(self) -> int:
        quotes = self._engine.quotes.values()
        return max((q.ts for q in quotes), default=0)


class HotPath:
    def __init__(
        self,
        engine: Engine,
        feed: Feed,
        publisher: Publisher,
        consumer: CommandConsumer | None = None,
        recorder: MarketDataRecorder | None = None,
        metrics: HotpathMetrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        # bars of a quiet market close on this clock: wall time live, the data's time in a replay
        self.clock = clock or WallClock()
        self.feed = feed
        self.publisher = publisher
        self.consumer = consumer
        self.last_tick: float | None = None  # monotonic, of the last batch from the feed
        if metrics is not None:
            # computed when scraped (the metrics server has a thread of its own), so a loop
            # that hangs shows as an age that grows, not as the last value it set
            if consumer is not None:
                metrics.commands_read_age.set_function(lambda: consumer.read_age_s())
            metrics.publisher_flush_age.set_function(publisher.flush_age_s)
            metrics.feed_tick_age.set_function(self.tick_age_s)
            metrics.feed_continuous.set(1 if feed.continuous else 0)
        self.recorder = recorder
        self.metrics = metrics
        if recorder is not None:
            publisher.on_event = recorder.event

    def tick_age_s(self) -> float:
        """Seconds since the feed's last batch (0 before the first)."""
        return 0.0 if self.last_tick is None else time.monotonic() - self.last_tick

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self.publisher.run(stop), name="publisher")]
        if self.consumer is not None:
            tasks.append(asyncio.create_task(self.consumer.run(stop), name="commands"))
        if self.recorder is not None:
            tasks.append(asyncio.create_task(self.recorder.run(stop), name="recorder"))
        tasks.append(asyncio.create_task(self._timers(stop), name="timers"))
        try:
            await self._trade(stop)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.recorder is not None:
                await self.recorder.flush()

    async def _trade(self, stop: asyncio.Event) -> None:
        engine, recorder, metrics = self.engine, self.recorder, self.metrics
        on_tick = engine.on_tick
        async for batch in self.feed.batches():
            self.last_tick = time.monotonic()
            started = time.perf_counter()
            for tick in batch:
                on_tick(tick)
            if recorder is not None:
                for tick in batch:
                    recorder.tick(tick)
            if metrics is not None and batch:
                metrics.ticks.inc(len(batch))
                metrics.tick_seconds.observe((time.perf_counter() - started) / len(batch))
            if stop.is_set():
                return

    async def _timers(self, stop: asyncio.Event) -> None:
        """Close bars of a quiet market on time, and keep the gauges current."""
        while not await wait_or_stop(stop, 1.0):
            self.engine.close_bars(self.clock.now_ns())
            self.update_gauges()

    def update_gauges(self) -> None:
        m = self.metrics
        if m is None:
            return
        engine = self.engine
        for state, count in Tally(o.state.value for o in engine.orders.values()).items():
            m.orders.labels(account=m.account, state=state).set(count)
        for reason, count in engine.stats.rejected.items():
            m.rejects.labels(account=m.account, reason=reason).set(count)
        m.outbox.set(len(engine.outbox))
        m.outbox_backlogged.set(1 if engine.outbox.backlogged else 0)
        m.outbox_dropped.set(engine.outbox.dropped)
        m.bus_failures.set(self.publisher.failures)
        m.bus_down.set(1 if self.publisher.bus_down_since is not None else 0)
        consumer = self.consumer
        if consumer is not None:
            m.commands_unreadable.set(consumer.unreadable)
            m.commands_down.set(1 if consumer.outage.since is not None else 0)
            m.commands_outages.set(consumer.outage.count)
