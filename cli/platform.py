"""`aitp up | status | down`: the embedded platform on one machine."""

from __future__ import annotations

import asyncio
from typing import Annotated

import orjson
import typer
from rich.table import Table

from cli.options import DataDirOption, load_settings
from cli.output import CliError, console, err_console
from config.settings import Settings
from embedded import supervisor
from embedded.components import ComponentError
from embedded.supervisor import ComponentStatus, PlatformError


def _table(statuses: list[ComponentStatus]) -> Table:
    table = Table(title=None, header_style="bold")
    for col in ("component", "address", "pid", "status"):
        table.add_column(col)
    for s in statuses:
        colour = "green" if s.up else "red"
        table.add_row(
            s.name + (" (external)" if s.external else ""),
            s.address,
            str(s.pid or "-"),
            f"[{colour}]{s.status}[/{colour}]",
        )
    return table


def up(
    data_dir: DataDirOption = None,
    detach: Annotated[
        bool,
        typer.Option("--detach", "-d", help="Return once everything answers; leave it running."),
    ] = False,
) -> None:
    """Start the platform on its embedded default: Temporal, PostgreSQL, Redis and chDB.

    Stores given by URL (AITP_POSTGRES__URL, AITP_REDIS__URL, AITP_CLICKHOUSE__URL,
    AITP_TEMPORAL__ADDRESS) are checked, not started. Without --detach it stays in the
    foreground, restarts a child that dies, and stops everything on Ctrl-C.
    """
    settings = load_settings(data_dir)
    asyncio.run(_up(settings, detach))


async def _up(settings: Settings, detach: bool) -> None:
    def report(line: str) -> None:
        err_console.print(f"[dim]{line}[/dim]")

    with console.status("starting the platform…", spinner="dots"):
        try:
            statuses, started = await supervisor.start(settings, report=report)
        except (PlatformError, ComponentError) as exc:
            raise CliError(str(exc)) from None
    console.print(_table(statuses))
    if not started:
        console.print(f"[bold]the platform is already up[/bold] (data dir {settings.data_dir})")
        if not detach:
            console.print("it runs detached; stop it with `aitp down`")
        return
    ui = f"http://127.0.0.1:{settings.temporal.ui_port}"
    console.print(f"data dir {settings.data_dir} · Temporal UI {ui}")
    if detach:
        console.print("running in the background; `aitp status` to check, `aitp down` to stop")
        return
    console.print("[bold]platform up[/bold]; Ctrl-C stops it")
    stop_event = asyncio.Event()
    supervisor.install_signal_handlers(stop_event)
    await supervisor.supervise(settings, stop_event, report=report)
    if stop_event.is_set():
        with console.status("stopping…"):
            stopped = supervisor.stop(settings)
        console.print(
            f"stopped {', '.join(stopped) or 'nothing'}; data kept in {settings.data_dir}"
        )


def status(
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per component.")] = False,
) -> None:
    """Show each component: address, pid, and "up" or why it is not. Exit 1 if any is down."""
    settings = load_settings(data_dir)
    statuses = asyncio.run(supervisor.status(settings))
    if as_json:
        for s in statuses:
            typer.echo(orjson.dumps(s.as_dict()).decode())
    else:
        console.print(_table(statuses))
    if not all(s.up for s in statuses):
        raise typer.Exit(1)


def down(data_dir: DataDirOption = None) -> None:
    """Stop everything `aitp up` started (gracefully, forced after a timeout). Data is kept."""
    settings = load_settings(data_dir)
    with console.status("stopping…"):
        stopped = supervisor.stop(settings)
    if stopped:
        console.print(f"stopped {', '.join(stopped)}; data kept in {settings.data_dir}")
    else:
        console.print("nothing was running")
