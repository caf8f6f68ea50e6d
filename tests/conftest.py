"""Real servers for the tests, started once per session through the same code as `aitp up`.

The platform runs under a temporary data dir with free ports for Temporal, so tests never touch
a developer's own platform or the servers already listening on the machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import (
    Settings,
)
from embedded import supervisor
from embedded.scratch import scratch_settings
from tests.private_redis import PrivateRedis

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


def backends(*always: str, **when_set: str) -> list[str]:
    """The backends of a contract suite: those always here, plus each server whose URL
    variable is set (`server="AITP_REDIS__URL"`)."""
    return [*always, *(name for name, variable in when_set.items() if os.environ.get(variable))]


@dataclass(frozen=True)
class RunningPlatform:
    settings: Settings
    urls: dict[str, str]

    @property
    def postgres_url(self) -> str:
        return self.urls["postgres"]

    @property
    def redis_url(self) -> str:
        return self.urls["redis"]

    @property
    def clickhouse_url(self) -> str:
        return self.urls["clickhouse"]

    @property
    def temporal_address(self) -> str:
        return self.urls["temporal"]

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
        env["AITP_DATA_DIR"] = str(self.settings.data_dir)
        env["AITP_TEMPORAL__PORT"] = str(self.settings.temporal.port)
        env["AITP_TEMPORAL__UI_PORT"] = str(self.settings.temporal.ui_port)
        return env


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    data_dir = tmp_path_factory.mktemp("platform")
    settings = scratch_settings(data_dir)
    asyncio.run(supervisor.start(settings))
    from embedded import state

    records = state.load(data_dir).components
    try:
        yield RunningPlatform(settings, {name: rec.url for name, rec in records.items()})
    finally:
        supervisor.stop(settings)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared market data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def aitp() -> list[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "aitp"
    assert script.exists(), "the aitp console script is not installed (make install)"
    return [str(script)]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis of the test's own, to stall, kill and restart (see `tests.private_redis`)."""
    # a short path: a unix socket's path is limited to about 100 bytes
    workdir = Path(tempfile.mkdtemp(prefix="aitp-redis-", dir="/tmp"))  # short: a socket path
    redis_server = PrivateRedis(workdir)
    redis_server.start()
    try:
        yield redis_server
    finally:
        redis_server.close()
        shutil.rmtree(workdir, ignore_errors=True)
