"""Settings for a platform of its own, as tests and benchmarks start one: every store
embedded whatever AITP_* URLs the environment holds, Temporal on free ports, no demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config.settings import (
    ClickHouseSettings,
    DemoSettings,
    PostgresSettings,
    RedisSettings,
    Settings,
    TemporalSettings,
)
from embedded.process import free_port


def scratch_settings(data_dir: Path, **sections: Any) -> Settings:
    """`sections` replace whole sections (e.g. `api=ApiSettings(enabled=False)`)."""
    return Settings(
        data_dir=data_dir,
        postgres=PostgresSettings(url=None),
        redis=RedisSettings(url=None),
        clickhouse=ClickHouseSettings(url=None),
        temporal=TemporalSettings(address=None, port=free_port(), ui_port=free_port()),
        demo=DemoSettings(enabled=False),  # the hot path has tests and benchmarks of its own
        **sections,
    )
