"""The LISTEN connection that positions and champions rely on, on the real PostgreSQL: a
connection gone silent (no FIN, as when a network path dies) is found by the probe, and the
listener attaches again and hears what comes next."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

from adapters.postgres.notifications import Listener
from tests.conftest import RunningPlatform


class FreezableProxy:
    """TCP on 127.0.0.1 to PostgreSQL's unix socket; `flowing.clear()` stops every byte
    without closing anything."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    await self.flowing.wait()
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def proxied(platform: RunningPlatform) -> AsyncIterator[tuple[FreezableProxy, str]]:
    parts = urlsplit(platform.postgres_url)
    sockets = parse_qs(parts.query).get("host", [""])[0]
    if not sockets.startswith("/"):
        pytest.skip("the session's PostgreSQL is not on a unix socket")
    proxy = FreezableProxy(f"{sockets}/.s.PGSQL.{parts.port or 5432}")
    await proxy.start()
    yield proxy, f"postgresql://{parts.username}@127.0.0.1:{proxy.port}{parts.path}"
    proxy.flowing.set()
    await proxy.stop()


async def _until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within the time")


async def test_a_silent_connection_is_found_and_listening_resumes(
    platform: RunningPlatform, proxied: tuple[FreezableProxy, str]
) -> None:
    proxy, url = proxied
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    direct = await asyncpg.connect(platform.postgres_url)
    heard: list[str] = []
    gaps: list[bool] = []
    listener = Listener(
        pool, "listener_probe", heard.append, lambda: gaps.append(True), retry_s=0.05, probe_s=0.2
    )
    listener.start()
    try:
        await listener.wait_listening()
        await direct.execute("SELECT pg_notify('listener_probe', 'before')")
        await _until(lambda: heard == ["before"])

        proxy.flowing.clear()  # silent: nothing is closed, nothing arrives
        await _until(lambda: not listener.listening, within_s=3)
        attached_then_lost = len(gaps)
        assert attached_then_lost >= 2

        proxy.flowing.set()
        await listener.wait_listening()
        assert len(gaps) > attached_then_lost  # attaching again drops what was kept
        await direct.execute("SELECT pg_notify('listener_probe', 'after')")
        await _until(lambda: heard[-1:] == ["after"])
    finally:
        await listener.stop()
        await direct.close()
        await pool.close()
