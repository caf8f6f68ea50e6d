"""Replies remembered per command id, so a command delivered twice is acted on once.

The first reply to a command id is stored with SET NX; a redelivery finds it and gets the
same answer again without the command being carried out a second time.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from adapters.redis.connection import connect, reaching

DEFAULT_TTL_S = 7 * 86_400


class RedisCommandLog:
    def __init__(self, client: aioredis.Redis, ttl_s: int = DEFAULT_TTL_S) -> None:
        self._redis = client
        self._ttl = ttl_s

    @classmethod
    def from_url(cls, url: str) -> RedisCommandLog:
        return cls(connect(url))

    @staticmethod
    def _key(scope: str, command_id: str) -> str:
        return f"aitp:cmd:{scope}:{command_id}"

    @reaching
    async def recall(self, scope: str, command_id: str) -> bytes | None:
        value = await self._redis.get(self._key(scope, command_id))
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    @reaching
    async def remember(
        self, scope: str, command_id: str, reply: bytes, ttl_s: int | None = None
    ) -> bool:
        """Store the reply unless one is stored already; True if this call stored it. A reply
        to a question (no effect to protect) may be kept for less than the default."""
        key = self._key(scope, command_id)
        stored = await self._redis.set(key, reply, nx=True, ex=ttl_s or self._ttl)
        return bool(stored)

    async def close(self) -> None:
        await self._redis.aclose()
