"""`aitp model`: train ensembles, see the registry, promote or roll back champions, schedule
retraining."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli.clients import temporal_client, with_pool
from cli.options import (
    DataDirOption,
    NoWaitOption,
    RunIdOption,
    instant,
    load_settings,
    scalar,
    symbol_of,
    validated,
)
from cli.output import EXIT_BAD_INPUT, CliError, console, day, err_console
from cli.watch import Step, watch
from config.settings import Settings
from domain.market_data import Timeframe
from domain.ports import ModelVersion, RegistryError
from temporal.models import (
    MODEL_KINDS,
    MODEL_RETRAINING_WORKFLOW,
    MODEL_TRAINING_WORKFLOW,
    PATTERN_INDEX_WORKFLOW,
    PROMOTION_METRICS,
    TREE_KINDS,
    PatternIndexRequest,
    PatternIndexResult,
    RetrainingRequest,
    TrainingProgress,
    TrainingRequest,
    TrainingResult,
)
from temporal.queues import RESEARCH
from temporal.schedules import ensure_schedule, schedule

OPTIONS = {"start_ns": "--from", "end_ns": "--to", "params": "--param", "kinds": "--kinds"}
DEFAULT_KINDS = ",".join(TREE_KINDS)
SHOWN_SCORES = ("log_loss", "constant_log_loss", "auc", "brier", "accuracy")

app = typer.Typer(
    help="Train model ensembles, list and inspect versions, promote or roll back champions, "
    "and schedule retraining.",
    no_args_is_help=True,
)


class EnsembleChoice(StrEnum):
    weighted = "weighted"
    stacked = "stacked"


class LabelChoice(StrEnum):
    triple_barrier = "triple_barrier"
    forward_sign = "forward_sign"


SymbolOption = Annotated[str, typer.Option("--symbol", "-s", help="Instrument, e.g. EURUSD.")]
TimeframeOption = Annotated[Timeframe, typer.Option("--timeframe", "-t")]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="First instant (UTC), e.g. 2024-01-01; default: the first bar."),
]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="End instant (UTC), excluded; default: now.", show_default=False),
]
KindsOption = Annotated[
    str,
    typer.Option(
        "--kinds",
        "-k",
        help=f"Comma-separated model kinds: {', '.join(MODEL_KINDS)}. Only tree kinds "
        "(xgboost, lightgbm, random_forest) can score live decisions.",
    ),
]


@app.command()
def train(
    symbol: SymbolOption,
    start: FromOption = None,
    end: ToOption = None,
    timeframe: TimeframeOption = Timeframe.M1,
    kinds: KindsOption = DEFAULT_KINDS,
    ensemble: Annotated[
        EnsembleChoice,
        typer.Option(
            help="weighted: the members' mean, calibrated; stacked: a calibrated "
            "logistic regression over the members."
        ),
    ] = EnsembleChoice.weighted,
    label: Annotated[
        LabelChoice,
        typer.Option(
            help="triple_barrier: take profit before stop within the horizon; "
            "forward_sign: the close `horizon` bars on is higher."
        ),
    ] = LabelChoice.triple_barrier,
    horizon: Annotated[int, typer.Option(help="Bars the label looks ahead.", min=1)] = 30,
    take_profit: Annotated[float, typer.Option(help="Triple barrier: x ATR.", min=0.01)] = 2.0,
    stop_loss: Annotated[float, typer.Option(help="Triple barrier: x ATR.", min=0.01)] = 1.0,
    folds: Annotated[
        int, typer.Option(help="Walk-forward test windows scored out of sample.", min=1, max=20)
    ] = 4,
    embargo: Annotated[
        int, typer.Option(help="Bars between the last training label and a test window.", min=0)
    ] = 60,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="A model parameter: KIND.NAME=VALUE, e.g. xgboost.rounds=100.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds every model: a retrain is reproducible.")] = 0,
    run_id: RunIdOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout: folds and scores.")
    ] = False,
    no_wait: NoWaitOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Train an ensemble, score it walk-forward out of sample, register it as a candidate.

    The version joins model SYMBOL-TIMEFRAME (e.g. GBPUSD-M1); promote it to score live
    decisions. Without --from and --to it trains on every stored bar.

    Examples:

      aitp model train -s GBPUSD --from 2012-02-01 --to 2012-03-01

      aitp model train -s EURUSD --from 2024-01-01 --to 2024-07-01 -k xgboost,lightgbm
      --ensemble stacked --label forward_sign --horizon 15 -p xgboost.rounds=400

    Then: aitp model promote GBPUSD-M1 VERSION
    """
    settings = load_settings(data_dir)
    start_ns, end_ns = _range(start, end)
    if end_ns <= start_ns:
        raise CliError("--to must be after --from", EXIT_BAD_INPUT)
    request = validated(
        TrainingRequest,
        {
            "run_id": run_id or f"train-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}",
            "symbol": symbol_of(symbol),
            "timeframe": timeframe.value,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "kinds": _kinds(kinds),
            "ensemble": ensemble.value,
            "label": label.value,
            "horizon": horizon,
            "take_profit": take_profit,
            "stop_loss": stop_loss,
            "folds": folds,
            "embargo": embargo,
            "seed": seed,
            "params": _params(param or []),
        },
        OPTIONS,
    )
    asyncio.run(_train(settings, request, as_json, wait=not no_wait))


async def _train(settings: Settings, request: TrainingRequest, as_json: bool, wait: bool) -> None:
    client = await temporal_client(settings)
    try:
        handle = await client.start_workflow(
            MODEL_TRAINING_WORKFLOW,
            request,
            id=request.workflow_id,
            task_queue=RESEARCH,
            result_type=TrainingResult,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        raise CliError(
            f"a training named {request.run_id} exists already: choose another --run-id",
            EXIT_BAD_INPUT,
        ) from None
    if not wait:
        typer.echo(orjson.dumps({"run_id": request.run_id}).decode() if as_json else request.run_id)
        return
    if not as_json:
        err_console.print(
            f"training [bold]{request.run_id}[/bold] started: {', '.join(request.kinds)} "
            f"on {request.name}, {request.folds} folds"
        )
    try:
        result = await _watch(client, handle.id, quiet=as_json)
    except WorkflowFailureError as exc:
        raise CliError(f"the training failed: {exc.cause}") from None
    if as_json:
        typer.echo(orjson.dumps(result.model_dump(mode="json")).decode())
        return
    table = Table(title=f"{result.name} v{result.version}: walk-forward, out of sample")
    table.add_column("fold", justify="right")
    table.add_column("test window")
    table.add_column("train rows", justify="right")
    table.add_column("test rows", justify="right")
    for name in SHOWN_SCORES:
        table.add_column(name, justify="right")
    for fold in result.folds:
        table.add_row(
            str(fold.fold),
            f"{day(fold.test_from_ns)}..{day(fold.test_to_ns)}",
            f"{fold.train_rows:,}",
            f"{fold.test_rows:,}",
            *(_score(fold.scores.get(name)) for name in SHOWN_SCORES),
        )
    table.add_row("mean", "", "", "", *(_score(result.scores.get(name)) for name in SHOWN_SCORES))
    console.print(table)
    console.print(
        f"registered [bold]{result.name} v{result.version}[/bold] as a candidate "
        f"({result.rows:,} rows). Promote it: aitp model promote {result.name} {result.version}"
    )


async def _watch(client: Client, workflow_id: str, quiet: bool) -> TrainingResult:
    handle = client.get_workflow_handle(workflow_id, result_type=TrainingResult)

    async def poll() -> Step | None:
        p = await handle.query("progress", result_type=TrainingProgress)
        last = p.scores[-1].scores.get("log_loss") if p.scores else None
        note = "" if last is None else f"log_loss {last:.4f}"
        return Step(p.stage, p.folds_done, p.folds, note)

    return await watch(handle, poll, quiet)


@app.command("list")
def list_(
    name: Annotated[
        str | None, typer.Argument(help="Only this model, e.g. GBPUSD-M1.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every registered version, newest first, with its status and out-of-sample scores."""
    settings = load_settings(data_dir)
    versions = asyncio.run(_registry(settings, lambda r: r.versions(name)))
    if as_json:
        for version in versions:
            typer.echo(orjson.dumps(_document(version)).decode())
        return
    if not versions:
        console.print("no models yet: aitp model train -s SYMBOL --from ... --to ...")
        return
    table = Table()
    for column in ("model", "version", "status", "kinds", "data", "log_loss", "auc", "trained"):
        table.add_column(
            column, justify="right" if column in ("version", "log_loss", "auc") else "left"
        )
    for v in versions:
        style = "bold green" if v.status == "champion" else "dim" if v.status == "retired" else ""
        table.add_row(
            v.name,
            str(v.version),
            v.status,
            ",".join(v.kinds),
            f"{day(v.data_from_ns)}..{day(v.data_to_ns)}",
            _score(v.metrics.get("log_loss")),
            _score(v.metrics.get("auc")),
            day(v.created_ns),
            style=style,
        )
    console.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="The model, e.g. GBPUSD-M1.")],
    version: Annotated[
        int | None,
        typer.Argument(help="Default: the champion, else the newest.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """One version: its data, scores, files, and the challenges it took part in."""
    settings = load_settings(data_dir)

    async def fetch(registry: Any) -> tuple[ModelVersion | None, list[Any]]:
        found = await (
            registry.get(name, version) if version is not None else registry.champion(name)
        )
        if found is None and version is None:
            newest = await registry.versions(name)
            found = newest[0] if newest else None
        return found, await registry.challenges(name)

    found, challenges = asyncio.run(_registry(settings, fetch))
    if found is None:
        which = f"{name} v{version}" if version is not None else name
        raise CliError(f"no model {which}; `aitp model list` shows the registry")
    mine = [c for c in challenges if found.version in (c.challenger, c.champion)]
    if as_json:
        document = _document(found)
        document["challenges"] = [dataclasses.asdict(c) for c in mine]
        typer.echo(orjson.dumps(document).decode())
        return
    console.print(f"[bold]{found.tag}[/bold]  {found.status}")
    console.print(f"  symbol     {found.symbol} {found.timeframe}")
    console.print(f"  kinds      {', '.join(found.kinds)}")
    console.print(f"  label      {found.label}")
    console.print(f"  data       {day(found.data_from_ns)}..{day(found.data_to_ns)}")
    console.print(f"  features   {found.features_hash}")
    console.print(f"  files      {found.artifact}")
    console.print(f"  trained by {found.trained_by or '-'} on {day(found.created_ns)}")
    for key, value in sorted(found.metrics.items()):
        console.print(f"  {key:<18} {_score(value)}")
    for c in mine:
        verdict = "promoted" if c.promoted else "kept out"
        against = f"v{c.champion}" if c.champion is not None else "no champion"
        console.print(f"  challenge  v{c.challenger} vs {against}: {verdict}, {c.reason}")


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="The model, e.g. GBPUSD-M1.")],
    version: Annotated[int, typer.Argument(help="The version to make champion.")],
    reason: Annotated[str, typer.Option(help="Kept with the change.")] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Make VERSION the champion: running decision workers load it at once, no restart."""
    settings = load_settings(data_dir)
    previous = asyncio.run(_registry(settings, lambda r: r.promote(name, version, reason)))
    was = f" (was v{previous.version})" if previous is not None else ""
    console.print(f"{name} v{version} is the champion{was}")


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="The model, e.g. GBPUSD-M1.")],
    reason: Annotated[str, typer.Option(help="Kept with the change.")] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Put back the champion the current one replaced."""
    settings = load_settings(data_dir)
    restored = asyncio.run(_registry(settings, lambda r: r.rollback(name, reason)))
    console.print(f"{name} v{restored.version} is the champion again")


@app.command("schedule")
def schedule_(
    symbol: SymbolOption,
    timeframe: TimeframeOption = Timeframe.M1,
    every: Annotated[
        str | None,
        typer.Option(help="Interval: 12h, 1d, 7d (default 1d unless --cron).", show_default=False),
    ] = None,
    cron: Annotated[
        str | None,
        typer.Option(help='Cron instead, e.g. "0 2 * * 1-5" (UTC).', show_default=False),
    ] = None,
    lookback: Annotated[str, typer.Option(help="Data each retraining uses, up to then.")] = "3M",
    kinds: KindsOption = DEFAULT_KINDS,
    metric: Annotated[
        str, typer.Option(help=f"Judges the challenge: {', '.join(PROMOTION_METRICS)}.")
    ] = "log_loss",
    margin: Annotated[
        float, typer.Option(help="How much better than the champion, in the metric's units.")
    ] = 0.0,
    folds: Annotated[int, typer.Option(min=1, max=20)] = 4,
    data_dir: DataDirOption = None,
) -> None:
    """Retrain a model on a Temporal Schedule, promoting only a better challenger.

    Each run (visible and pausable in the Temporal UI) trains a candidate on the last
    --lookback of data and promotes it only if it beats the champion on --metric by more
    than --margin; the comparison is kept either way. Running this again updates the
    schedule.
    """
    settings = load_settings(data_dir)
    if every is not None and cron is not None:
        raise CliError("give --every or --cron, not both", EXIT_BAD_INPUT)
    request = validated(
        RetrainingRequest,
        {
            "symbol": symbol_of(symbol),
            "timeframe": timeframe.value,
            "lookback": lookback,
            "kinds": _kinds(kinds),
            "metric": metric,
            "margin": margin,
            "folds": folds,
        },
        OPTIONS,
    )
    interval = None if cron is not None else _interval(every or "1d")
    schedule_id = f"retrain-{request.name}"
    wanted = schedule(
        MODEL_RETRAINING_WORKFLOW,
        request,
        workflow_id=schedule_id,
        task_queue=RESEARCH,
        every=interval,
        cron=cron,
        catchup_window=timedelta(hours=6),
        note=f"retrain {request.name} on {lookback}, promote on {metric} + {margin:g}",
    )

    async def go() -> bool:
        return await ensure_schedule(await temporal_client(settings), schedule_id, wanted)

    created = asyncio.run(go())
    when = f"every {every or '1d'}" if cron is None else f"on {cron!r}"
    console.print(f"{'created' if created else 'updated'} schedule {schedule_id}: {when}")


@app.command()
def patterns(
    symbol: SymbolOption,
    start: FromOption = None,
    end: ToOption = None,
    timeframe: TimeframeOption = Timeframe.M1,
    horizon: Annotated[
        int, typer.Option(help="Bars of forward move kept with each window.", min=1)
    ] = 30,
    step: Annotated[int, typer.Option(help="Index every STEP-th bar's window.", min=1)] = 1,
    data_dir: DataDirOption = None,
) -> None:
    """Index a symbol's history for the pattern validator (a workflow on the research queue).

    Every window of the stored bars is kept with what the price did next; a decision
    candidate is then compared with its nearest windows. Indexing a range again replaces it.

    Example: aitp model patterns -s EURUSD --from 2023-01-01 --to 2024-01-01
    """
    settings = load_settings(data_dir)
    start_ns, end_ns = _range(start, end)
    request = validated(
        PatternIndexRequest,
        {
            "symbol": symbol_of(symbol),
            "timeframe": timeframe.value,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "horizon": horizon,
            "step": step,
        },
        OPTIONS,
    )

    async def go() -> PatternIndexResult:
        client = await temporal_client(settings)
        try:
            handle = await client.start_workflow(
                PATTERN_INDEX_WORKFLOW,
                request,
                id=request.workflow_id,
                task_queue=RESEARCH,
                result_type=PatternIndexResult,
            )
        except WorkflowAlreadyStartedError:
            raise CliError(
                f"{request.symbol} {request.timeframe} is being indexed already "
                f"({request.workflow_id} in the Temporal UI)"
            ) from None
        with err_console.status(f"indexing {request.symbol} {request.timeframe} windows"):
            try:
                result: PatternIndexResult = await handle.result()
            except WorkflowFailureError as exc:
                raise CliError(f"the index build failed: {exc.cause}") from None
        return result

    result = asyncio.run(go())
    console.print(
        f"indexed {result.windows:,} windows of {request.symbol} {request.timeframe} "
        f"({day(result.first_ns)}..{day(result.last_ns)}) into {result.collection}"
    )


async def _registry(settings: Settings, work: Any) -> Any:
    from adapters.postgres.models import PostgresModelRegistry

    async def run(pool: Any) -> Any:
        try:
            return await work(PostgresModelRegistry(pool))
        except RegistryError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None

    return await with_pool(settings, run)


def _range(start: str | None, end: str | None) -> tuple[int, int]:
    """--from and --to as UTC nanoseconds: by default every stored bar up to now."""
    start_ns = 0 if start is None else instant(start, "--from")
    end_ns = time.time_ns() if end is None else instant(end, "--to")
    return start_ns, end_ns


def _kinds(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def _params(specs: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        kind, dot, name = key.partition(".")
        if not sep or not dot or not kind or not name:
            raise CliError(
                f"--param {spec!r}: write KIND.NAME=VALUE, e.g. xgboost.rounds=100",
                EXIT_BAD_INPUT,
            )
        out.setdefault(kind.strip(), {})[name.strip()] = scalar(raw.strip())
    return out


def _interval(text: str) -> timedelta:
    units = {"m": 60, "h": 3600, "d": 86_400}
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit() or int(number) == 0:
        raise CliError(
            f"--every {text!r} is not an interval: a count and m, h or d (e.g. 12h, 1d)",
            EXIT_BAD_INPUT,
        )
    return timedelta(seconds=int(number) * units[unit])


def _document(v: ModelVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "status": v.status,
        "symbol": v.symbol,
        "timeframe": v.timeframe,
        "kinds": list(v.kinds),
        "label": v.label,
        "features_hash": v.features_hash,
        "data_from": day(v.data_from_ns),
        "data_to": day(v.data_to_ns),
        "metrics": dict(v.metrics),
        "artifact": v.artifact,
        "trained_by": v.trained_by,
    }


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
