"""A scratch platform for a benchmark: every store embedded under a temporary data dir, the
Temporal dev server on free ports, and nothing else (no demo account) so only what the
benchmark starts competes for the cores; and, for the API benchmarks, `python -m api` on it
with a trader signed in."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx

from adapters.postgres.identity import IdentityStore
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from api.security.passwords import hash_password
from config.settings import (
    ApiSettings,
    PostgresSettings,
    Settings,
)
from domain.messages import FillReported
from domain.orders import Order, Side
from embedded import state, supervisor
from embedded.process import free_port
from embedded.scratch import scratch_settings


def platform_settings(data_dir: Path) -> Settings:
    """The benchmarks' own platform: every store embedded, no API process."""
    return scratch_settings(data_dir, api=ApiSettings(enabled=False))


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


PASSWORD = "bench password 1"  # noqa: S105  (a throwaway user of a scratch platform)
ACCOUNT = "bench-acct"  # the seeded trader's account


def serve(argv: list[str], env: dict[str, str], ready: str, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    proc = subprocess.Popen([sys.executable, *argv], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{argv} did not start; see {log}")


async def seed_desk(postgres: str) -> None:
    """A tenant with an account holding three positions, and a trader to sign in as."""
    pool = await create_pool(postgres, PostgresSettings(), "bench")
    try:
        identity = IdentityStore(pool)
        await identity.ensure_tenant("bench", tier="institutional")
        await identity.create_user("bench", "trader@bench.test", hash_password(PASSWORD), "trader")
        book = PostgresOrderBook(pool)
        await book.ensure_account(ACCOUNT, "bench")
        for n, (symbol, side, price) in enumerate(
            [
                ("EURUSD", Side.BUY, "1.1002"),
                ("USDJPY", Side.SELL, "151.20"),
                ("GBPUSD", Side.BUY, "1.2701"),
            ]
        ):
            cid = f"bench-{n}"
            order = Order(cid, symbol, side, Decimal("0.5"))
            await book.record_order(ACCOUNT, order)
            fill = FillReported(
                fill_id=f"f{n}",
                client_order_id=cid,
                symbol=symbol,
                side=side,
                volume=Decimal("0.5"),
                price=Decimal(price),
                ts=time.time_ns(),
            )
            await book.record_fill(ACCOUNT, fill)
    finally:
        await pool.close()


@dataclass(frozen=True)
class ScratchApi:
    data_dir: Path
    urls: dict[str, str]  # where each store listens
    env: dict[str, str]
    port: int
    token: str  # the seeded trader's access token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def scratch_api(prefix: str) -> Iterator[ScratchApi]:
    """A scratch platform seeded with a trader's desk, and `python -m api` serving it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data_dir = Path(tmp)
        settings = platform_settings(data_dir)
        asyncio.run(supervisor.start(settings))
        proc: subprocess.Popen[bytes] | None = None
        try:
            urls = addresses(data_dir)
            asyncio.run(seed_desk(urls["postgres"]))
            env = api_env(data_dir)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = serve(
                ["-m", "api", "--port", str(port)], env, f"{url}/readyz", data_dir / "api.log"
            )
            token = httpx.post(
                f"{url}/auth/login", json={"email": "trader@bench.test", "password": PASSWORD}
            ).json()["access_token"]
            yield ScratchApi(data_dir, urls, env, port, token)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(15)
            supervisor.stop(settings)
