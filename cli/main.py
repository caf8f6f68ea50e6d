"""The `aitp` command: the way in for quants and ops."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from cli import account, backtest, data, model, platform, users
from cli.output import CliError, err_console

app = typer.Typer(
    name="aitp",
    help="AI trading platform: run it, import market data, launch backtests and training.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(platform.up)
app.command()(platform.status)
app.command()(platform.down)
app.add_typer(data.app, name="data")
app.add_typer(users.app, name="user")
app.add_typer(backtest.app, name="backtest")
app.add_typer(model.app, name="model")
app.add_typer(account.app, name="account")
app.add_typer(account.books_app, name="books")

_debug = False


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _debug
    _debug = debug


def _leave(code: int) -> None:
    """Exit with `code`. A command that talked to Temporal has its native core's threads
    running; finalising the interpreter under them can abort the process after the command
    is done (a fatal PyGILState_Release), so such a process flushes and leaves at once."""
    if "temporalio.bridge.client" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main() -> None:
    try:
        _run()
    except SystemExit as exc:
        _leave(exc.code if isinstance(exc.code, int) else 1 if exc.code else 0)


def _run() -> None:
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except CliError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        if _debug:
            raise
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: no traceback unless --debug
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if _debug:
            raise
        err_console.print(f"[red]error:[/red] {type(exc).__name__}: {exc} (rerun with --debug)")
        sys.exit(1)


if __name__ == "__main__":
    main()
