"""The fake MT5 served from its own process, over the bridge protocol the platform speaks to a
terminal on Linux (RPyC classic, as mt5linux): `python -m tests.fakes.mt5_bridge --port P`.

Being its own process, the broker outlives the hot path: kill -9 the hot path mid-`order_send`
and the order still executes here, exactly as at a real broker. `--reply-lost P` makes each
market order execute with its reply lost with probability P (seeded), and `--lost P` makes it
vanish unexecuted, reply lost too; either way the caller only sees an IPC time-out.
`--netting` makes it a netting account (one position per symbol). Tests act as the broker
and the trader through the same bridge: `fill_pending`, `close_by_broker`, `trade_by_hand`,
`rollover`, `quote`.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fakes.mt5 import (
    AccountInfo,
    FakeMT5,
    OrderSendResult,
    TradeDeal,
    TradeOrder,
    TradePosition,
)


class BridgedMT5(FakeMT5):
    """The fake with a live clock, seeded lost replies and one lock: the bridge serves each
    connection on its own thread, and a killed client's call may still be running when its
    successor connects."""

    def __init__(
        self, seed: int, reply_lost: float, lost: float, netting: bool, balance: float
    ) -> None:
        super().__init__(netting=netting, balance=balance)
        self._rng = random.Random(seed)
        self._reply_lost, self._lost = reply_lost, lost
        self._lock = threading.Lock()
        self.injected = 0  # replies and orders lost on purpose, for a campaign's count

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        with self._lock:
            self.now_ms = int(time.time() * 1000)
            if request["action"] == 1 and not self.outcomes:  # TRADE_ACTION_DEAL
                roll = self._rng.random()
                if roll < self._reply_lost:
                    self.outcomes.append("reply_lost")
                    self.injected += 1
                elif roll < self._reply_lost + self._lost:
                    self.outcomes.append("lost")
                    self.injected += 1
            return super().order_send(request)

    def account_info(self) -> AccountInfo:
        with self._lock:
            return super().account_info()

    # what the broker and the trader do at the terminal, called by tests over the bridge
    def fill_pending(self, ticket: int, price: float) -> None:
        with self._lock:
            self.now_ms = int(time.time() * 1000)
            super().fill_pending(ticket, price)

    def close_by_broker(self, position_ticket: int, reason: int) -> TradeDeal:
        with self._lock:
            self.now_ms = int(time.time() * 1000)
            return super().close_by_broker(position_ticket, reason)

    def trade_by_hand(self, symbol: str, side: int, volume: float) -> TradeDeal:
        with self._lock:
            self.now_ms = int(time.time() * 1000)
            return super().trade_by_hand(symbol, side, volume)

    def rollover(self, swap_per_lot: float) -> None:
        with self._lock:
            super().rollover(swap_per_lot)

    def quote(self, bid: float, ask: float) -> None:
        with self._lock:
            super().quote(bid, ask)

    def orders_get(self, symbol: str | None = None, **kwargs: Any) -> tuple[TradeOrder, ...]:
        with self._lock:
            return super().orders_get(symbol, **kwargs)

    def positions_get(self, **kwargs: Any) -> tuple[TradePosition, ...]:
        with self._lock:
            return super().positions_get(**kwargs)

    def history_orders_get(
        self, date_from: datetime, date_to: datetime, **kw: Any
    ) -> tuple[TradeOrder, ...]:
        with self._lock:
            return super().history_orders_get(date_from, date_to, **kw)

    def history_deals_get(
        self, date_from: datetime, date_to: datetime, **kw: Any
    ) -> tuple[TradeDeal, ...]:
        with self._lock:
            return super().history_deals_get(date_from, date_to, **kw)


@contextlib.contextmanager
def served(*options: str) -> Iterator[str]:
    """The bridge in its own process for a test (options as on the command line); yields its
    host:port once it answers, and kills it afterwards."""
    from adapters.mt5.loader import Mt5UnavailableError, load
    from embedded.process import free_port

    port = free_port()
    argv = [sys.executable, "-m", "tests.fakes.mt5_bridge", "--port", str(port), *options]
    server = subprocess.Popen(argv, cwd=Path(__file__).resolve().parents[2])
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                load(address).disconnect()
                break
            except Mt5UnavailableError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield address
    finally:
        server.kill()
        server.wait()


def main(argv: list[str] | None = None) -> int:
    from rpyc.core.service import SlaveService
    from rpyc.utils.server import ThreadedServer

    parser = argparse.ArgumentParser(prog="python -m tests.fakes.mt5_bridge")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reply-lost", type=float, default=0.0)
    parser.add_argument("--lost", type=float, default=0.0)
    parser.add_argument("--netting", action="store_true", help="a netting account")
    parser.add_argument("--balance", type=float, default=10_000.0, help="the account's, in USD")
    args = parser.parse_args(argv)
    terminal = BridgedMT5(args.seed, args.reply_lost, args.lost, args.netting, args.balance)
    sys.modules["MetaTrader5"] = terminal  # type: ignore[assignment]

    class Server(ThreadedServer):  # type: ignore[misc]
        def _accept_method(self, sock: socket.socket) -> None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super()._accept_method(sock)

    server = Server(SlaveService, hostname="127.0.0.1", port=args.port, reuse_addr=True)
    server.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
