"""`aitp backtest run | list | show | cancel | report`: strategies tested on stored history,
as workflows on the running platform (watch them in the Temporal UI too)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from cli.clients import temporal_client, with_pool
from cli.grid_options import fixed_params, grid_axes
from cli.options import (
    DataDirOption,
    NoWaitOption,
    RunIdOption,
    instant,
    load_settings,
    symbol_of,
    validated,
)
from cli.output import EXIT_BAD_INPUT, CliError, console, day, err_console, iso, iso_moment
from cli.watch import Step, watch
from config.settings import Settings
from domain.market_data import Timeframe
from domain.strategies import REGISTRY
from research.report import fmt_metric
from temporal import backtests as bt
from temporal.backtest_client import (
    BacktestNotFoundError,
    BacktestRefusedError,
    backtest_handle,
    backtest_progress,
    cancel_backtest,
    start_backtest,
)

# request fields the CLI sets from options of another name
OPTIONS = {"start_ns": "--from", "end_ns": "--to", "grid": "--grid", "params": "--param"}

app = typer.Typer(
    help="Backtests and parameter sweeps as workflows on the running platform.",
    no_args_is_help=True,
)

CONFIRM_SETS = 100_000  # a grid this big needs --yes: it can run for hours
SHOWN = ("sharpe", "total_return", "max_drawdown", "win_rate", "profit_factor", "trades")


RunArg = Annotated[str, typer.Argument(help="The run id `backtest run` printed.")]


@app.command()
def run(
    strategy: Annotated[
        str, typer.Option(help=f"Strategy kind: {', '.join(sorted(REGISTRY))}.", show_default=False)
    ],
    symbols: Annotated[
        list[str],
        typer.Option(
            "--symbol",
            "-s",
            help="Instrument, e.g. EURUSD. Several (repeated, or EURUSD,USDJPY): one run per "
            "symbol, the sets ranked by their metric averaged over them.",
        ),
    ],
    start: Annotated[str, typer.Option("--from", help="First instant (UTC), e.g. 2024-01-01.")],
    end: Annotated[str, typer.Option("--to", help="End instant (UTC), excluded.")],
    timeframe: Annotated[Timeframe, typer.Option("--timeframe", "-t")] = Timeframe.M1,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            help="A swept parameter: NAME=V1,V2,... or NAME=START:STOP:STEP (stop included). "
            "Repeat for more axes.",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A fixed parameter: NAME=VALUE.", show_default=False),
    ] = None,
    mode: Annotated[bt.Mode, typer.Option(help="How to test.")] = "sweep",
    train: Annotated[
        str | None, typer.Option(help="walk-forward: train span, e.g. 6M, 4W, 30D.")
    ] = None,
    test: Annotated[str | None, typer.Option(help="walk-forward: test span, e.g. 1M.")] = None,
    anchored: Annotated[
        bool, typer.Option(help="walk-forward: every window trains from --from.")
    ] = False,
    commission: Annotated[
        float, typer.Option(help="Per lot per side, account currency.", min=0)
    ] = 0.0,
    slippage_points: Annotated[int, typer.Option(help="Against you, on every fill.", min=0)] = 0,
    spread_points: Annotated[
        int | None,
        typer.Option(help="Fixed spread; default: the stored ask bars, else 0.", min=0),
    ] = None,
    ticks: Annotated[
        bool,
        typer.Option(
            "--ticks", help="replay: tick by tick from the stored quotes, not bar by bar."
        ),
    ] = False,
    balance: Annotated[
        float, typer.Option(help="Initial balance, in the account currency.", min=1)
    ] = 100_000.0,
    currency: Annotated[
        str,
        typer.Option(
            help="Account currency: profit in another (JPY for USDJPY) is converted at each "
            "bar's rate, from the pair itself or another stored pair."
        ),
    ] = "USD",
    metric: Annotated[bt.Metric, typer.Option(help="Ranks the parameter sets.")] = "sharpe",
    chunk_size: Annotated[int, typer.Option(help="Sets per activity.", min=1)] = 25,
    parallel: Annotated[int, typer.Option(help="Activities at once.", min=1, max=64)] = 4,
    run_id: RunIdOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout: sets, metrics, trades.")
    ] = False,
    no_wait: NoWaitOption = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help=f"Run grids of more than {CONFIRM_SETS:,} sets.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Backtest a strategy on stored bars and print the best parameter sets first.

    Examples:

      aitp backtest run --strategy ma_cross -s EURUSD --from 2024-01-01 --to 2024-07-01
      -g fast=5:50:5 -g slow=100,150,200 --commission 3.5 --slippage-points 2

      aitp backtest run --strategy rsi_reversion -s USDJPY --from 2023-01-01 --to 2024-01-01
      --mode walk-forward --train 3M --test 1M -g period=7,14,21 --metric sortino

      aitp backtest run --strategy ma_cross -s EURUSD --from 2020-01-01 --to 2020-01-02
      --mode replay --ticks -p fast=3 -p slow=8
    """
    settings = load_settings(data_dir)
    start_ns, end_ns = instant(start, "--from"), instant(end, "--to")
    if end_ns <= start_ns:
        raise CliError("--to must be after --from", EXIT_BAD_INPUT)
    request = validated(
        bt.BacktestRequest,
        {
            "run_id": run_id or bt.new_run_id(),
            "strategy": strategy,
            "symbols": [symbol_of(s) for spec in symbols for s in spec.split(",") if s.strip()],
            "timeframe": timeframe.value,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "grid": grid_axes(grid or []),
            "params": fixed_params(param or []),
            "mode": mode,
            "train": train,
            "test": test,
            "anchored": anchored,
            "costs": {
                "commission_per_lot": commission,
                "slippage_points": slippage_points,
                "spread_points": spread_points,
            },
            "ticks": ticks,
            "balance": balance,
            "currency": currency.upper(),
            "metric": metric,
            "chunk_size": chunk_size,
            "parallel": parallel,
        },
        OPTIONS,
    )
    if request.sets > CONFIRM_SETS and not yes:
        raise CliError(
            f"the grid has {request.sets:,} parameter sets; that can take hours. "
            "Narrow it, or pass --yes to run it anyway",
            EXIT_BAD_INPUT,
        )
    try:
        asyncio.run(_run(settings, request, as_json, wait=not no_wait))
    except KeyboardInterrupt:
        _interrupted(settings, request.run_id)


def _interrupted(settings: Settings, run_id: str) -> None:
    """Ctrl-C while watching: the run goes on unless the user says to cancel it."""
    if not typer.confirm("\ncancel the run?", default=False, err=True):
        err_console.print(f"left running: aitp backtest show {run_id}")
        raise typer.Exit(130)  # `cli.main` leaves without waiting on Temporal's core

    async def stop() -> bool:
        return await cancel_backtest(await temporal_client(settings), run_id)

    try:
        stopping = asyncio.run(stop())
    except BacktestNotFoundError:
        stopping = False
    err_console.print(f"cancelling {run_id}" if stopping else f"{run_id} is not running")
    raise typer.Exit(130)


async def _run(settings: Settings, request: bt.BacktestRequest, as_json: bool, wait: bool) -> None:
    client = await temporal_client(settings)
    try:
        await start_backtest(client, request)
    except BacktestRefusedError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if not wait:
        (typer.echo if as_json else console.print)(
            orjson.dumps({"run_id": request.run_id}).decode() if as_json else request.run_id
        )
        return
    if not as_json:
        err_console.print(f"run [bold]{request.run_id}[/bold] started ({request.sets:,} sets)")
    result = await _watch(client, request, quiet=as_json)
    if as_json:
        typer.echo(orjson.dumps(await _document(settings, request, result)).decode())
    else:
        _print_result(request, result)


async def _watch(client: Client, request: bt.BacktestRequest, quiet: bool) -> bt.BacktestResult:
    async def poll() -> Step | None:
        p = await backtest_progress(client, request.run_id)
        if p.children:
            p = await _summed(client, p)
        best = ""
        if p.best is not None:
            value = p.best.metrics.get(request.metric)
            best = f"best {request.metric} {fmt_metric(request.metric, value)}"
        return Step(p.phase, p.done, p.total, best, p.eta_s)

    try:
        return await watch(backtest_handle(client, request.run_id), poll, quiet)
    except WorkflowFailureError as exc:
        raise CliError(f"the backtest failed: {exc.cause}") from None


async def _summed(client: Client, batch: bt.Progress) -> bt.Progress:
    """A batch's progress: its children's sets added up (a child not started yet counts as
    nothing done)."""
    done = total = 0
    for child in batch.children:
        try:
            p = await backtest_progress(client, child)
        except (BacktestNotFoundError, RPCError):  # not started yet, or no worker this instant
            continue
        done, total = done + p.done, total + p.total
    if batch.status != "running" or not total:
        return batch
    eta = batch.elapsed_s / done * (total - done) if done else None
    phase = f"{batch.phase}: {batch.chunks_done}/{batch.chunks} done"
    return batch.model_copy(update={"done": done, "total": total, "phase": phase, "eta_s": eta})


def _print_result(request: bt.BacktestRequest, result: bt.BacktestResult) -> None:
    if result.children:
        for child in result.children:
            _print_result(request.part(child.run_id.rsplit(".", 1)[-1]), child)
    axes = list(request.grid)
    if result.windows:
        _print_windows(request, result)
    else:
        ranked = (
            f"ranked by mean {request.metric} over {len(request.symbols)} symbols"
            if request.batch
            else f"ranked by {request.metric}"
        )
        table = Table(
            title=f"{request.run_id}: {request.strategy} {','.join(request.symbols)} "
            f"{request.timeframe} {request.mode}, {result.evaluated:,} of "
            f"{result.total * len(request.symbols):,} sets, {ranked}",
            header_style="bold",
        )
        table.add_column("#", justify="right")
        for name in axes or ["params"]:
            table.add_column(name, justify="right")
        for name in SHOWN:
            table.add_column(name, justify="right")
        for rank, e in enumerate(result.top, 1):
            values = [str(e.params.get(n)) for n in axes] or [_params_text(e.params)]
            table.add_row(str(rank), *values, *(fmt_metric(n, e.metrics.get(n)) for n in SHOWN))
        if result.top or not result.children:  # a walk-forward batch chooses per symbol
            console.print(table)
    if result.skipped:
        console.print(
            f"[yellow]{result.skipped:,} sets refused by the strategy[/yellow], e.g. "
            + "; ".join(result.refusals[:2])
        )
    if not request.batch:
        console.print(f"report: aitp backtest report {request.run_id}")


def _print_windows(request: bt.BacktestRequest, result: bt.BacktestResult) -> None:
    table = Table(title=f"{request.run_id}: walk-forward by {request.metric}", header_style="bold")
    for col in ("window", "train from", "test", "chosen", "in-sample", "out-of-sample", "trades"):
        table.add_column(col, justify="right" if col not in ("chosen",) else "left")
    for w in result.windows:
        table.add_row(
            str(w.index + 1),
            day(w.train_start_ns),
            f"{day(w.test_start_ns)}..{day(w.test_end_ns)}",
            _params_text(w.chosen.params if w.chosen else {}, set(request.grid)),
            fmt_metric(request.metric, w.chosen.metrics.get(request.metric) if w.chosen else None),
            fmt_metric(request.metric, w.test.metrics.get(request.metric) if w.test else None),
            str(w.test.trades if w.test else 0),
        )
    console.print(table)
    oos = result.out_of_sample
    if oos is not None:
        console.print(
            "out of sample, stitched: "
            + ", ".join(f"{n} {fmt_metric(n, oos.metrics.get(n))}" for n in SHOWN)
        )


async def _document(
    settings: Settings, request: bt.BacktestRequest, result: bt.BacktestResult
) -> dict[str, Any]:
    """The --json document: what ran, every set's metrics (best first), and the trades of
    each set kept in full (every set of a replay, the best of a sweep, each test window); a
    batch's sets are ranked by their mean metric, each symbol's run a document in `children`."""
    from cli.stores import backtest_archive

    children = [
        await _document(settings, request.part(c.run_id.rsplit(".", 1)[-1]), c)
        for c in result.children
    ]
    kept_keys = {(k.scope, k.set_index): k for k in result.kept}
    with backtest_archive(settings) as archive:
        trades = {
            key: _trades_json(archive.trades(request.run_id, bt.set_key(*key))) for key in kept_keys
        }
    sets = [
        {"set_index": e.set_index, "params": e.params, "metrics": e.metrics} for e in result.top
    ]
    return {
        "run_id": request.run_id,
        "mode": request.mode,
        "metric": request.metric,
        "status": result.status,
        "parameters": {
            "strategy": request.strategy,
            "symbol": request.symbol,
            "symbols": request.symbols,
            "timeframe": request.timeframe,
            "from": iso(request.start_ns),
            "to": iso(request.end_ns),
            "grid": request.grid,
            "params": request.params,
            "costs": request.costs.model_dump(),
            "balance": request.balance,
            "currency": request.currency,
            "ticks": request.ticks,
        },
        "evaluated": result.evaluated,
        "skipped": result.skipped,
        "sets": sets,
        "kept": [
            {
                "scope": k.scope,
                "set_index": k.set_index,
                "params": k.params,
                "metrics": k.metrics,
                "trades": trades[(k.scope, k.set_index)],
            }
            for k in result.kept
        ],
        "windows": [w.model_dump() for w in result.windows],
        "out_of_sample": result.out_of_sample.model_dump() if result.out_of_sample else None,
        "children": children,
    }


def _trades_json(frame: Any) -> list[dict[str, Any]]:
    out = []
    for row in frame.iter_rows(named=True):
        out.append(
            {
                "side": row["side"],
                "volume": row["volume"],
                "entry_time": iso_moment(row["entry_ts"]),
                "entry_price": row["entry_price"],
                "exit_time": iso_moment(row["exit_ts"]) if row["exit_ts"] is not None else None,
                "exit_price": row["exit_price"],
                "pnl": row["pnl"],
            }
        )
    return out


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="Most recent runs first.", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """The latest runs: what they tested, their status and best result."""
    settings = load_settings(data_dir)
    rows = asyncio.run(with_backtest_runs(settings, lambda runs: runs.runs(limit=limit)))
    if as_json:
        for r in rows:
            typer.echo(orjson.dumps(r, default=str).decode())
        return
    if not rows:
        console.print("no backtests yet: aitp backtest run --help")
        return
    table = Table(header_style="bold")
    for col in ("run", "strategy", "symbol", "tf", "mode", "range", "status", "best", "started"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["run_id"],
            r["strategy"],
            r["symbol"],
            r["timeframe"],
            r["mode"],
            f"{r['date_from']:%Y-%m-%d}..{r['date_to']:%Y-%m-%d}",
            r["status"],
            _best_text(r),
            f"{r['created_at']:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command()
def show(
    run_id: RunArg,
    top: Annotated[int, typer.Option(help="Parameter sets to list.", min=1)] = 10,
    data_dir: DataDirOption = None,
) -> None:
    """One run: its request, its progress while it runs, its best parameter sets."""
    settings = load_settings(data_dir)

    async def fetch(runs: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        return await runs.run(run_id), await runs.results(run_id, limit=top)

    found, results = asyncio.run(with_backtest_runs(settings, fetch))
    if found is None:
        raise CliError(f"no backtest {run_id}; `aitp backtest list` shows the runs", 1)
    request = bt.BacktestRequest.model_validate(found["request"])
    console.print(
        f"[bold]{run_id}[/bold] {request.strategy} {','.join(request.symbols)} "
        f"{request.timeframe} {request.mode} {day(request.start_ns)}..{day(request.end_ns)}, "
        f"{request.sets:,} sets, ranked by {'mean ' if request.batch else ''}{request.metric}: "
        f"[bold]{found['status']}[/bold]"
    )
    if request.batch:
        console.print("runs: " + ", ".join(bt.child_run_id(run_id, s) for s in request.symbols))
    if found["status"] == "running":
        try:
            p = asyncio.run(_progress(settings, run_id))
            eta = f", eta {p.eta_s:.0f}s" if p.eta_s is not None else ""
            console.print(f"{p.phase}: {p.done:,}/{p.total:,} sets{eta}")
        except (BacktestNotFoundError, CliError):
            pass
    summary = found.get("metrics") or {}
    if summary.get("out_of_sample"):
        oos = summary["out_of_sample"]
        console.print(
            "out of sample: " + ", ".join(f"{n} {fmt_metric(n, oos.get(n))}" for n in SHOWN)
        )
    if results:
        table = Table(header_style="bold")
        table.add_column("#", justify="right")
        table.add_column("params")
        for name in SHOWN:
            table.add_column(name, justify="right")
        for r in results:
            table.add_row(
                str(r["rank"] or "-"),
                _params_text(r["params"], set(request.grid)),
                *(fmt_metric(n, r["metrics"].get(n)) for n in SHOWN),
            )
        console.print(table)


@app.command()
def cancel(run_id: RunArg, data_dir: DataDirOption = None) -> None:
    """Stop a run: its activities stop at their next parameter set; results so far stay."""
    settings = load_settings(data_dir)

    async def go() -> bool:
        client = await temporal_client(settings)
        try:
            return await cancel_backtest(client, run_id)
        except BacktestNotFoundError as exc:
            raise CliError(str(exc), 1) from None

    if asyncio.run(go()):
        console.print(f"cancelling {run_id}")
    else:
        console.print(f"{run_id} has already finished")


@app.command()
def report(
    run_id: RunArg,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="HTML file to write (default: <run id>.html here).", dir_okay=False
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """One self-contained HTML file: equity and drawdown, trades on the price chart, monthly
    returns, and a heatmap of the ranking metric over the grid."""
    from cli.report import write_report

    settings = load_settings(data_dir)
    path = out or Path(f"{run_id}.html")
    written = write_report(settings, run_id, path)
    console.print(f"wrote {written}")


async def _progress(settings: Settings, run_id: str) -> bt.Progress:
    return await backtest_progress(await temporal_client(settings), run_id)


def _params_text(params: dict[str, Any], only: set[str] | None = None) -> str:
    shown = {k: v for k, v in params.items() if only is None or k in only} or params
    return " ".join(f"{k}={v}" for k, v in shown.items()) or "(defaults)"


def _best_text(row: dict[str, Any]) -> str:
    summary = row.get("metrics") or {}
    best = summary.get("best") or summary.get("out_of_sample")
    if not best:
        return "-"
    return f"{row['metric']} {fmt_metric(row['metric'], best.get(row['metric']))}"


async def with_backtest_runs(settings: Settings, work: Any) -> Any:
    from adapters.postgres.backtests import PostgresBacktestRuns

    return await with_pool(settings, lambda pool: work(PostgresBacktestRuns(pool)))
