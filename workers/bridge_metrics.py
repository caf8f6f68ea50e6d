"""The bridge's Prometheus metrics, read from the bridge when scraped.

Read at scrape time (the metrics server has a thread of its own), a bridge whose loop hangs
shows as a read age that grows, not as the last value it set; `aitp up` judges it by them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workers.bridge import Bridge

COUNTS = {
    "signalled": "Order events signalled to their order workflows",
    "unowned": "Order events no workflow owned (handed to the books when a fill)",
    "booked": "Fills handed to the account's books workflow",
    "decisions": "Decision workflows started from candidates",
    "duplicates": "Candidates seen again (decided once already)",
    "expired": "Candidates dropped because the next bar closed before they could be decided",
    "unreadable": "Events nobody could read, or Temporal refused for what they hold: dead-lettered",
    "held_back": "Passes cut short because Temporal did not take a delivery",
}


class BridgeCollector(Collector):
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def collect(self) -> Iterator[Metric]:
        bridge = self._bridge
        labels = ["consumer"]
        value = [bridge.consumer]
        for name, what in COUNTS.items():
            family = CounterMetricFamily(f"aitp_bridge_{name}", what, labels=labels)
            family.add_metric(value, getattr(bridge, name))
            yield family
        gauges = {
            "aitp_bridge_read_age_seconds": (
                "Seconds since the bridge last read every account's stream (every 50 ms when well)",
                bridge.read_age_s(),
            ),
            "aitp_bridge_down": (
                "1 while the event bus cannot be read (the bridge waits it out)",
                1.0 if bridge.outage.since is not None else 0.0,
            ),
            "aitp_bridge_outages": ("Times the event bus went away", float(bridge.outage.count)),
            "aitp_bridge_temporal_refusing": (
                "1 while Temporal does not take deliveries (events wait, in order)",
                1.0 if bridge.temporal_refusing else 0.0,
            ),
        }
        for name, (what, number) in gauges.items():
            gauge = GaugeMetricFamily(name, what, labels=labels)
            gauge.add_metric(value, number)
            yield gauge


def bridge_registry(bridge: Bridge) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(BridgeCollector(bridge))
    return registry
