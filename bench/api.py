"""The trader API against a bare FastAPI endpoint, served the same way, in the same run.

Ours: `python -m api` (uvicorn, one worker) on the embedded PostgreSQL, Redis and Temporal,
answering an authenticated (EdDSA access token), rate-limited (GCRA in Redis, institutional
tier set high enough never to refuse) GET /v1/positions from PostgreSQL, tenant-scoped.
Peer: a bare FastAPI app returning the same JSON document. Load: `bench._load` in its own
process, keep-alive connections, 1 s warm-up then a fixed time, at 64 and 256 connections.
Figures: throughput_ratio (ours / bare at 64 connections) and p99_ms (ours at 256).

    python -m bench.api [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
import orjson

from adapters.postgres.identity import IdentityStore
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from api.security.passwords import hash_password
from bench._platform import addresses, api_env, scratch_settings
from bench._report import Target, report
from config.settings import (
    PostgresSettings,
)
from domain.orders import Fill, Order, Side
from embedded import supervisor
from embedded.process import free_port

PASSWORD = "bench password 1"  # noqa: S105  (a throwaway user of a scratch platform)


def _serve(argv: list[str], env: dict[str, str], ready: str, log: Path) -> subprocess.Popen[bytes]:
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


def _load(url: str, connections: int, seconds: float, headers: list[str]) -> dict[str, float]:
    argv = [sys.executable, "-m", "bench._load", "--url", url]
    argv += ["--connections", str(connections), "--seconds", str(seconds)]
    for header in headers:
        argv += ["--header", header]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the load generator failed at {connections} connections:\n{done.stderr}")
    result: dict[str, float] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


async def _seed(postgres: str) -> None:
    """A tenant with an account holding three positions, and a trader to sign in as."""
    pool = await create_pool(postgres, PostgresSettings(), "bench")
    try:
        identity = IdentityStore(pool)
        await identity.ensure_tenant("bench", tier="institutional")
        await identity.create_user("bench", "trader@bench.test", hash_password(PASSWORD), "trader")
        book = PostgresOrderBook(pool)
        await book.ensure_account("bench-acct", "bench")
        for n, (symbol, side, price) in enumerate(
            [
                ("EURUSD", Side.BUY, "1.1002"),
                ("USDJPY", Side.SELL, "151.20"),
                ("GBPUSD", Side.BUY, "1.2701"),
            ]
        ):
            cid = f"bench-{n}"
            order = Order(cid, symbol, side, Decimal("0.5"))
            await book.record_order("bench-acct", order)
            await book.record_fill(
                "bench-acct",
                symbol,
                Fill(f"f{n}", cid, side, Decimal("0.5"), Decimal(price), time.time_ns()),
            )
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aitp-bench-api-") as tmp:
        data_dir = Path(tmp)
        settings = scratch_settings(data_dir)
        asyncio.run(supervisor.start(settings))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            urls = addresses(data_dir)
            asyncio.run(_seed(urls["postgres"]))
            env = api_env(data_dir)
            ours_port, bare_port = free_port(), free_port()
            ours = f"http://127.0.0.1:{ours_port}"
            procs.append(
                _serve(
                    ["-m", "api", "--port", str(ours_port)],
                    env,
                    f"{ours}/readyz",
                    data_dir / "api.log",
                )
            )
            token = httpx.post(
                f"{ours}/auth/login", json={"email": "trader@bench.test", "password": PASSWORD}
            ).json()["access_token"]
            auth = [f"Authorization: Bearer {token}"]
            body = httpx.get(f"{ours}/v1/positions", headers={"Authorization": f"Bearer {token}"})
            assert body.status_code == 200, body.text
            assert len(body.json()) == 3, body.text
            (data_dir / "positions.json").write_bytes(body.content)
            bare = f"http://127.0.0.1:{bare_port}"
            procs.append(
                _serve(
                    [
                        "-m",
                        "bench._bare_api",
                        "--port",
                        str(bare_port),
                        "--body",
                        str(data_dir / "positions.json"),
                    ],
                    env,
                    f"{bare}/v1/positions",
                    data_dir / "bare.log",
                )
            )
            assert httpx.get(f"{bare}/v1/positions").json() == body.json()

            results: dict[str, dict[str, float]] = {}
            for connections in (64, 256):
                results[f"bare_{connections}"] = _load(
                    f"{bare}/v1/positions", connections, args.seconds, []
                )
                results[f"ours_{connections}"] = _load(
                    f"{ours}/v1/positions", connections, args.seconds, auth
                )
            for name, r in results.items():
                assert r["errors"] == 0, (
                    f"{name}: {r['errors']} answers were not 200 ({r['first_error']})"
                )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(15)
            supervisor.stop(settings)

    figures: dict[str, float | int | str] = {
        "throughput_ratio": results["ours_64"]["rps"] / results["bare_64"]["rps"],
        "p99_ms": results["ours_256"]["p99_ms"],
    }
    for name, r in results.items():
        figures[f"{name}_rps"] = r["rps"]
        figures[f"{name}_p50_ms"] = r["p50_ms"]
        figures[f"{name}_p99_ms"] = r["p99_ms"]
    report(
        "api",
        figures,
        [Target("throughput_ratio", ">=", 0.6), Target("p99_ms", "<=", 50.0)],
    )


if __name__ == "__main__":
    main()
