"""`aitp up` tells a process that is alive but not working from one that is well: it shows
it as stuck or degraded with the reason, and restarts one that stays stuck, without a hand
on the keyboard. Here with a small real server of the test's own, stopped (SIGSTOP) under
the supervisor, and with the hot path's own gauges served as it serves them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from temporalio.client import Client
from temporalio.worker import Worker

from config.settings import HealthSettings, Settings
from domain.ports import BusMessage
from embedded import state, supervisor
from embedded.components import Component, ComponentError
from embedded.platform_processes import (
    ApiComponent,
    BridgeComponent,
    HotpathComponent,
    TradingWorkerComponent,
)
from embedded.process import ProcessSpec, free_port
from hotpath.metrics import HotpathMetrics
from tests.conftest import RunningPlatform
from tests.waits import until
from workers.bridge import Bridge
from workers.bridge_metrics import bridge_registry
from workflows.books import AccountBooksWorkflow


class TinyServer(Component):
    """A process that answers HTTP: enough to be stuck when stopped."""

    name = "tiny"
    restart_when_unhealthy = True  # its check asks nothing but the process

    @property
    def external_url(self) -> str | None:
        return None

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        port = free_port()
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        spec = ProcessSpec(argv, self.log_path, cwd=self.data_dir)
        return spec, f"http://127.0.0.1:{port}/", f"http.server {port}"

    async def check(self, url: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=1) as http:
                (await http.get(url)).raise_for_status()
        except httpx.HTTPError as exc:
            raise ComponentError(f"no answer: {exc}") from None


async def test_a_process_that_stays_stuck_is_restarted_by_the_supervisor(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, health=HealthSettings(probe_s=0.2, stuck_after_s=1.0))
    comps = [TinyServer(settings)]
    await supervisor.start(settings, comps)
    first = state.load(tmp_path).components["tiny"].pid
    assert first is not None
    said: list[str] = []
    stop = asyncio.Event()
    watching = asyncio.create_task(supervisor.supervise(settings, stop, comps, said.append, 0.1))
    try:
        os.kill(first, signal.SIGSTOP)  # alive, and answering nothing
        [stuck] = await supervisor.status(settings, comps)
        assert stuck.status.startswith("unhealthy: no answer")
        again = stuck
        for _ in range(300):  # restarted and answering: a new process, up
            [again] = await supervisor.status(settings, comps)
            if again.pid != first and again.status == "up":
                break
            await asyncio.sleep(0.05)
        assert (again.status, again.pid != first) == ("up", True)
        assert any("tiny is unhealthy" in line and "restarting" in line for line in said), said
    finally:
        stop.set()
        await watching
        supervisor.stop(settings, comps)


class Gauges(BaseHTTPRequestHandler):
    text = ""

    def do_GET(self) -> None:
        body = self.text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metrics() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gauges)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()


def hotpath_page(**values: float) -> str:
    """The page the hot path serves, from its own metrics set to `values`."""
    metrics = HotpathMetrics("demo")
    for name, value in values.items():
        getattr(metrics, name).set(value)
    return generate_latest(metrics.registry).decode()


@pytest.mark.parametrize(
    ("values", "verdict"),
    [
        ({"commands_read_age": 0.1, "feed_continuous": 1, "feed_tick_age": 0.2}, None),
        (
            {"commands_down": 1, "commands_read_age": 42},
            "degraded: the command stream is unavailable; waiting for Redis",
        ),
        ({"commands_read_age": 42}, "stuck: no command read for 42s"),
        (
            {"outbox_backlogged": 1, "bus_down": 1},
            "degraded: events wait for the bus past their bound; new orders halt",
        ),
        (
            {"bus_down": 1, "publisher_flush_age": 60},
            "degraded: the event bus is unavailable; events wait in the outbox",
        ),
        ({"publisher_flush_age": 12}, "stuck: the publisher has not flushed for 12s"),
        (
            {"feed_continuous": 1, "feed_tick_age": 31},
            "stuck: no tick for 31s from a feed that ticks continuously",
        ),
        ({"feed_continuous": 0, "feed_tick_age": 86_400}, None),  # a venue's weekend
    ],
)
async def test_the_hot_path_is_judged_by_what_its_loops_do(
    tmp_path: Path, metrics: str, values: dict[str, float], verdict: str | None
) -> None:
    Gauges.text = hotpath_page(**values)
    hotpath = HotpathComponent(Settings(data_dir=tmp_path))
    await hotpath.check(metrics)
    assert await hotpath.health(metrics, os.getpid()) == verdict


def bridge_page(read_age_s: float, bus_down: bool = False, refusing: bool = False) -> str:
    """The page the bridge serves, from a bridge in the given state."""
    bridge = Bridge(None, None, ["demo"], "bridge-t")  # type: ignore[arg-type]
    bridge.last_read = time.monotonic() - read_age_s
    if bus_down:
        bridge.outage.went(ConnectionError("refused"))
    if refusing:  # an event of the account held behind one Temporal did not take
        bridge._held["demo"] = [BusMessage("1-0", {"type": b"order_accepted"})]
    return generate_latest(bridge_registry(bridge)).decode()


@pytest.mark.parametrize(
    ("page", "verdict"),
    [
        (lambda: bridge_page(0.05), None),
        (
            lambda: bridge_page(40, bus_down=True),
            "degraded: the event bus is unavailable; waiting for Redis",
        ),
        (
            lambda: bridge_page(0.05, refusing=True),
            "degraded: Temporal does not take deliveries; events wait, in order",
        ),
        (lambda: bridge_page(40), "stuck: no event read for 40s"),
    ],
)
async def test_the_bridge_is_judged_by_its_read_loop(
    tmp_path: Path, metrics: str, page: Callable[[], str], verdict: str | None
) -> None:
    Gauges.text = page()
    bridge = BridgeComponent(Settings(data_dir=tmp_path))
    await bridge.check(metrics)
    assert await bridge.health(metrics, os.getpid()) == verdict


@pytest.mark.parametrize(
    ("page", "verdict"),
    [
        ("aitp_api_ws_down 0.0\naitp_api_ws_read_age_seconds 0.4\n", None),
        (
            "aitp_api_ws_down 1.0\naitp_api_ws_read_age_seconds 30.0\n",
            "degraded: the WebSocket fan-out waits for Redis or PostgreSQL; REST answers",
        ),
        (
            "aitp_api_ws_down 0.0\naitp_api_ws_read_age_seconds 30.0\n",
            "stuck: the WebSocket fan-out has not read for 30s",
        ),
    ],
)
async def test_the_api_is_judged_by_its_fanout(
    tmp_path: Path, metrics: str, page: str, verdict: str | None
) -> None:
    Gauges.text = page  # the names are held to the API's own page in tests/api/test_app.py
    api = ApiComponent(Settings(data_dir=tmp_path))
    assert await api.health(metrics.removesuffix("/metrics"), os.getpid()) == verdict


class QueueWorker(TradingWorkerComponent):
    """The trading worker's health, on a queue of the test's own polled from this process."""

    queue = f"tq-health-{uuid.uuid4().hex[:8]}"


async def test_a_worker_is_judged_by_its_own_polls_as_temporal_saw_them(
    tmp_path: Path, platform: RunningPlatform
) -> None:
    client = await Client.connect(platform.temporal_address)
    worker = Worker(client, task_queue=QueueWorker.queue, workflows=[AccountBooksWorkflow])
    settings = Settings(data_dir=tmp_path)
    component = QueueWorker(settings)
    url = platform.temporal_address
    async with worker:
        await until(lambda: component.health(url, os.getpid()), lambda v: v is None, "polling")
        await component.check(url)
        other = await component.health(url, os.getpid() + 1)
        assert other == f"stuck: process {os.getpid() + 1} does not poll {QueueWorker.queue}"
        impatient = QueueWorker(
            settings.model_copy(update={"health": HealthSettings(poll_idle_s=0.5)})
        )
        said = await until(
            lambda: impatient.health(url, os.getpid()), lambda v: v is not None, "a poll 0.5 s old"
        )
        assert said is not None
        assert said.startswith(f"stuck: process {os.getpid()} last polled {QueueWorker.queue}")
