"""The event bus on Redis Streams, keeping the port's delivery guarantees.

One stream per key (an account's events, its commands) gives order per key; a consumer group
gives shared work and explicit acknowledgement. Redis has no acknowledgement deadline of its
own, so the group's `DeliveryPolicy` is kept here and enforced on read: before new entries,
`consume` claims (XAUTOCLAIM) the group's entries idle past `ack_wait_ms`, whoever held them,
and moves to the dead-letter stream, in one transaction with their acknowledgement, those
already delivered `max_deliveries` times. The claim is looked for at most every half deadline
(at most a second), its cursor carried from one look to the next. After `ensure_group` with
an exclusive policy the first reads take over every pending entry at once, oldest first.
Streams are capped (`MAXLEN ~`) so a stalled consumer cannot exhaust memory; the cap is
generous and trimming is approximate because exact trimming costs on every write. An entry
trimmed while still unacknowledged cannot be delivered again: it is logged and counted
(`trimmed_unacknowledged`), never silently forgotten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from adapters.redis.connection import connect, reaching
from domain.messages import dead_letter_stream
from domain.ports import DEFAULT_DELIVERY, BusMessage, DeliveryPolicy

DEFAULT_MAXLEN = 1_000_000
log = logging.getLogger("aitp.bus")


class RedisStreamBus:
    def __init__(
        self,
        client: aioredis.Redis,
        maxlen: int = DEFAULT_MAXLEN,
        exact_trim: bool = False,
    ) -> None:
        self._redis = client
        self._maxlen = maxlen
        self._approximate = not exact_trim
        self._policies: dict[tuple[str, str], DeliveryPolicy] = {}
        self._next_claim: dict[tuple[str, str, str], float] = {}  # monotonic, per consumer
        self._cursors: dict[tuple[str, str, str], str] = {}  # where the next look starts
        self._taking_over: set[tuple[str, str, str]] = set()  # (stream, group, "") after a join
        self.trimmed_unacknowledged = 0

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStreamBus:
        return cls(connect(url), **kwargs)

    @reaching
    async def publish(self, stream: str, fields: Mapping[str, bytes | str]) -> str:
        entry_id = await self._redis.xadd(
            stream,
            dict(fields),  # type: ignore[arg-type]
            maxlen=self._maxlen,
            approximate=self._approximate,
        )
        return _text(entry_id)

    @reaching
    async def ensure_group(
        self, stream: str, group: str, policy: DeliveryPolicy = DEFAULT_DELIVERY
    ) -> None:
        self._policies[stream, group] = policy
        for key in [k for k in self._next_claim if k[:2] == (stream, group)]:
            del self._next_claim[key]  # a (re)start: what is overdue is claimed on the next read
        if policy.exclusive:
            self._taking_over.add((stream, group, ""))
            self._cursors[stream, group, ""] = "0-0"
        # From the start of the stream: events published before the first consumer are kept.
        try:
            await self._redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @reaching
    async def consume(
        self, stream: str, group: str, consumer: str, count: int = 100, block_ms: int = 1000
    ) -> list[BusMessage]:
        policy = self._policies.get((stream, group), DEFAULT_DELIVERY)
        # redis-py's reply types cover every RESP version at once; the shape is fixed here.
        try:
            if (stream, group, "") in self._taking_over:
                held = await self._claim(stream, group, consumer, policy, count, "", 0)
                if (stream, group, "") in self._taking_over:
                    return held  # more to take over before anything new
                overdue = held
            else:
                overdue = await self._overdue(stream, group, consumer, policy, count)
            if len(overdue) >= count:
                return overdue
            reply: Any = await self._redis.xreadgroup(
                group,
                consumer,
                {stream: ">"},
                count=count - len(overdue),
                block=None if overdue else block_ms,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis came back without its data: the group starts again, from the stream's start
            await self.ensure_group(stream, group, policy)
            return []
        fresh = reply[0][1] if reply else []
        return [*overdue, *(BusMessage(_text(eid), _fields(raw), 1) for eid, raw in fresh if raw)]

    async def _overdue(
        self, stream: str, group: str, consumer: str, policy: DeliveryPolicy, count: int
    ) -> list[BusMessage]:
        """The group's entries idle past the deadline, claimed for `consumer`."""
        now = time.monotonic()
        if now < self._next_claim.get((stream, group, consumer), 0.0):
            return []
        self._next_claim[stream, group, consumer] = now + min(policy.ack_wait_ms / 2000, 1.0)
        return await self._claim(
            stream, group, consumer, policy, count, consumer, policy.ack_wait_ms
        )

    async def _claim(
        self,
        stream: str,
        group: str,
        consumer: str,
        policy: DeliveryPolicy,
        count: int,
        scan: str,
        min_idle_ms: int,
    ) -> list[BusMessage]:
        """Claim for `consumer` up to `count` of the group's entries idle for `min_idle_ms`,
        from where the scan named `scan` left off; those delivered too often go to the
        dead-letter stream instead. A take-over ends when its scan has gone round."""
        key = (stream, group, scan)
        claim: Any = await self._redis.xautoclaim(
            stream,
            group,
            consumer,
            min_idle_time=min_idle_ms,
            start_id=self._cursors.get(key, "0-0"),
            count=count,
        )
        cursor = _text(claim[0])
        self._cursors[key] = cursor
        if cursor == "0-0":
            self._taking_over.discard(key)
        if len(claim) > 2 and claim[2]:
            self.trimmed_unacknowledged += len(claim[2])
            log.error(
                "%d entries of %s trimmed before group %s acknowledged them: %s",
                len(claim[2]),
                stream,
                group,
                ", ".join(_text(eid) for eid in claim[2][:10]),
            )
        claimed = [(_text(eid), raw) for eid, raw in claim[1] if raw]
        if not claimed:
            return []
        pending: Any = await self._redis.xpending_range(
            stream,
            group,
            min=claimed[0][0],
            max=claimed[-1][0],
            count=len(claimed) * 2,
            consumername=consumer,
        )
        deliveries = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        due = []
        for eid, raw in claimed:
            message = BusMessage(eid, _fields(raw), deliveries.get(eid, 2))
            if policy.max_deliveries is not None and message.deliveries > policy.max_deliveries:
                reason = f"not acknowledged after {policy.max_deliveries} deliveries"
                await self.dead_letter(stream, group, message, reason)
            else:
                due.append(message)
        return due

    @reaching
    async def ack(self, stream: str, group: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        return int(await self._redis.xack(stream, group, *ids))

    @reaching
    async def dead_letter(self, stream: str, group: str, message: BusMessage, reason: str) -> str:
        fields: dict[str, bytes | str] = {
            **message.fields,
            "dead.reason": reason,
            "dead.group": group,
            "dead.id": message.id,
            "dead.deliveries": str(message.deliveries),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(dead_letter_stream(stream), fields, maxlen=self._maxlen, approximate=True)  # type: ignore[arg-type]
            pipe.xack(stream, group, message.id)
            entry_id, _ = await pipe.execute()
        return _text(entry_id)

    @reaching
    async def pending(self, stream: str, group: str) -> int:
        info = await self._redis.xpending(stream, group)
        return int(info["pending"])

    @reaching
    async def length(self, stream: str) -> int:
        return int(await self._redis.xlen(stream))

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(raw: Mapping[bytes | str, bytes | str]) -> dict[str, bytes]:
    return {_text(k): v if isinstance(v, bytes) else v.encode() for k, v in raw.items()}
