"""Per-caller rate limits in Redis with GCRA (the generic cell rate algorithm).

For each request the script does two things: it refuses a revoked access token (logout puts
the token's id on a deny list until it expires) and it counts the request in the caller's
bucket. GCRA keeps one timestamp per bucket (the theoretical arrival time), so a bucket costs
one key whatever its rate, and the time comes from Redis, so API processes with skewed clocks
agree.

Requests are counted the way a database commits a group: while one script call is on its way
to Redis, the requests that arrive queue up, and the next call carries all of them. Each is
still judged alone and in order, inside one atomic script, so the verdicts are the ones a
call per request would give; but a busy API process pays one round trip per batch instead of
one per request (a round trip cost more CPU than everything else a cached read does).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from redis.asyncio import Redis

from config.settings import TierLimits

# For hit n (from 1): KEYS[2n-1] its bucket, KEYS[2n] its token's deny-list entry ("" when
# none); ARGV[2n-1] the bucket's emission interval in microseconds (window / rate), ARGV[2n]
# its burst (requests). Returns, per hit, {allowed (1, 0, or -1 for a revoked token),
# remaining, retry_after_us, reset_us}, flattened.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for n = 1, #KEYS / 2 do
  local bucket, denied = KEYS[2 * n - 1], KEYS[2 * n]
  local interval = tonumber(ARGV[2 * n - 1])
  local capacity = interval * tonumber(ARGV[2 * n])
  if denied ~= '' and redis.call('EXISTS', denied) == 1 then
    out[#out + 1] = -1; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
  else
    local tat = tonumber(redis.call('GET', bucket) or now)
    if tat < now then tat = now end
    local new_tat = tat + interval
    if new_tat - now > capacity then
      out[#out + 1] = 0; out[#out + 1] = 0
      out[#out + 1] = new_tat - now - capacity; out[#out + 1] = tat - now
    else
      redis.call('SET', bucket, string.format('%.0f', new_tat), 'PX',
                 math.ceil((new_tat - now) / 1000))
      out[#out + 1] = 1
      out[#out + 1] = math.floor((capacity - (new_tat - now)) / interval)
      out[#out + 1] = 0; out[#out + 1] = new_tat - now
    end
  end
end
return out
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
class _Hit:
    bucket: str  # the bucket's key
    denied: str  # the token's deny-list key, "" for none
    interval_us: int
    burst: int
    answer: asyncio.Future[list[int]]


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
    def __init__(self, redis: Redis, prefix: str = "rl", max_batch: int = 256) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA)
        self._max_batch = max_batch
        self._queued: list[_Hit] = []
        self._sender: asyncio.Task[None] | None = None
        self.hits = 0  # requests counted, and the script calls that carried them
        self.round_trips = 0

    async def hit(self, bucket: Bucket, subject: str, token_id: str | None = None) -> Verdict:
        answer: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queued.append(
            _Hit(
                f"{self._prefix}:{bucket.name}:{subject}",
                f"revoked:{token_id}" if token_id else "",
                max(1, round(1_000_000 / bucket.per_second)),
                bucket.burst,
                answer,
            )
        )
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        allowed, remaining, retry_us, reset_us = await answer
        return Verdict(
            allowed=allowed == 1,
            revoked=allowed == -1,
            limit=bucket.burst,
            remaining=int(remaining),
            retry_after_s=int(retry_us) / 1e6,
            reset_s=int(reset_us) / 1e6,
            policy=bucket.policy,
        )

    async def _send(self) -> None:
        """One script call at a time, each carrying every hit queued while the last was out."""
        batch: list[_Hit] = []
        try:
            while self._queued:
                batch = self._queued[: self._max_batch]
                del self._queued[: self._max_batch]
                keys = [key for hit in batch for key in (hit.bucket, hit.denied)]
                args = [arg for hit in batch for arg in (hit.interval_us, hit.burst)]
                self.hits += len(batch)
                self.round_trips += 1
                try:
                    flat = await self._script(keys=keys, args=args)
                except Exception as exc:  # every waiting request fails as its own call would
                    for hit in batch:
                        if not hit.answer.done():
                            hit.answer.set_exception(exc)
                    continue
                for n, hit in enumerate(batch):
                    if not hit.answer.done():  # a request whose client left is cancelled
                        hit.answer.set_result(flat[4 * n : 4 * n + 4])
        finally:
            self._sender = None
            for hit in batch:  # only if this task was cancelled on its way
                hit.answer.cancel()

    async def revoke_token(self, token_id: str, ttl_s: int) -> None:
        """Refuse an access token from now until it would have expired anyway."""
        if ttl_s > 0:
            await self._redis.set(f"revoked:{token_id}", 1, ex=ttl_s)
