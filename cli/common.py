"""What every `aitp` command shares: settings, the console, and how errors reach the user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from config.settings import Settings

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2
ISO = "%Y-%m-%dT%H:%M:%SZ"

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the platform keeps its data (default: $AITP_DATA_DIR, else a per-user dir).",
        show_default=False,
        file_okay=False,
        resolve_path=True,
    ),
]


class CliError(Exception):
    """A failure the user can act on: printed without a traceback, with this exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def load_settings(data_dir: Path | None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"AITP_{'__'.join(str(p).upper() for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise CliError(f"invalid settings: {problems}", EXIT_BAD_INPUT) from None
    return settings.with_data_dir(data_dir)


def symbol_of(raw: str) -> str:
    symbol = raw.strip()
    if not symbol or len(symbol) > 32 or not all(c.isalnum() or c in "._-#" for c in symbol):
        raise CliError(
            f"--symbol {raw!r} is not a symbol; use letters, digits and . _ - # (e.g. EURUSD)",
            EXIT_BAD_INPUT,
        )
    return symbol


def instant(text: str, option: str) -> int:
    """An ISO date or time as UTC nanoseconds; naive times are UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise CliError(
                f"{option} {text!r} is not a date; use e.g. 2024-01-31 or 2024-01-31T13:45",
                EXIT_BAD_INPUT,
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime(ISO)


def validated(model: type[M], fields: dict[str, Any], options: Mapping[str, str]) -> M:
    """A workflow request from the command's options; each problem names the option to fix
    (`options` maps request fields to options of another name)."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            where = ".".join(str(p) for p in err["loc"])
            head = where.split(".")[0]
            option = options.get(head, "--" + head.replace("_", "-"))
            problems.append(f"{option}: {message}" if where else message)
        raise CliError("; ".join(problems), EXIT_BAD_INPUT) from None


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
