"""A Redis of a test's own, to stall (SIGSTOP), kill and restart under the code that uses it;
the platform's Redis is shared by the whole suite and must not be touched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from embedded.components import redis_server_binary

PATIENCE_S = 30.0


class PrivateRedis:
    """A redis-server of the test's own, on a unix socket, its data kept (AOF, every write)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.socket = workdir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            redis_server_binary(), "--port", "0", "--unixsocket", str(self.socket),
            "--unixsocketperm", "700", "--dir", str(self.workdir), "--appendonly", "yes",
            "--appendfsync", "always", "--save", "",
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(self._answers, "the private Redis to answer")

    def _answers(self) -> bool:
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        return False

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.kill()


def until(done: Callable[[], bool], what: str, within: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"waited {within}s for {what}"
        time.sleep(0.05)


async def until_async(done: Callable[[], bool], what: str, within: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, f"waited {within}s for {what}"
        await asyncio.sleep(0.05)
