"""One way to reach Redis for the bus and the command log, and one meaning for "it is away".

Every call has a deadline: a Redis that is stopped (SIGSTOP), partitioned or restarting
makes a call fail after `SOCKET_TIMEOUT_S` instead of hanging its caller for good. A call
that cannot reach Redis raises `domain.ports.BusUnavailableError` (a `ConnectionError`), which
every long-lived consumer waits out with back-off; anything else Redis answers (a wrong
type, a script error) is a bug and raises as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from domain.ports import BusUnavailableError

# above the longest blocking read the consumers issue (1 s), so a quiet stream is no outage
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0

P = ParamSpec("P")
T = TypeVar("T")


def connect(url: str) -> aioredis.Redis:
    return aioredis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=30,
    )


def reaching(call: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """A Redis call whose failure to reach the server raises `BusUnavailableError`."""

    @functools.wraps(call)
    async def reached(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BusUnavailableError(f"Redis is unavailable: {exc}") from exc

    return reached
