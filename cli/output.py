"""How a command speaks to the user: the consoles, times as it prints them, and the error
that ends a command with a message (no traceback) and an exit code."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from domain.clock import moment_of

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2
ISO = "%Y-%m-%dT%H:%M:%SZ"


class CliError(Exception):
    """A failure the user can act on: printed without a traceback, with this exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def iso(ns: int) -> str:
    return moment_of(ns).strftime(ISO)


def day(ns: int) -> str:
    return moment_of(ns).strftime("%Y-%m-%d")


def iso_moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(ISO)
