"""The platform's Temporal and PostgreSQL as a command reaches them, found where `aitp up`
runs them; imported lazily so that `aitp --help` stays quick."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from cli.output import CliError
from config.settings import Settings

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client

T = TypeVar("T")


async def temporal_client(settings: Settings) -> Client:
    from embedded.endpoints import NotRunningError, temporal_address
    from temporal.client import connect

    try:
        address = temporal_address(settings)
    except NotRunningError as exc:
        raise CliError(str(exc)) from None
    try:
        return await connect(address, settings.temporal)
    except RuntimeError as exc:
        raise CliError(
            f"cannot reach Temporal at {address}: {exc}; is `aitp up` running?"
        ) from None


async def with_pool(settings: Settings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """`work` with a pool on the platform's PostgreSQL, closed afterwards."""
    from adapters.postgres.pool import create_pool
    from embedded.endpoints import NotRunningError, postgres_url

    try:
        url = postgres_url(settings)
    except NotRunningError as exc:
        raise CliError(str(exc)) from None
    pool = await create_pool(url, settings.postgres, "aitp-cli")
    try:
        return await work(pool)
    finally:
        await pool.close()
