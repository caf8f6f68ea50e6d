"""Where each store is, for any process: the configured server, else what `aitp up` started.

Composition roots (the CLI, the workers, the API lifespan) call these once at start-up and
hand the URLs to the adapters; nothing else needs to know whether a store is embedded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings
from embedded import process, state


class NotRunningError(RuntimeError):
    """The platform is not up; the message says how to start it."""


def _embedded_url(settings: Settings, name: str) -> str:
    record = state.load(settings.data_dir).components.get(name)
    if record is None or not process.is_running(record.pid, record.marker):
        raise NotRunningError(
            f"{name} is not running for data dir {settings.data_dir}; start the platform with "
            "`aitp up --detach` (or point AITP_"
            f"{name.upper()}__{'ADDRESS' if name == 'temporal' else 'URL'} at a server)"
        )
    return record.url


def postgres_url(settings: Settings) -> str:
    return settings.postgres.url or _embedded_url(settings, "postgres")


def redis_url(settings: Settings) -> str:
    return settings.redis.url or _embedded_url(settings, "redis")


def temporal_address(settings: Settings) -> str:
    return settings.temporal.address or _embedded_url(settings, "temporal")


@dataclass(frozen=True)
class ClickHouseTarget:
    """An HTTP URL to a server when one is set or running, else the chDB directory to open."""

    url: str | None
    chdb_path: Path


def clickhouse_target(settings: Settings) -> ClickHouseTarget:
    chdb_path = settings.data_dir / "clickhouse"
    if settings.clickhouse.url:
        return ClickHouseTarget(settings.clickhouse.url, chdb_path)
    try:
        return ClickHouseTarget(_embedded_url(settings, "clickhouse"), chdb_path)
    except NotRunningError:
        # nobody serves the chDB directory: this process may open it itself
        return ClickHouseTarget(None, chdb_path)


def resolved(settings: Settings) -> Settings:
    """The same settings with every store's address filled in, for a process (the API) whose
    lifespan takes addresses, not a data dir to look them up in."""
    target = clickhouse_target(settings)
    return settings.model_copy(
        update={
            "postgres": settings.postgres.model_copy(update={"url": postgres_url(settings)}),
            "redis": settings.redis.model_copy(update={"url": redis_url(settings)}),
            "temporal": settings.temporal.model_copy(
                update={"address": temporal_address(settings)}
            ),
            "clickhouse": settings.clickhouse.model_copy(update={"url": target.url}),
        }
    )
