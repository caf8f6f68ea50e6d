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
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from config.settings import HealthSettings, Settings
from embedded import state, supervisor
from embedded.components import Component, ComponentError, HotpathComponent
from embedded.process import ProcessSpec, free_port


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


def gauges(down: float, read_age_s: float, backlogged: float = 0.0) -> str:
    labels = '{account="demo"}'
    lines = [
        f"aitp_commands_down{labels} {down}",
        f"aitp_commands_read_age_seconds{labels} {read_age_s}",
        f"aitp_outbox_backlogged{labels} {backlogged}",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        (gauges(0.0, 0.1), None),
        (gauges(1.0, 42.0), "degraded: the command stream is unavailable; waiting for Redis"),
        (gauges(0.0, 42.0), "stuck: no command read for 42s"),
        (
            gauges(0.0, 0.1, 1.0),
            "degraded: events wait for the bus past their bound; new orders halt",
        ),
    ],
)
async def test_the_hot_path_is_judged_by_what_its_command_consumer_does(
    tmp_path: Path, metrics: str, text: str, verdict: str | None
) -> None:
    Gauges.text = f"# HELP aitp_commands_down 1 while the command stream cannot be read\n{text}"
    hotpath = HotpathComponent(Settings(data_dir=tmp_path))
    await hotpath.check(metrics)
    assert await hotpath.health(metrics) == verdict
