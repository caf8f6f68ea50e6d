"""Every setting of the platform in one validated object.

Settings come from the environment (`AITP_` prefix, `__` between nested names, so
`AITP_POSTGRES__URL` sets `postgres.url`) and are built once in a `main()` or a lifespan, then
passed down; nothing reads the environment anywhere else. A store whose `url` is set is a
production server and `aitp up` leaves it alone; a store without one is started embedded,
under `data_dir`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return platformdirs.user_data_path("aitp", appauthor=False)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PostgresSettings(_Section):
    url: str | None = Field(
        default=None, description="postgresql://... of a production server; unset = embedded"
    )
    database: str = "aitp"
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)


class RedisSettings(_Section):
    url: str | None = Field(default=None, description="redis://... or unix://...; unset = embedded")
    pool_max_size: int = Field(
        default=64, ge=1, description="connections per API process; more requests wait for one"
    )


class ClickHouseSettings(_Section):
    url: str | None = Field(
        default=None, description="http://user:pass@host:8123 of a ClickHouse server; unset = chDB"
    )
    database: str = "aitp"


class TemporalSettings(_Section):
    address: str | None = Field(default=None, description="host:port of a server; unset = embedded")
    namespace: str = "default"
    port: int = Field(default=7233, ge=1, le=65535, description="embedded frontend gRPC port")
    ui_port: int = Field(default=8233, ge=1, le=65535, description="embedded Web UI port")
    api_key: SecretStr | None = None
    tls: bool = False


class NatsSettings(_Section):
    url: str | None = None


class WeaviateSettings(_Section):
    url: str | None = None
    api_key: SecretStr | None = None


class ArangoSettings(_Section):
    url: str | None = None
    database: str = "aitp"
    username: str = "root"
    password: SecretStr = SecretStr("")


class Mt5Settings(_Section):
    enabled: bool = Field(
        default=False, description="trade through MT5 instead of the paper broker"
    )
    bridge: str | None = Field(default=None, description="host:port of an mt5linux-style bridge")
    login: int | None = None
    password: SecretStr | None = None
    server: str | None = None
    server_utc_offset_hours: float = 0.0  # broker server time, for history look-ups


class TierLimits(_Section):
    """A tier's request rates: `burst` at once, refilled at `per_second`; trading routes
    (orders, strategies, backtests) count in a stricter bucket of their own."""

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)
    trading_per_second: float = Field(gt=0)
    trading_burst: int = Field(ge=1)


def _default_tiers() -> dict[str, TierLimits]:
    return {
        "free": TierLimits(per_second=5, burst=20, trading_per_second=1, trading_burst=5),
        "pro": TierLimits(per_second=50, burst=100, trading_per_second=10, trading_burst=20),
        "institutional": TierLimits(
            per_second=1_000, burst=2_000, trading_per_second=100, trading_burst=200
        ),
    }


class ApiSettings(_Section):
    """The trader API: `aitp up` serves it; `python -m api` serves it alone."""

    enabled: bool = Field(default=True, description="`aitp up` serves the API")
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 = a free port, printed")
    jwt_keys_dir: Path | None = Field(
        default=None, description="Ed25519 signing keys (PEM, one per kid); unset = data dir"
    )
    jwt_issuer: str = "aitp"
    jwt_audience: str = "aitp-api"
    access_ttl_s: int = Field(default=900, ge=30, description="access token lifetime")
    refresh_ttl_s: int = Field(default=30 * 86_400, ge=60, description="refresh token lifetime")
    tiers: dict[str, TierLimits] = Field(default_factory=_default_tiers)
    login_per_minute: int = Field(default=10, ge=1, description="login attempts per client IP")
    ws_heartbeat_s: float = Field(default=15, gt=0, description="WebSocket heartbeat interval")
    ws_queue: int = Field(
        default=1_000, ge=1, description="events a WebSocket client may fall behind by"
    )
    accept_wait_s: float = Field(
        default=0.5, ge=0, le=10, description="how long placing an order waits for the broker"
    )
    edge: bool = Field(
        default=True,
        description="answer GET /v1/positions before FastAPI's routing (api/edge.py); "
        "false: FastAPI serves it like every other route",
    )


# OpenAI-compatible chat-completions endpoints of the providers
LLM_ENDPOINTS = {
    "openai": "https://api.openai.com/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta/openai",
}


class LlmSettings(_Section):
    """The decision path's LLM review, through the provider's OpenAI-compatible API. With no
    key the step is skipped and recorded as such."""

    provider: Literal["openai", "deepseek", "google"] = "openai"
    base_url: str | None = Field(default=None, description="default: the provider's endpoint")
    model: str = "gpt-4o-mini"
    api_key: SecretStr | None = None
    max_tokens: int = Field(default=300, ge=16, le=4_096)
    input_usd_per_mtok: float = Field(default=0.15, ge=0, description="price per 1M input tokens")
    output_usd_per_mtok: float = Field(default=0.60, ge=0, description="per 1M output tokens")

    @property
    def endpoint(self) -> str:
        return self.base_url or LLM_ENDPOINTS[self.provider]


def _cores() -> int:
    return os.cpu_count() or 1


class ResearchSettings(_Section):
    """The research worker: backtests (and training) on the research task queue."""

    enabled: bool = Field(default=True, description="`aitp up` runs a research worker")
    concurrency: int = Field(
        default_factory=_cores, ge=1, description="activities at once (default: CPU cores)"
    )


class RiskSettings(_Section):
    """The hot path's pre-trade limits, in lots and the account currency."""

    max_order_volume: Decimal = Field(default=Decimal(10), gt=0)
    max_order_notional: Decimal = Field(default=Decimal(2_000_000), gt=0)
    max_position_volume: Decimal = Field(default=Decimal(20), gt=0, description="net, per symbol")
    max_gross_exposure: Decimal = Field(default=Decimal(10_000_000), gt=0)
    daily_loss_reduce_only: Decimal = Field(
        default=Decimal(5_000), gt=0, description="a loss that leaves only reducing orders"
    )
    daily_loss_halt: Decimal = Field(default=Decimal(10_000), gt=0, description="stops trading")
    leverage: Decimal = Field(default=Decimal(100), gt=0)
    max_orders_per_window: int = Field(
        default=50, gt=0, description="orders the account may place in one second"
    )


class DemoSettings(_Section):
    """The demo account `aitp up` trades on the synthetic feed with the paper broker."""

    enabled: bool = True
    account: str = "demo"
    symbols: tuple[str, ...] = ("EURUSD", "USDJPY")
    strategies: tuple[str, ...] = ("ma_cross:fast=10,slow=30",)
    route: str = Field(default="decision", pattern="^(direct|decision)$")


class WorkerSettings(_Section):
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="the trading worker's Prometheus endpoint on 127.0.0.1 (Temporal's worker "
        "metrics and the books' repair counters); 0: none. `aitp up` picks a free one.",
    )


class HealthSettings(_Section):
    """How `aitp up` tells a process that is alive but not working, and what it does then."""

    probe_s: float = Field(default=5.0, gt=0, description="how often every process is probed")
    stuck_after_s: float = Field(
        default=30.0,
        gt=0,
        description="a process that does not answer, or says it is stuck, this long is restarted",
    )
    loop_idle_s: float = Field(
        default=10.0,
        gt=0,
        description="a process whose loop over a stream has not turned this long is stuck: the "
        "hot path's command consumer (it reads every 0.2 s when well) and publisher (every "
        "50 ms), the bridge (every 50 ms)",
    )
    tick_idle_s: float = Field(
        default=30.0,
        gt=0,
        description="a hot path on a feed that ticks continuously (the synthetic market) is "
        "stuck after this long without a tick",
    )
    poll_idle_s: float = Field(
        default=150.0,
        gt=0,
        description="a worker is stuck when Temporal has not seen it poll its queue this long "
        "(an idle worker's long poll is renewed about every 60 s)",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AITP_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    temporal: TemporalSettings = TemporalSettings()
    nats: NatsSettings = NatsSettings()
    weaviate: WeaviateSettings = WeaviateSettings()
    arango: ArangoSettings = ArangoSettings()
    demo: DemoSettings = DemoSettings()
    api: ApiSettings = ApiSettings()
    research: ResearchSettings = ResearchSettings()
    mt5: Mt5Settings = Mt5Settings()
    llm: LlmSettings = LlmSettings()
    risk: RiskSettings = RiskSettings()
    worker: WorkerSettings = WorkerSettings()
    health: HealthSettings = HealthSettings()

    def with_data_dir(self, data_dir: Path | None) -> Settings:
        """The same settings rooted at another data directory (the CLI's `--data-dir`)."""
        if data_dir is None:
            return self
        return self.model_copy(update={"data_dir": data_dir.expanduser().resolve()})
