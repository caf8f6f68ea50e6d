"""Prometheus metrics of the hot path: ticks, latency, orders, rejects, the outbox, the bus."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 1e-2)


class HotpathMetrics:
    def __init__(self, account: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = {"account": account}
        r = self.registry
        self.ticks = Counter("aitp_ticks", "Ticks processed", ["account"], registry=r).labels(
            **labels
        )
        self.tick_seconds = Histogram(
            "aitp_tick_seconds",
            "Engine time per tick (batch mean)",
            ["account"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        ).labels(**labels)
        self.bars = Counter("aitp_bars", "Bars closed", ["account"], registry=r).labels(**labels)
        self.orders = Gauge("aitp_orders", "Orders by state", ["account", "state"], registry=r)
        self.rejects = Gauge(
            "aitp_rejects", "Risk rejects by reason", ["account", "reason"], registry=r
        )
        self.outbox = Gauge(
            "aitp_outbox_depth", "Events waiting for the bus", ["account"], registry=r
        ).labels(**labels)
        self.outbox_backlogged = Gauge(
            "aitp_outbox_backlogged",
            "1 while the events waiting for the bus are past their bound: new orders halt",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.outbox_dropped = Gauge(
            "aitp_outbox_dropped",
            "Quote samples shed while the bus was down",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.bus_failures = Gauge(
            "aitp_bus_failures", "Failed publishes", ["account"], registry=r
        ).labels(**labels)
        self.bus_down = Gauge(
            "aitp_bus_down", "1 while the bus is unreachable", ["account"], registry=r
        ).labels(**labels)
        self.books_differences = Gauge(
            "aitp_books_differences",
            "Disagreements between the broker and the books found at start-up",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.commands_unreadable = Gauge(
            "aitp_commands_unreadable",
            "Commands that could not be read, moved to the dead-letter stream",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.commands_down = Gauge(
            "aitp_commands_down",
            "1 while the command stream cannot be read (the consumer waits it out)",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.commands_read_age = Gauge(
            "aitp_commands_read_age_seconds",
            "Seconds since the command consumer last read its stream (a read waits up to 0.2 s)",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.commands_outages = Gauge(
            "aitp_commands_outages",
            "Times the command stream went away under the consumer",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.feed_tick_age = Gauge(
            "aitp_feed_tick_age_seconds",
            "Seconds since the feed's last tick (0 before the first)",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.feed_continuous = Gauge(
            "aitp_feed_continuous",
            "1 where the feed ticks every few seconds while it runs, so that silence is a fault",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.publisher_flush_age = Gauge(
            "aitp_publisher_flush_age_seconds",
            "Seconds since the publisher last emptied the outbox or delivered a batch",
            ["account"],
            registry=r,
        ).labels(**labels)
        self.account = account
