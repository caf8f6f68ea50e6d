"""A scratch platform for a benchmark: every store embedded under a temporary data dir, the
Temporal dev server on free ports, and nothing else (no demo account, no API process) so
only what the benchmark starts competes for the cores."""

from __future__ import annotations

import json
import os
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


HIGH_LIMITS = {"per_second": 1e7, "burst": 10**7, "trading_per_second": 1e7, "trading_burst": 10**7}


def api_env(data_dir: Path) -> dict[str, str]:
    """The environment of a `python -m api` on the scratch platform: its stores, and every
    tier's limits set so high that the benchmark measures the work, never a refusal."""
    urls = addresses(data_dir)
    tiers = {tier: HIGH_LIMITS for tier in ("free", "pro", "institutional")}
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AITP_")},
        "AITP_DATA_DIR": str(data_dir),
        "AITP_POSTGRES__URL": urls["postgres"],
        "AITP_REDIS__URL": urls["redis"],
        "AITP_TEMPORAL__ADDRESS": urls["temporal"],
        "AITP_CLICKHOUSE__URL": urls["clickhouse"],
        "AITP_API__TIERS": json.dumps(tiers),
    }
