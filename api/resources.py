"""What the API holds open while it runs: opened by the lifespan, never at import."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import BlockingConnectionPool, Redis
from temporalio.client import Client

from adapters.clickhouse.executors import ClickHouseHttpExecutor, SqlExecutor
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from adapters.graph import open_graph_store
from adapters.postgres.identity import IdentityStore
from adapters.postgres.pool import create_pool
from adapters.redis.command_log import RedisCommandLog
from adapters.redis.connection import CONNECT_TIMEOUT_S, SOCKET_TIMEOUT_S
from adapters.redis.event_bus import RedisStreamBus
from adapters.redis.hotpath_link import BusHotpathLink
from api.positions_view import PositionsView
from api.ratelimit import RateLimiter
from api.security.tokens import AccessTokens, Keyring
from api.streams import Fanout
from config.settings import Settings
from domain.market_data import SeriesInfo
from domain.ports import GraphStore, HotpathLink
from temporal.client import connect


@dataclass
class Resources:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    temporal: Client
    identity: IdentityStore
    tokens: AccessTokens
    limiter: RateLimiter
    fanout: Fanout
    hotpath: HotpathLink
    market: ClickHouseMarketDataStore
    clickhouse: SqlExecutor
    positions: PositionsView
    graph: GraphStore  # decision lineage
    _series: tuple[float, list[SeriesInfo]] | None = None

    async def stored_series(self, max_age_s: float = 30.0) -> list[SeriesInfo]:
        """What the market-data store holds: a scan of every series, so asked at most every
        `max_age_s` (new imports show within that time)."""
        now = time.monotonic()
        if self._series is None or now - self._series[0] > max_age_s:
            self._series = (now, await asyncio.to_thread(self.market.series))
        return self._series[1]

    @classmethod
    async def open(cls, settings: Settings) -> Resources:
        pg, rd, tp = settings.postgres.url, settings.redis.url, settings.temporal.address
        ch = settings.clickhouse.url
        if not (pg and rd and tp and ch):
            missing = [
                name
                for name, value in (
                    ("AITP_POSTGRES__URL", pg),
                    ("AITP_REDIS__URL", rd),
                    ("AITP_TEMPORAL__ADDRESS", tp),
                    ("AITP_CLICKHOUSE__URL", ch),
                )
                if not value
            ]
            raise RuntimeError(
                f"the API needs {', '.join(missing)}; `aitp up` sets them for the API it serves"
            )
        pool = await create_pool(pg, settings.postgres, "api")
        # a blocking pool: a burst beyond its size waits for a connection instead of failing
        redis = Redis.from_pool(
            BlockingConnectionPool.from_url(
                rd,
                max_connections=settings.redis.pool_max_size,
                timeout=10,
                socket_timeout=SOCKET_TIMEOUT_S,  # a stalled Redis fails a request, never hangs it
                socket_connect_timeout=CONNECT_TIMEOUT_S,
            )
        )
        arango = settings.arango
        try:
            temporal = await connect(tp, settings.temporal)
            executor = await asyncio.to_thread(ClickHouseHttpExecutor, ch)
            graph = await open_graph_store(
                arango.url,
                arango.database,
                arango.username,
                arango.password.get_secret_value(),
                pool,
            )
        except Exception:
            await pool.close()
            await redis.aclose()
            raise
        api = settings.api
        keyring = Keyring.open(api.jwt_keys_dir or settings.data_dir / "api" / "jwt")
        tokens = AccessTokens(keyring, api.jwt_issuer, api.jwt_audience, api.access_ttl_s)
        fanout = Fanout.for_pool(redis, pool, queue_size=api.ws_queue)
        fanout.start()
        positions = PositionsView(pool)
        positions.start()
        return cls(
            settings,
            pool,
            redis,
            temporal,
            IdentityStore(pool),
            tokens,
            RateLimiter(redis),
            fanout,
            BusHotpathLink(RedisStreamBus(redis), RedisCommandLog(redis)),
            ClickHouseMarketDataStore(executor, settings.clickhouse.database),
            executor,
            positions,
            graph,
        )

    async def close(self) -> None:
        await self.fanout.stop()
        await self.positions.stop()
        await self.pool.close()
        await self.redis.aclose()
        await asyncio.to_thread(self.market.close)

    async def readiness(self) -> dict[str, Any]:
        """Each dependency's answer to the cheapest question it can answer."""
        checks: dict[str, Any] = {}
        for name, probe in (
            ("postgres", lambda: self.pool.fetchval("SELECT 1")),
            ("redis", self.redis.ping),
            ("temporal", lambda: self.temporal.service_client.check_health()),
            ("clickhouse", lambda: asyncio.to_thread(self.clickhouse.command, "SELECT 1")),
        ):
            try:
                await probe()
                checks[name] = "ok"
            except Exception as exc:  # a readiness probe reports, it never raises
                checks[name] = f"down: {type(exc).__name__}: {exc}"[:200]
        return checks
