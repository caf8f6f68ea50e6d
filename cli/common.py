"""What every `aitp` command shares: settings, the console, and how errors reach the user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from config.settings import Settings

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2

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
