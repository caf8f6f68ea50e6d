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
import subprocess
import sys

import httpx
import orjson

from bench._platform import scratch_api, serve
from bench._report import Target, report
from embedded.process import free_port


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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with scratch_api("aitp-bench-api-") as platform:
        data_dir, ours = platform.data_dir, platform.url
        bare_port = free_port()
        bearer = f"Bearer {platform.token}"
        auth = [f"Authorization: {bearer}"]
        body = httpx.get(f"{ours}/v1/positions", headers={"Authorization": bearer})
        assert body.status_code == 200, body.text
        assert len(body.json()) == 3, body.text
        (data_dir / "positions.json").write_bytes(body.content)
        bare = f"http://127.0.0.1:{bare_port}"
        peer = serve(
            [
                "-m",
                "bench._bare_api",
                "--port",
                str(bare_port),
                "--body",
                str(data_dir / "positions.json"),
            ],
            platform.env,
            f"{bare}/v1/positions",
            data_dir / "bare.log",
        )
        try:
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
            peer.terminate()
            peer.wait(15)

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
