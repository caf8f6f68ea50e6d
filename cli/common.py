"""What every `aitp` command shares: settings, the console, and how errors reach the user."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from config.settings import Settings

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
