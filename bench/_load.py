"""A small HTTP/1.1 load generator, run as its own process so it does not share an event loop
with the server it measures: N keep-alive connections, each sending the next request as soon
as the previous answer is in, for a fixed time. Prints one JSON line.

    python -m bench._load --url http://127.0.0.1:8000/v1/positions --connections 64 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit

import numpy as np
import orjson
import uvloop


async def _connection(
    host: str, port: int, request: bytes, until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def run(url: str, connections: int, seconds: float, headers: list[str]) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{h}\r\n" for h in headers)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    errors: list[int] = []
    warm_until = time.perf_counter() + 1.0  # connections opened and paths warm before counting
    await asyncio.gather(
        *(_connection(host, port, request, warm_until, [], []) for _ in range(connections))
    )
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(host, port, request, until, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "errors": len(errors),
        "first_error": errors[0] if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    result = uvloop.run(run(args.url, args.connections, args.seconds, args.header))
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
