"""Prometheus metrics of the API: requests by route template and status, their latency, and
the WebSocket fan-out. Each app has a registry of its own, so tests can build many apps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

router = APIRouter(tags=["health"])

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aitp_api_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aitp_api_request_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )


class MetricsMiddleware:
    """Pure ASGI (no per-request task or body copy), so measuring costs microseconds."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


class ResourcesCollector(Collector):
    """Figures the app's open resources keep themselves, read when scraped."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        resources = getattr(self.app.state, "resources", None)
        if resources is None:
            return
        yield CounterMetricFamily(
            "aitp_api_ratelimit_hits",
            "Requests counted by the rate limiter",
            resources.limiter.hits,
        )
        yield CounterMetricFamily(
            "aitp_api_ratelimit_round_trips",
            "Rate-limit script calls to Redis (each carries every request queued meanwhile)",
            resources.limiter.round_trips,
        )
        fanout = resources.fanout
        yield GaugeMetricFamily(
            "aitp_api_ws_clients", "WebSocket clients subscribed to a channel", fanout.clients
        )
        yield CounterMetricFamily(
            "aitp_api_ws_events_delivered", "Events queued to WebSocket clients", fanout.delivered
        )
        yield CounterMetricFamily(
            "aitp_api_ws_clients_dropped",
            "Clients dropped for reading too slowly",
            fanout.dropped_clients,
        )
        yield GaugeMetricFamily(
            "aitp_api_ws_read_age_seconds",
            "Seconds since the fan-out last heard from the event streams (every second when well)",
            fanout.read_age_s(),
        )
        yield GaugeMetricFamily(
            "aitp_api_ws_down",
            "1 while the event streams cannot be read (the fan-out waits it out, then resumes "
            "where it stopped)",
            1.0 if fanout.outage.since is not None else 0.0,
        )
        yield CounterMetricFamily(
            "aitp_api_ws_events_unreadable",
            "Hot-path events that could not be read (the bridge dead-letters them)",
            fanout.unreadable,
        )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
