"""The platform's own processes under `aitp up`: the hot path, the workers, the bridge, the API.

Each says how it starts, whether it answers (`check`) and what it is doing (`health`): the hot
path and the bridge from their own gauges, computed when scraped, the workers from Temporal's
record of their polls, so that `aitp status` names a process that is alive but not working and
`aitp up` restarts it. The thresholds are `HealthSettings`.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import httpx

from config.settings import Settings
from embedded.components import (
    ClickHouseComponent,
    Component,
    ComponentError,
    PostgresComponent,
    RedisComponent,
    TemporalComponent,
    gauges,
    http_answers,
)
from embedded.process import ProcessSpec, free_port
from temporal.queues import RESEARCH, TRADING


async def _scrape(url: str) -> dict[str, float] | None:
    """The process's samples, or None where it does not answer (`check` says so)."""
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return gauges((await http.get(url)).text)
    except httpx.HTTPError:
        return None


class HotpathComponent(Component):
    """The demo account's hot path: synthetic feed, paper broker, the demo strategies."""

    name = "hotpath"
    wave = 1
    restart_when_unhealthy = True  # its metrics server is a thread of its own

    @property
    def external_url(self) -> str | None:
        return None

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        demo = self.settings.demo
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "hotpath",
            "--account",
            demo.account,
            "--symbols",
            ",".join(demo.symbols),
            "--metrics-port",
            str(port),
            "--route",
            demo.route,
        ]
        for strategy in demo.strategies:
            argv += ["--strategy", strategy]
        env = {
            "AITP_DATA_DIR": str(self.data_dir),
            "AITP_REDIS__URL": urls["redis"],
            "AITP_CLICKHOUSE__URL": urls["clickhouse"],
            "AITP_POSTGRES__URL": urls["postgres"],
        }
        url = f"http://127.0.0.1:{port}/metrics"
        return ProcessSpec(argv, self.log_path, env=env), url, f"--metrics-port {port}"

    async def check(self, url: str) -> None:
        await http_answers(url, "the hot path's metrics")

    async def health(self, url: str, pid: int) -> str | None:
        """From its own gauges: an outage it waits out, or a loop gone quiet (the command
        consumer, the publisher, the feed where it ticks continuously)."""
        g = await _scrape(url)
        if g is None:
            return None
        limits = self.settings.health
        if g.get("aitp_commands_down", 0.0) >= 1.0:
            return "degraded: the command stream is unavailable; waiting for Redis"
        if g.get("aitp_outbox_backlogged", 0.0) >= 1.0:
            return "degraded: events wait for the bus past their bound; new orders halt"
        if g.get("aitp_bus_down", 0.0) >= 1.0:
            return "degraded: the event bus is unavailable; events wait in the outbox"
        idle = g.get("aitp_commands_read_age_seconds", 0.0)
        if idle > limits.loop_idle_s:
            return f"stuck: no command read for {idle:.0f}s"
        unflushed = g.get("aitp_publisher_flush_age_seconds", 0.0)
        if unflushed > limits.loop_idle_s:
            return f"stuck: the publisher has not flushed for {unflushed:.0f}s"
        silent = g.get("aitp_feed_tick_age_seconds", 0.0)
        if g.get("aitp_feed_continuous", 0.0) >= 1.0 and silent > limits.tick_idle_s:
            return f"stuck: no tick for {silent:.0f}s from a feed that ticks continuously"
        return None

    def display_address(self, url: str) -> str:
        return f"{url} (account {self.settings.demo.account})"


def _platform_env(data_dir: Path, urls: Mapping[str, str]) -> dict[str, str]:
    """What a platform process needs to reach every store `aitp up` runs."""
    return {
        "AITP_DATA_DIR": str(data_dir),
        "AITP_TEMPORAL__ADDRESS": urls["temporal"],
        "AITP_REDIS__URL": urls["redis"],
        "AITP_POSTGRES__URL": urls["postgres"],
        "AITP_CLICKHOUSE__URL": urls["clickhouse"],
    }


class _WorkerComponent(Component):
    """A Temporal worker: up once Temporal has seen a worker poll its queue; stuck when this
    process (Temporal knows its pollers as `pid@host`) has not polled for `poll_idle_s`."""

    queue: ClassVar[str]

    @property
    def external_url(self) -> str | None:
        return None

    async def check(self, url: str) -> None:
        if not await _pollers(url, self.settings.temporal.namespace, self.queue):
            raise ComponentError(f"no worker polls {self.queue} yet")

    async def health(self, url: str, pid: int) -> str | None:
        try:
            pollers = await _pollers(url, self.settings.temporal.namespace, self.queue)
        except ComponentError:
            return None  # Temporal does not answer: its own status says so
        ours = pollers.get(f"{pid}@{socket.gethostname()}")
        limit = self.settings.health.poll_idle_s
        if ours is None:
            return f"stuck: process {pid} does not poll {self.queue}"
        if ours > limit:
            return f"stuck: process {pid} last polled {self.queue} {ours:.0f}s ago"
        return None


class TradingWorkerComponent(_WorkerComponent):
    """The trading queue's worker: order (and decision) workflows and their activities."""

    name = "worker"
    wave = 2

    queue = TRADING

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        argv = [sys.executable, "-m", "workers.trading"]
        env = _platform_env(self.data_dir, urls)
        env["AITP_WORKER__METRICS_PORT"] = str(self.settings.worker.metrics_port or free_port())
        spec = ProcessSpec(argv, self.log_path, env=env)
        return spec, urls["temporal"], "workers.trading"


class ResearchWorkerComponent(_WorkerComponent):
    """The research queue's worker: backtest workflows and their CPU-heavy activities."""

    name = "research"
    wave = 2

    queue = RESEARCH

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        argv = [sys.executable, "-m", "workers.research"]
        spec = ProcessSpec(argv, self.log_path, env=_platform_env(self.data_dir, urls))
        return spec, urls["temporal"], "workers.research"


async def _pollers(url: str, namespace: str, queue: str) -> dict[str, float]:
    """Seconds since each poller of the queue's workflow tasks last polled, by identity. A
    worker whose activity slots are all taken stops polling activities, not workflows."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    try:
        client = await Client.connect(url, namespace=namespace)
        reply = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except Exception as exc:
        raise ComponentError(f"cannot ask Temporal about the worker: {exc}") from None
    now = time.time()
    return {p.identity: now - p.last_access_time.ToSeconds() for p in reply.pollers}


class BridgeComponent(Component):
    """Hot-path events to workflow signals, for the demo account."""

    name = "bridge"
    wave = 2
    restart_when_unhealthy = True  # its metrics server is a thread of its own

    @property
    def external_url(self) -> str | None:
        return None

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        account = self.settings.demo.account
        port = free_port()
        argv = [sys.executable, "-m", "workers.bridge", "--accounts", account]
        argv += ["--metrics-port", str(port)]
        spec = ProcessSpec(argv, self.log_path, env=_platform_env(self.data_dir, urls))
        return spec, f"http://127.0.0.1:{port}/metrics", f"workers.bridge --accounts {account}"

    async def check(self, url: str) -> None:
        await http_answers(url, "the bridge's metrics")

    async def health(self, url: str, pid: int) -> str | None:
        """From its own gauges: the bus or Temporal away (waited out), or its loop gone quiet."""
        g = await _scrape(url)
        if g is None:
            return None
        if g.get("aitp_bridge_down", 0.0) >= 1.0:
            return "degraded: the event bus is unavailable; waiting for Redis"
        if g.get("aitp_bridge_temporal_refusing", 0.0) >= 1.0:
            return "degraded: Temporal does not take deliveries; events wait, in order"
        idle = g.get("aitp_bridge_read_age_seconds", 0.0)
        if idle > self.settings.health.loop_idle_s:
            return f"stuck: no event read for {idle:.0f}s"
        return None


class ApiComponent(Component):
    """The trader API (`python -m api`) on the configured or a free port."""

    name = "api"
    wave = 1

    @property
    def external_url(self) -> str | None:
        return None

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        cfg = self.settings.api
        port = cfg.port or free_port(cfg.host)
        argv = [sys.executable, "-m", "api", "--host", cfg.host, "--port", str(port)]
        spec = ProcessSpec(argv, self.log_path, env=_platform_env(self.data_dir, urls))
        return spec, f"http://{cfg.host}:{port}", f"api --host {cfg.host} --port {port}"

    async def check(self, url: str) -> None:
        await http_answers(f"{url}/readyz", "the API")

    async def health(self, url: str, pid: int) -> str | None:
        """From its own gauges: the WebSocket fan-out's reader, away or gone quiet."""
        g = await _scrape(f"{url}/metrics")
        if g is None:
            return None
        if g.get("aitp_api_ws_down", 0.0) >= 1.0:
            return "degraded: the WebSocket fan-out waits for Redis or PostgreSQL; REST answers"
        idle = g.get("aitp_api_ws_read_age_seconds", 0.0)
        if idle > self.settings.health.loop_idle_s:
            return f"stuck: the WebSocket fan-out has not read for {idle:.0f}s"
        return None

    def display_address(self, url: str) -> str:
        return f"{url} (docs {url}/docs)"


def all_components(settings: Settings) -> list[Component]:
    """In start order; `down` stops them together."""
    components: list[Component] = [
        PostgresComponent(settings),
        RedisComponent(settings),
        ClickHouseComponent(settings),
        TemporalComponent(settings),
    ]
    if settings.api.enabled:
        components.append(ApiComponent(settings))
    if settings.research.enabled:
        components.append(ResearchWorkerComponent(settings))
    if settings.demo.enabled:
        components += [
            HotpathComponent(settings),
            TradingWorkerComponent(settings),
            BridgeComponent(settings),
        ]
    return components
