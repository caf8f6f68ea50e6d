"""`aitp account kill | rearm` and `aitp books check`: the kill switch and the books'
reconciliation, from the command line of whoever runs the platform.

The kill switch goes to the account's hot path over its command stream, as the API's does; a
check of the books asks the account's books workflow to compare them with the venue now, and
prints what it found (exit code 1 when they still differ or the venue cannot be reached).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.clients import temporal_client
from cli.options import DataDirOption, load_settings
from cli.output import CliError, console
from config.settings import Settings
from domain.messages import Command, Kill, Rearm

app = typer.Typer(help="The kill switch of a trading account.", no_args_is_help=True)
books_app = typer.Typer(
    help="The books of a trading account against its venue.", no_args_is_help=True
)

AccountArgument = Annotated[str, typer.Argument(help="The account's id, e.g. demo.")]
ANSWER_WITHIN_S = 5.0
CHECK_WITHIN_S = 30.0


async def _ask(settings: Settings, account: str, command: Command) -> dict[str, Any]:
    from adapters.redis.command_log import RedisCommandLog
    from adapters.redis.event_bus import RedisStreamBus
    from adapters.redis.hotpath_link import BusHotpathLink
    from embedded.endpoints import NotRunningError, redis_url

    try:
        url = redis_url(settings)
    except NotRunningError as exc:
        raise CliError(str(exc)) from None
    bus, replies = RedisStreamBus.from_url(url), RedisCommandLog.from_url(url)
    try:
        link = BusHotpathLink(bus, replies)
        reply = await link.ask(account, f"cli-{uuid.uuid4().hex}", command, ANSWER_WITHIN_S)
    except (ConnectionError, OSError) as exc:
        raise CliError(f"cannot reach the event bus at {url}: {exc}") from None
    finally:
        await bus.close()
        await replies.close()
    if reply is None:
        raise CliError(
            f"the hot path of {account!r} did not answer within {ANSWER_WITHIN_S:g} s; "
            "is it running? (`aitp status`)"
        )
    if not reply.ok:
        raise CliError(f"the hot path of {account!r} refused: {reply.error}")
    return dict(reply.data)


@app.command("kill")
def kill(
    account: AccountArgument,
    flatten: Annotated[
        bool, typer.Option("--flatten", help="Also close every open position at market.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Engage the kill switch: cancel every working order and refuse new ones until `rearm`.

    Example: aitp account kill demo --flatten
    """
    what = (
        "cancel its working orders and close every position"
        if flatten
        else "cancel its working orders"
    )
    if not yes and not typer.confirm(f"Stop trading on {account} ({what})?"):
        raise CliError("nothing was done", 1)
    answer = asyncio.run(_ask(load_settings(data_dir), account, Kill(flatten=flatten)))
    console.print(f"[bold red]kill switch engaged[/] on {account}")
    console.print(f"cancelled: {', '.join(answer.get('cancelled', [])) or 'none'}")
    if flatten:
        console.print(f"closing orders: {', '.join(answer.get('flattened', [])) or 'none (flat)'}")
    console.print(f"trading resumes after `aitp account rearm {account}`")


@app.command("rearm")
def rearm(account: AccountArgument, data_dir: DataDirOption = None) -> None:
    """Re-arm the account after a kill: it takes orders again."""
    asyncio.run(_ask(load_settings(data_dir), account, Rearm()))
    console.print(f"{account} re-armed: orders are taken again")


@books_app.command("check")
def check(account: AccountArgument, data_dir: DataDirOption = None) -> None:
    """Compare the account's books with its venue now, repairing what is missing.

    Exit code 0 when the books equal the venue (or were repaired), 1 otherwise.
    """
    report = asyncio.run(_check(load_settings(data_dir), account))
    table = Table(title=f"books of {account} against the venue", show_header=False)
    table.add_row("checked at", f"{report.checked_at:%Y-%m-%d %H:%M:%S} UTC")
    table.add_row("status", report.status)
    table.add_row("deals at the venue", str(report.venue_fills))
    table.add_row("deals in the books", str(report.book_fills))
    table.add_row("repaired now", ", ".join(report.repaired_fills) or "none")
    if report.venue_balance is not None:
        table.add_row("balance (venue / books)", f"{report.venue_balance} / {report.book_balance}")
    for difference in report.differences:
        table.add_row("[red]differs[/]", difference)
    console.print(table)
    if report.status in ("different", "venue unreachable"):
        raise typer.Exit(1)


async def _check(settings: Settings, account: str) -> Any:
    from temporalio.service import RPCError

    from temporal.books import BOOKS_WORKFLOW, BooksRequest, ReconciliationReport, books_workflow_id
    from temporal.queues import TRADING

    client = await temporal_client(settings)
    asked = datetime.now().astimezone()
    try:
        handle = await client.start_workflow(
            BOOKS_WORKFLOW,
            BooksRequest(account=account),
            id=books_workflow_id(account),
            task_queue=TRADING,
            start_signal="reconcile",
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CHECK_WITHIN_S
        while loop.time() < deadline:
            report: ReconciliationReport | None = await handle.query(
                "reconciliation", result_type=ReconciliationReport
            )
            if report is not None and report.checked_at >= asked and report.status != "catching up":
                return report
            await asyncio.sleep(0.2)
    except RPCError as exc:
        raise CliError(f"the books of {account!r} cannot be checked: {exc}") from None
    raise CliError(
        f"no comparison of {account!r} within {CHECK_WITHIN_S:g} s; is the trading worker "
        "running? (`aitp status`)"
    )
