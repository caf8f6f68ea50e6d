"""A scratch platform for a benchmark: every store embedded under a temporary data dir, the
Temporal dev server on free ports, and nothing else (no demo account, no API process) so
only what the benchmark starts competes for the cores."""

from __future__ import annotations

from pathlib import Path

from config.settings import (
    ApiSettings,
    ClickHouseSettings,
    DemoSettings,
    PostgresSettings,
    RedisSettings,
    Settings,
    TemporalSettings,
)
from embedded import state
from embedded.process import free_port


def scratch_settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        postgres=PostgresSettings(url=None),
        redis=RedisSettings(url=None),
        clickhouse=ClickHouseSettings(url=None),
        temporal=TemporalSettings(address=None, port=free_port(), ui_port=free_port()),
        demo=DemoSettings(enabled=False),
        api=ApiSettings(enabled=False),
    )


def addresses(data_dir: Path) -> dict[str, str]:
    """Where each store `supervisor.start` started listens."""
    return {name: rec.url for name, rec in state.load(data_dir).components.items()}
