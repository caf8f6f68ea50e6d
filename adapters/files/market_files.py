"""Reading bar and tick files into validated frames, or refusing them with a useful message.

A file is read whole and checked before anything is written, so a bad file never leaves
half of itself in the store. Every refusal names the problem, the first offending lines and
what to do about it.

Formats (auto-detected from the first line):
- CSV with a header: `timestamp,open,high,low,close[,volume]` or `timestamp,bid,ask[,...]`;
  timestamps ISO-8601 with or without an offset, naive ones taken as UTC.
- HistData: no header, `YYYYMMDD HHMMSSfff,bid,ask,vol` ticks or
  `YYYYMMDD HHMMSS;open;high;low;close;vol` bars, in EST without daylight saving (UTC-5),
  as HistData publishes them.
- MT5 history exports: tab-separated with `<DATE>`, `<TIME>`, ... headers.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import polars as pl

from domain.market_data import SeriesKind

_TS = pl.Datetime("ns", "UTC")
_MAX_LINES_SHOWN = 5
_HISTDATA = re.compile(r"^\d{8} \d{6,9}[,;]")
_EST_OFFSET_NS = 5 * 3600 * 1_000_000_000

TIMESTAMP_ALIASES = {"timestamp", "timestamp_utc", "time", "datetime", "date"}
BAR_REQUIRED = ("open", "high", "low", "close")
BAR_OPTIONAL = ("volume", "tick_volume", "real_volume", "spread")
TICK_REQUIRED = ("bid", "ask")
TICK_OPTIONAL = ("bid_volume", "ask_volume", "volume", "last", "flags")


class FileFormat(StrEnum):
    AUTO = "auto"
    CSV = "csv"
    MT5 = "mt5"


class MarketFileError(ValueError):
    """The file cannot be imported as it is; the message says where and how to fix it."""


@dataclass(frozen=True)
class MarketFile:
    kind: SeriesKind
    format: str
    frame: pl.DataFrame  # bars: ts, open, high, low, close, volume; ticks: ts, bid, ask, volumes
    rows_read: int
    has_volume: bool

    @property
    def first_ts(self) -> int:
        return int(self.frame["ts"].dt.epoch("ns")[0])

    @property
    def last_ts(self) -> int:
        return int(self.frame["ts"].dt.epoch("ns")[-1])


def read_market_file(path: Path, kind: SeriesKind, fmt: FileFormat = FileFormat.AUTO) -> MarketFile:
    text = _read_text(path)
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise MarketFileError(f"{path} is empty: nothing to import")
    detected = _detect(first) if fmt is FileFormat.AUTO else fmt.value
    if fmt is FileFormat.CSV and detected == "mt5":
        raise MarketFileError(f"{path} looks like an MT5 export; use --format mt5 or auto")
    if detected == "histdata":
        raw, header_lines, ts_offset = _histdata(text, kind), 0, _EST_OFFSET_NS
    elif detected == "mt5":
        raw, header_lines, ts_offset = _mt5(text, path), 1, 0
    else:
        raw, header_lines, ts_offset = _csv(text, path), 1, 0
    if raw.height == 0:
        raise MarketFileError(f"{path} has a header but no rows: nothing to import")
    frame = _parse_timestamps(raw, path, header_lines, ts_offset)
    if kind is SeriesKind.BARS:
        frame, has_volume = _bars(frame, path, header_lines)
    else:
        frame, has_volume = _ticks(frame, path, header_lines)
    return MarketFile(kind, detected, frame, raw.height, has_volume)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MarketFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise MarketFileError(f"{path} is a directory; give one file") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise MarketFileError(f"{path} is a damaged gzip file: {exc}") from None
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise MarketFileError(f"{path} is neither UTF-8 nor UTF-16 text")


def _detect(first_line: str) -> str:
    if first_line.lstrip("\ufeff").startswith("<DATE>"):
        return "mt5"
    if _HISTDATA.match(first_line):
        return "histdata"
    return "csv"


def _csv(text: str, path: Path) -> pl.DataFrame:
    try:
        raw = pl.read_csv(io.StringIO(text), infer_schema=False, truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as exc:
        raise MarketFileError(f"{path} is not a well-formed CSV: {exc}") from None
    renamed: dict[str, str] = {}
    for col in raw.columns:
        name = col.strip().lower()
        renamed[col] = "timestamp" if name in TIMESTAMP_ALIASES else name
    if "timestamp" not in renamed.values():
        raise MarketFileError(
            f"{path} has no timestamp column (columns: {', '.join(raw.columns)}); "
            "the header must start with `timestamp`"
        )
    return raw.rename(renamed)


def _histdata(text: str, kind: SeriesKind) -> pl.DataFrame:
    sep = ";" if ";" in text[:200] else ","
    names = (
        ["timestamp", "bid", "ask", "volume"]
        if kind is SeriesKind.TICKS
        else ["timestamp", "open", "high", "low", "close", "volume"]
    )
    try:
        raw = pl.read_csv(
            io.StringIO(text),
            has_header=False,
            separator=sep,
            infer_schema=False,
            new_columns=names,
        )
    except pl.exceptions.PolarsError as exc:
        raise MarketFileError(f"not a well-formed HistData file: {exc}") from None
    if raw.width != len(names):
        raise MarketFileError(
            f"HistData {kind.value} rows have {len(names)} fields, this file has {raw.width}; "
            f"is --kind {kind.value} right?"
        )
    # HistData writes 20200101 170000065: date, then time with milliseconds.
    stamp = pl.col("timestamp").str.strip_chars()
    iso = (
        stamp.str.slice(0, 4)
        + "-"
        + stamp.str.slice(4, 2)
        + "-"
        + stamp.str.slice(6, 2)
        + "T"
        + stamp.str.slice(9, 2)
        + ":"
        + stamp.str.slice(11, 2)
        + ":"
        + stamp.str.slice(13, 2)
        + pl.when(stamp.str.len_chars() > 15).then("." + stamp.str.slice(15)).otherwise(pl.lit(""))
    )
    return raw.with_columns(iso.alias("timestamp"))


def _mt5(text: str, path: Path) -> pl.DataFrame:
    try:
        raw = pl.read_csv(io.StringIO(text), separator="\t", infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise MarketFileError(f"{path} is not a well-formed MT5 export: {exc}") from None
    raw = raw.rename({c: c.strip().strip("<>").lower() for c in raw.columns})
    if "date" not in raw.columns:
        raise MarketFileError(f"{path}: MT5 export without a <DATE> column")
    date = pl.col("date").str.replace_all(".", "-", literal=True)
    stamp = date + "T" + pl.col("time") if "time" in raw.columns else date + "T00:00:00"
    raw = raw.with_columns(stamp.alias("timestamp")).drop(
        [c for c in ("date", "time") if c in raw.columns]
    )
    if "tickvol" in raw.columns:
        vol = raw["vol"].cast(pl.Float64, strict=False) if "vol" in raw.columns else None
        use_real = vol is not None and (vol.fill_null(0) != 0).any()
        raw = raw.with_columns(pl.col("vol" if use_real else "tickvol").alias("volume")).drop(
            [c for c in ("vol", "tickvol") if c in raw.columns]
        )
    elif "bid" in raw.columns:
        # MT5 leaves BID or ASK empty on ticks where only the other side changed.
        raw = raw.with_columns(pl.col("bid").forward_fill(), pl.col("ask").forward_fill())
        if "volume" in raw.columns:
            raw = raw.with_columns(pl.col("volume").fill_null("0"))
    return raw


def _lines(mask: pl.Series, header_lines: int) -> str:
    rows = mask.arg_true().head(_MAX_LINES_SHOWN).to_list()
    more = int(mask.sum()) - len(rows)
    shown = ", ".join(str(r + 1 + header_lines) for r in rows)
    return f"line {shown}" + (f" (and {more} more)" if more > 0 else "")


def _parse_timestamps(
    raw: pl.DataFrame, path: Path, header_lines: int, offset_ns: int
) -> pl.DataFrame:
    text = (
        raw["timestamp"]
        .str.strip_chars()
        .str.replace(" ", "T", literal=True)
        .str.replace(r"Z$", "+00:00")
    )
    # Each form is tried on every row, so one file may mix offsets, naive times and dates.
    parsed = pl.select(
        pl.coalesce(
            text.str.to_datetime(
                "%Y-%m-%dT%H:%M:%S%.f%#z", time_unit="ns", strict=False
            ).dt.convert_time_zone("UTC"),
            text.str.to_datetime(
                "%Y-%m-%dT%H:%M:%S%.f", time_unit="ns", strict=False
            ).dt.replace_time_zone("UTC"),
            text.str.to_datetime(
                "%Y-%m-%dT%H:%M", time_unit="ns", strict=False
            ).dt.replace_time_zone("UTC"),
            text.str.to_date("%Y-%m-%d", strict=False)
            .cast(pl.Datetime("ns"))
            .dt.replace_time_zone("UTC"),
        ).alias("ts")
    ).to_series()
    bad = parsed.is_null()
    if bad.any():
        sample = raw["timestamp"].filter(bad).head(1).to_list()
        raise MarketFileError(
            f"{path}: cannot read the timestamp at {_lines(bad, header_lines)} "
            f"(e.g. {sample[0]!r}); use ISO-8601 such as 2024-01-31T13:45:00Z"
        )
    stamps = pl.col("ts").cast(_TS)
    if offset_ns:
        stamps = stamps + pl.duration(nanoseconds=offset_ns)
    return raw.with_columns(ts=parsed).with_columns(stamps).drop("timestamp")


def _numbers(
    frame: pl.DataFrame, columns: tuple[str, ...], path: Path, header_lines: int
) -> pl.DataFrame:
    for col in columns:
        values = frame[col].cast(pl.Float64, strict=False)
        bad = values.is_null() | values.is_nan()
        if bad.any():
            raise MarketFileError(f"{path}: {col!r} is not a number at {_lines(bad, header_lines)}")
        frame = frame.with_columns(values.alias(col))
    return frame


def _check_columns(
    frame: pl.DataFrame, required: tuple[str, ...], optional: tuple[str, ...], kind: str, path: Path
) -> None:
    present = set(frame.columns) - {"ts"}
    missing = [c for c in required if c not in present]
    unknown = sorted(present - set(required) - set(optional))
    allowed = f"timestamp,{','.join(required)}[,{','.join(optional)}]"
    if missing:
        raise MarketFileError(
            f"{path}: {kind} need column(s) {', '.join(missing)}; expected header {allowed} "
            f"(is --kind {kind} right?)"
        )
    if unknown:
        raise MarketFileError(
            f"{path}: unknown column(s) {', '.join(unknown)}; {kind} files have {allowed}"
        )


def _bars(frame: pl.DataFrame, path: Path, header_lines: int) -> tuple[pl.DataFrame, bool]:
    _check_columns(frame, BAR_REQUIRED, BAR_OPTIONAL, "bars", path)
    has_volume = "volume" in frame.columns or "real_volume" in frame.columns
    if "volume" not in frame.columns:
        source = next((c for c in ("real_volume", "tick_volume") if c in frame.columns), None)
        frame = frame.with_columns((pl.col(source) if source else pl.lit("0")).alias("volume"))
    frame = _numbers(frame, (*BAR_REQUIRED, "volume"), path, header_lines)
    inverted = frame["high"] < frame["low"]
    if inverted.any():
        raise MarketFileError(f"{path}: high is below low at {_lines(inverted, header_lines)}")
    frame = frame.select("ts", *BAR_REQUIRED, "volume").with_row_index("_row")
    frame = _dedupe(frame, ("open", "high", "low", "close", "volume"), path, header_lines)
    return frame.sort("ts").drop("_row"), has_volume


def _ticks(frame: pl.DataFrame, path: Path, header_lines: int) -> tuple[pl.DataFrame, bool]:
    _check_columns(frame, TICK_REQUIRED, TICK_OPTIONAL, "ticks", path)
    has_volume = any(c in frame.columns for c in ("bid_volume", "ask_volume", "volume"))
    for side in ("bid_volume", "ask_volume"):
        if side not in frame.columns:
            source = "volume" if "volume" in frame.columns else None
            frame = frame.with_columns((pl.col(source) if source else pl.lit("0")).alias(side))
    frame = _numbers(frame, ("bid", "ask", "bid_volume", "ask_volume"), path, header_lines)
    backwards = (frame["ts"].dt.epoch("ns").diff() < 0).fill_null(False)
    if backwards.any():
        raise MarketFileError(
            f"{path}: timestamps go backwards at {_lines(backwards, header_lines)}; "
            "tick files must be in time order"
        )
    return frame.select("ts", "bid", "ask", "bid_volume", "ask_volume"), has_volume


def _dedupe(
    frame: pl.DataFrame, values: tuple[str, ...], path: Path, header_lines: int
) -> pl.DataFrame:
    """Identical repeats of a bar collapse to one; repeats that disagree are refused."""
    distinct = frame.unique(subset=["ts", *values], keep="first", maintain_order=True)
    clash = distinct["ts"].is_duplicated()
    if clash.any():
        rows = distinct.filter(clash)["_row"]
        mask = frame["_row"].is_in(rows.implode())
        raise MarketFileError(
            f"{path}: the same timestamp has different values at {_lines(mask, header_lines)}; "
            "remove the conflicting rows or split the file"
        )
    return distinct
