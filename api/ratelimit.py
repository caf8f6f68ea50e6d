"""Per-caller rate limits in Redis with GCRA (the generic cell rate algorithm).

One atomic script per request does two things in one round trip: it refuses a revoked access
token (logout puts the token's id on a deny list until it expires) and it counts the request
in the caller's bucket. GCRA keeps one timestamp per bucket (the theoretical arrival time), so
a bucket costs one key whatever its rate, and the time comes from Redis, so API processes
with skewed clocks agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis

from config.settings import TierLimits

# KEYS[1] the bucket, KEYS[2] the token's deny-list entry ("" when none)
# ARGV[1] emission interval in microseconds (window / rate), ARGV[2] burst (requests)
# returns {allowed (1, 0, or -1 for a revoked token), remaining, retry_after_us, reset_us}
_GCRA = """
if KEYS[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  return {-1, 0, 0, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > capacity then
  return {0, 0, new_tat - now - capacity, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
           math.ceil((new_tat - now) / 1000))
return {1, math.floor((capacity - (new_tat - now)) / interval), 0, new_tat - now}
"""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    revoked: bool
    limit: int
    remaining: int
    retry_after_s: float
    reset_s: float
    policy: str

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_s)),
            "RateLimit-Policy": self.policy,
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


@dataclass(frozen=True, slots=True)
class Bucket:
    """A rate: `burst` requests at once, refilled at `per_second`."""

    name: str
    per_second: float
    burst: int

    @property
    def policy(self) -> str:
        window = math.ceil(self.burst / self.per_second)
        return f'"{self.name}";q={self.burst};w={window}'


def buckets_for(tier: TierLimits) -> dict[str, Bucket]:
    return {
        "api": Bucket("api", tier.per_second, tier.burst),
        "trading": Bucket("trading", tier.trading_per_second, tier.trading_burst),
    }


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str = "rl") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA)

    async def hit(self, bucket: Bucket, subject: str, token_id: str | None = None) -> Verdict:
        keys = [
            f"{self._prefix}:{bucket.name}:{subject}",
            f"revoked:{token_id}" if token_id else "",
        ]
        interval_us = max(1, round(1_000_000 / bucket.per_second))
        allowed, remaining, retry_us, reset_us = await self._script(
            keys=keys, args=[interval_us, bucket.burst]
        )
        return Verdict(
            allowed=allowed == 1,
            revoked=allowed == -1,
            limit=bucket.burst,
            remaining=int(remaining),
            retry_after_s=int(retry_us) / 1e6,
            reset_s=int(reset_us) / 1e6,
            policy=bucket.policy,
        )

    async def revoke_token(self, token_id: str, ttl_s: int) -> None:
        """Refuse an access token from now until it would have expired anyway."""
        if ttl_s > 0:
            await self._redis.set(f"revoked:{token_id}", 1, ex=ttl_s)
