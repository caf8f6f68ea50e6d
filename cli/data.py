"""`aitp data import | bars | list`: bring history in, look at it, see what is there."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import polars as pl
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.files.market_files import FileFormat, MarketFileError, read_market_file
from cli.options import DataDirOption, instant, load_settings, symbol_of
from cli.output import EXIT_BAD_INPUT, ISO, CliError, console, iso
from cli.stores import market_data
from domain.market_data import PriceSide, SeriesKind, Timeframe

app = typer.Typer(help="Market data: import history, print bars, list what is stored.")

BATCH_ROWS = 250_000


class Side(StrEnum):
    bid = "bid"
    ask = "ask"
    mid = "mid"


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV (.gz too), HistData or MT5 export.")],
    symbol: Annotated[str, typer.Option("--symbol", "-s", help="Instrument, e.g. EURUSD.")],
    kind: Annotated[SeriesKind, typer.Option("--kind", "-k", help="bars or ticks.")],
    timeframe: Annotated[
        Timeframe, typer.Option("--timeframe", "-t", help="Bar size of the file (bars only).")
    ] = Timeframe.M1,
    side: Annotated[
        Side | None,
        typer.Option(
            help="Quote side of the bars; default bid, or mid when the file has volume.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        FileFormat, typer.Option("--format", "-f", help="File format.")
    ] = FileFormat.AUTO,
    data_dir: DataDirOption = None,
) -> None:
    """Import a file of bars or ticks; re-importing the same file changes nothing.

    Bars: header timestamp,open,high,low,close[,volume]. Ticks: timestamp,bid,ask[,...].
    Timestamps are ISO-8601, naive ones UTC; HistData files (no header) are EST (UTC-5) as
    published; MT5 exports (tab-separated <DATE> <TIME> ...) are detected automatically.

    Example: aitp data import EURUSD-M1.csv --symbol EURUSD --kind bars --side bid
    """
    settings = load_settings(data_dir)
    symbol = symbol_of(symbol)
    try:
        with console.status(f"reading {file.name}…"):
            parsed = read_market_file(file, kind, fmt)
    except MarketFileError as exc:
        raise CliError(f"{exc}\nnothing was imported.", EXIT_BAD_INPUT) from None
    chosen = (
        PriceSide(side.value) if side else (PriceSide.MID if parsed.has_volume else PriceSide.BID)
    )
    frame = parsed.frame
    written = 0
    with market_data(settings) as store, _progress() as progress:
        task = progress.add_task(f"writing {symbol}", total=frame.height)
        for offset in range(0, frame.height, BATCH_ROWS):
            batch = frame.slice(offset, BATCH_ROWS)
            if kind is SeriesKind.BARS:
                written += store.write_bars(symbol, timeframe, chosen, batch)
            else:
                written += store.write_ticks(symbol, batch)
            progress.update(task, advance=batch.height)
    what = f"{kind.value} {timeframe.value} {chosen.value}" if kind is SeriesKind.BARS else "ticks"
    console.print(
        f"{symbol} {what}: read {parsed.rows_read:,} rows ({parsed.format}), wrote {written:,}; "
        f"first {iso(parsed.first_ts)}, last {iso(parsed.last_ts)}"
    )


@app.command()
def bars(
    symbol: Annotated[str, typer.Option("--symbol", "-s", help="Instrument, e.g. EURUSD.")],
    timeframe: Annotated[Timeframe, typer.Option("--timeframe", "-t")] = Timeframe.M1,
    start: Annotated[
        str, typer.Option("--from", help="First instant, ISO date or time (UTC), included.")
    ] = "1970-01-01",
    end: Annotated[
        str, typer.Option("--to", help="Last instant, ISO date or time (UTC), excluded.")
    ] = "2262-01-01",
    side: Annotated[Side, typer.Option(help="Which quote.")] = Side.bid,
    as_csv: Annotated[bool, typer.Option("--csv", help="Every bar as CSV on stdout.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Every bar as a JSON array.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Print the bars in [from, to). Timeframes above what was imported are built from M1."""
    if as_csv and as_json:
        raise CliError("choose one of --csv and --json", EXIT_BAD_INPUT)
    settings = load_settings(data_dir)
    start_ns, end_ns = instant(start, "--from"), instant(end, "--to")
    if end_ns <= start_ns:
        raise CliError("--to must be after --from", EXIT_BAD_INPUT)
    with market_data(settings) as store:
        frame = store.read_bars(
            symbol_of(symbol), timeframe, PriceSide(side.value), start_ns, end_ns
        )
    out = frame.with_columns(pl.col("ts").dt.strftime(ISO).alias("timestamp")).select(
        "timestamp", "open", "high", "low", "close", "volume"
    )
    if as_csv:
        typer.echo(out.write_csv(), nl=False)
        return
    if as_json:
        typer.echo(orjson.dumps(out.to_dicts()).decode())
        return
    if frame.height == 0:
        console.print(f"no {timeframe.value} {side.value} bars for {symbol} in [{start}, {end})")
        raise typer.Exit(1)
    table = Table(title=f"{symbol} {timeframe.value} {side.value}: {frame.height:,} bars")
    for col in out.columns:
        table.add_column(col, justify="left" if col == "timestamp" else "right")
    shown = out if out.height <= 10 else pl.concat([out.head(5), out.tail(5)])
    for i, row in enumerate(shown.iter_rows()):
        if out.height > 10 and i == 5:
            table.add_row("…", *["…"] * (len(row) - 1))
        table.add_row(*(str(v) for v in row))
    console.print(table)


@app.command("list")
def list_(data_dir: DataDirOption = None) -> None:
    """What is stored: symbol, kind, timeframe, side, rows and time range."""
    settings = load_settings(data_dir)
    with market_data(settings) as store:
        series = store.series()
    if not series:
        console.print("no market data yet; import some with `aitp data import FILE ...`")
        return
    table = Table()
    for col in ("symbol", "kind", "timeframe", "side", "rows", "first", "last"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for s in series:
        table.add_row(
            s.symbol,
            s.kind.value,
            s.timeframe.value if s.timeframe else "-",
            s.side.value if s.side else "-",
            f"{s.rows:,}",
            iso(s.first_ts),
            iso(s.last_ts),
        )
    console.print(table)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
