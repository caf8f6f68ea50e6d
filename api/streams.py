"""Live events for WebSocket clients: one Redis reader per API process, fanned out to every
subscribed client through a bounded queue of its own.

The reader follows the hot paths' event streams (`events:<account>`) of every account, maps
each event to the channels it belongs to (quotes:SYMBOL, bars:SYMBOL, orders, fills,
positions, decisions) within the account's tenant, encodes it once, and offers it to each
subscriber without waiting: a client whose queue is full is too slow to keep up and is
dropped (close code 1013) instead of holding the others back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import structlog
from redis.asyncio import Redis

from adapters.background import BackgroundLoop, Outage
from domain.messages import (
    EVENTS,
    BarClosed,
    DecisionCandidate,
    Event,
    FillReported,
    KillSwitchEngaged,
    QuoteSampled,
    UnreadableMessageError,
    account_of,
    decode,
    events_stream,
)

log = structlog.get_logger("aitp.api.streams")
_stdlog = logging.getLogger("aitp.api.streams")

TENANT_CHANNELS = ("orders", "fills", "positions", "decisions")
SYMBOL_CHANNELS = ("quotes", "bars")
SLOW_CLIENT = 1013  # "try again later": the client did not read fast enough


def valid_channel(channel: str) -> bool:
    if channel in TENANT_CHANNELS:
        return True
    kind, _, symbol = channel.partition(":")
    return kind in SYMBOL_CHANNELS and 0 < len(symbol) <= 32 and symbol.isprintable()


def channels_of(event: Event) -> tuple[str, ...]:
    """The channels an event of the hot path goes to."""
    if isinstance(event, QuoteSampled):
        return (f"quotes:{event.symbol}",)
    if isinstance(event, BarClosed):
        return (f"bars:{event.symbol}",)
    if isinstance(event, FillReported):
        return ("fills", "orders", "positions")
    if event.TYPE.startswith("order_"):
        return ("orders",)
    if isinstance(event, DecisionCandidate):
        return ("decisions",)
    if isinstance(event, KillSwitchEngaged):
        return ("orders", "positions")
    return ()


@dataclass(eq=False)
class Subscriber:
    """One connection's side of the fan-out: its tenant, channels and queue of frames."""

    tenant_id: uuid.UUID
    queue: asyncio.Queue[str]
    on_overflow: Callable[[], None]
    channels: set[str] = field(default_factory=set)
    dropped: bool = False


class Fanout:
    def __init__(
        self,
        redis: Redis,
        accounts: Callable[[], Awaitable[dict[str, uuid.UUID]]],
        queue_size: int = 1_000,
        refresh_s: float = 5.0,
        block_ms: int = 1_000,
    ) -> None:
        self._redis = redis
        self._accounts = accounts
        self.queue_size = queue_size
        self._refresh_s = refresh_s
        self._block_ms = block_ms
        self._tenant_of: dict[str, uuid.UUID] = {}  # account code -> tenant
        self._cursors: dict[str, str] = {}  # stream -> last id read
        self._subscribers: dict[tuple[uuid.UUID, str], set[Subscriber]] = defaultdict(set)
        self._loop = BackgroundLoop("ws-fanout", self._run)
        self._quotes: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}  # latest per symbol
        self.delivered = 0
        self.dropped_clients = 0
        self.unreadable = 0
        self.outage = Outage("the WebSocket fan-out's stores (its streams, its accounts)", _stdlog)
        self.last_read = time.monotonic()  # of the last read that answered

    def read_age_s(self) -> float:
        """Seconds since the reader last heard from Redis (a read waits up to `block_ms`)."""
        return time.monotonic() - self.last_read

    @classmethod
    def for_pool(cls, redis: Redis, pool: asyncpg.Pool, **options: Any) -> Fanout:
        async def accounts() -> dict[str, uuid.UUID]:
            rows = await pool.fetch("SELECT code, tenant_id FROM accounts")
            return {r["code"]: r["tenant_id"] for r in rows}

        return cls(redis, accounts, **options)

    # --- subscribers --------------------------------------------------------------------

    def join(self, tenant_id: uuid.UUID, on_overflow: Callable[[], None]) -> Subscriber:
        return Subscriber(tenant_id, asyncio.Queue(self.queue_size), on_overflow)

    def subscribe(self, sub: Subscriber, channels: list[str]) -> None:
        for channel in channels:
            sub.channels.add(channel)
            self._subscribers[sub.tenant_id, channel].add(sub)

    def unsubscribe(self, sub: Subscriber, channels: list[str] | None = None) -> None:
        for channel in list(sub.channels if channels is None else channels):
            sub.channels.discard(channel)
            group = self._subscribers.get((sub.tenant_id, channel))
            if group is not None:
                group.discard(sub)
                if not group:
                    del self._subscribers[sub.tenant_id, channel]

    def last_quote(self, tenant_id: uuid.UUID, symbol: str) -> dict[str, Any] | None:
        """The latest quote event of the symbol from any of the tenant's hot paths."""
        return self._quotes.get((tenant_id, symbol))

    @property
    def following(self) -> frozenset[str]:
        """The event streams read now: an account's events count from when it joined."""
        return frozenset(self._cursors)

    @property
    def clients(self) -> int:
        return len({s for group in self._subscribers.values() for s in group})

    # --- the reader ---------------------------------------------------------------------

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _refresh_accounts(self) -> None:
        self._tenant_of = await self._accounts()
        for code in self._tenant_of:
            stream = events_stream(code)
            if stream not in self._cursors:
                self._cursors[stream] = await self._newest(stream)

    async def _newest(self, stream: str) -> str:
        """The id of the stream's newest entry, from which a new account is followed: "$"
        would mean "from each read's own start" and lose what comes between two reads."""
        newest: Any = await self._redis.xrevrange(stream, count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def _run(self) -> None:
        refreshed = float("-inf")
        while True:
            try:
                if time.monotonic() - refreshed >= self._refresh_s:
                    await self._refresh_accounts()
                    refreshed = time.monotonic()
                if not self._cursors:
                    self.last_read = time.monotonic()
                    await asyncio.sleep(self._refresh_s)
                    continue
                streams: Any = dict(self._cursors)
                replies: Any = await self._redis.xread(streams, block=self._block_ms, count=1_000)
                self.last_read = time.monotonic()
                self.outage.back()
                for stream, messages in replies or []:
                    name = stream.decode() if isinstance(stream, bytes) else stream
                    for message_id, fields in messages:
                        self._cursors[name] = (
                            message_id.decode() if isinstance(message_id, bytes) else message_id
                        )
                        self.dispatch(account_of(name), fields)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: say so, wait, go on from where it was
                await asyncio.sleep(self.outage.went(exc))

    def dispatch(self, account: str, fields: dict[bytes, bytes]) -> None:
        """Offer one hot-path event to every subscriber of its channels in its tenant."""
        tenant = self._tenant_of.get(account)
        if tenant is None:
            return
        try:
            event = decode(fields).message
        except UnreadableMessageError as exc:  # the bridge dead-letters it; screens skip it
            self.unreadable += 1
            log.warning("unreadable event skipped", account=account, error=str(exc))
            return
        if not isinstance(event, EVENTS):  # a command has no place on an event stream
            return
        kind, raw = event.TYPE, fields.get(b"data", b"{}")
        if isinstance(event, QuoteSampled):
            self._quotes[tenant, event.symbol] = orjson.loads(raw)
        channels = [c for c in channels_of(event) if (tenant, c) in self._subscribers]
        for channel in channels:
            # spliced rather than re-encoded: the data is JSON already, and stays as it came
            head = orjson.dumps(
                {"type": "event", "channel": channel, "account": account, "kind": kind}
            )
            frame = f'{head[:-1].decode()},"data":{raw.decode()}}}'

            for sub in list(self._subscribers.get((tenant, channel), ())):
                if sub.dropped:
                    continue
                try:
                    sub.queue.put_nowait(frame)
                    self.delivered += 1
                except asyncio.QueueFull:
                    sub.dropped = True
                    self.dropped_clients += 1
                    self.unsubscribe(sub)
                    sub.on_overflow()
