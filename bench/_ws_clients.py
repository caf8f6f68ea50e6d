"""WebSocket clients for bench/ws.py, in a process of their own: N connections to /v1/ws,
each authenticated and subscribed to one channel. Then, for every `measure SECONDS` line on
stdin, counts the events all clients receive in that window and the delivery latency of each
(now minus the `sent` the publisher stamped into the event), and prints one JSON line.

    python -m bench._ws_clients --url ws://127.0.0.1:8000/v1/ws --token T --clients 1000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import numpy as np
import orjson
import uvloop
import websockets

SENT = b'"sent":'


class Tally:
    def __init__(self) -> None:
        self.counting = False
        self.events = 0
        self.latencies: list[int] = []
        self.closed: dict[int, int] = {}


async def client(url: str, token: str, channel: str, tally: Tally, ready: asyncio.Event) -> None:
    async with websockets.connect(url, max_queue=None, compression=None) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        await ws.recv()  # welcome
        await ws.send(orjson.dumps({"type": "subscribe", "channels": [channel]}).decode())
        await ws.recv()  # subscribed
        ready.set()
        try:
            async for frame in ws:
                if not tally.counting:
                    continue
                raw = frame.encode() if isinstance(frame, str) else frame
                at = raw.find(SENT)
                if at < 0:
                    continue  # a heartbeat
                end = raw.find(b"}", at)
                tally.events += 1
                tally.latencies.append(time.time_ns() - int(raw[at + len(SENT) : end]))
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            tally.closed[code] = tally.closed.get(code, 0) + 1


async def main(args: argparse.Namespace) -> None:
    tally = Tally()
    gate = asyncio.Semaphore(64)  # connect in waves, as a crowd of real clients would
    readies = [asyncio.Event() for _ in range(args.clients)]

    async def one(ready: asyncio.Event) -> None:
        async with gate:
            task = asyncio.create_task(client(args.url, args.token, args.channel, tally, ready))
            await ready.wait()
        await task

    tasks = [asyncio.create_task(one(r)) for r in readies]
    await asyncio.gather(*(r.wait() for r in readies))
    print(orjson.dumps({"ready": args.clients}).decode(), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, _, seconds = line.strip().partition(" ")
        if command != "measure":
            break
        tally.events, tally.latencies = 0, []
        tally.counting = True
        started = time.perf_counter()
        await asyncio.sleep(float(seconds))
        tally.counting = False
        elapsed = time.perf_counter() - started
        lat = np.array(tally.latencies or [0], dtype=np.float64) / 1e6
        print(
            orjson.dumps(
                {
                    "events": tally.events,
                    "per_s": tally.events / elapsed,
                    "p50_ms": float(np.percentile(lat, 50)),
                    "p99_ms": float(np.percentile(lat, 99)),
                    "max_ms": float(lat.max()),
                    "closed": sum(tally.closed.values()),
                    "closed_codes": {str(k): v for k, v in tally.closed.items()},
                }
            ).decode(),
            flush=True,
        )
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench._ws_clients")
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--channel", default="quotes:EURUSD")
    uvloop.run(main(parser.parse_args()))
