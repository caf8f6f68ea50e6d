"""What a command reads from its options: settings, symbols, times, values and workflow
requests, each mistake told as the option to fix and how to write it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from cli.output import EXIT_BAD_INPUT, CliError
from config.settings import Settings
from domain.clock import parse_instant

M = TypeVar("M", bound=BaseModel)

RunIdOption = Annotated[
    str | None, typer.Option(help="Name the run (default: generated).", show_default=False)
]
NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="Print the run id once it started and return.")
]
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
        return parse_instant(text)
    except ValueError:
        raise CliError(
            f"{option} {text!r} is not a date; use e.g. 2024-01-31 or 2024-01-31T13:45",
            EXIT_BAD_INPUT,
        ) from None


def scalar(text: str) -> Any:
    """An option's value as written: a whole number, a decimal, or else the text itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


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
