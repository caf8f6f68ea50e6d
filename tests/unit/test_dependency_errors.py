"""Which store a failure says is away, looked for through its causes: what turns a request's
failure into a 503 naming the dependency instead of a 500."""

from __future__ import annotations

import asyncpg
import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import dependency_of
from domain.ports import BooksUnavailableError, BusUnavailableError
from embedded.process import free_port


def caused(error: BaseException) -> BaseException:
    """`error` as a route sees it: wrapped by whatever called the store."""
    try:
        try:
            raise error
        except BaseException as inner:
            raise RuntimeError("while serving the request") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (BusUnavailableError("refused"), "redis"),
        (RedisTimeoutError("timed out"), "redis"),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), "postgres"),
        (BooksUnavailableError("away"), "postgres"),
        (RPCError("down", RPCStatusCode.UNAVAILABLE, b""), "temporal"),
        (RPCError("no such workflow", RPCStatusCode.NOT_FOUND, b""), None),
        (ValueError("a bug"), None),
    ],
)
def test_a_failure_names_the_store_that_is_away(error: Exception, dependency: str | None) -> None:
    assert dependency_of(error) == dependency
    assert dependency_of(caused(error)) == dependency


async def test_a_refused_postgres_connection_names_postgres_and_no_other_socket_does() -> None:
    with pytest.raises(ConnectionRefusedError) as refused:  # nothing listens there
        await asyncpg.connect(f"postgresql://nobody@127.0.0.1:{free_port()}/none", timeout=2)
    assert dependency_of(refused.value) == "postgres"
    assert dependency_of(ConnectionRefusedError("someone else's socket")) is None
