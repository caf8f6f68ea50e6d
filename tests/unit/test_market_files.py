"""Reading market files: every format a quant brings, and every way a file can be wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from adapters.files.market_files import FileFormat, MarketFileError, read_market_file
from domain.market_data import SeriesKind

BARS = SeriesKind.BARS
TICKS = SeriesKind.TICKS


def write(tmp_path: Path, text: str, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def ts(text: str) -> int:
    return int(pl.Series([text]).str.to_datetime(time_zone="UTC", time_unit="ns").dt.epoch("ns")[0])


def test_bars_with_offsets_naive_and_dates_in_one_file_all_land_in_utc(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,open,high,low,close\n"
        "2020-01-01,1,2,0.5,1\n"
        "2020-01-01T02:01:00+02:00,1,2,0.5,1\n"
        "2020-01-01 00:02:00Z,1,2,0.5,1\n"
        "2020-01-01T00:03,1,2,0.5,1\n",
    )
    got = read_market_file(path, BARS)
    stamps = got.frame["ts"].dt.epoch("ns").to_list()
    assert stamps == [ts("2020-01-01T00:00:00"), *(ts(f"2020-01-01T00:0{m}:00") for m in (1, 2, 3))]
    assert got.frame["volume"].to_list() == [0.0] * 4
    assert got.has_volume is False


def test_unordered_bars_are_sorted_and_identical_repeats_collapse(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,open,high,low,close,volume\n"
        "2020-01-01T00:01:00Z,2,3,1,2,5\n"
        "2020-01-01T00:00:00Z,1,2,0.5,1,4\n"
        "2020-01-01T00:01:00Z,2,3,1,2,5\n",
    )
    got = read_market_file(path, BARS)
    assert got.rows_read == 3
    assert got.frame["open"].to_list() == [1.0, 2.0]
    assert got.has_volume is True


def test_gzip_files_are_read_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "bars.dat"
    path.write_bytes(gzip.compress(b"timestamp,open,high,low,close\n2020-01-01,1,2,0.5,1\n"))
    assert read_market_file(path, BARS).frame.height == 1


def test_histdata_ticks_are_eastern_standard_time(tmp_path: Path) -> None:
    path = write(
        tmp_path, "20200101 170000065,1.121200,1.121720,0\n20200101 170010447,1.1212,1.1219,0\n"
    )
    got = read_market_file(path, TICKS)
    assert got.format == "histdata"
    assert got.frame["ts"].dt.epoch("ns")[0] == ts("2020-01-01T22:00:00.065")
    assert got.frame["bid"].to_list() == [1.1212, 1.1212]


def test_histdata_bars_use_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path, "20200101 170000;1.1;1.2;1.0;1.15;0\n")
    got = read_market_file(path, BARS)
    assert got.frame["close"].to_list() == [1.15]
    assert got.frame["ts"].dt.epoch("ns")[0] == ts("2020-01-01T22:00:00")


def test_mt5_bar_export_uses_tick_volume_when_real_volume_is_zero(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        "2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.15\t55\t0\t3\n",
    )
    got = read_market_file(path, BARS, FileFormat.MT5)
    assert got.format == "mt5"
    assert got.frame.row(0) == (got.frame["ts"][0], 1.1, 1.2, 1.0, 1.15, 55.0)


def test_mt5_tick_export_carries_the_unchanged_side_forward(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\n"
        "2024.01.02\t00:00:00.100\t1.1\t1.2\t\t\t6\n"
        "2024.01.02\t00:00:00.200\t\t1.3\t\t\t4\n",
    )
    got = read_market_file(path, TICKS)
    assert got.frame["bid"].to_list() == [1.1, 1.1]
    assert got.frame["ask"].to_list() == [1.2, 1.3]


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("", BARS, "is empty"),
        ("timestamp,open,high,low,close\n", BARS, "no rows"),
        (
            "timestamp,open,high,low,close,foo\n2020-01-01,1,2,0.5,1,3\n",
            BARS,
            "unknown column(s) foo",
        ),
        ("timestamp,open,high,close\n2020-01-01,1,2,1\n", BARS, "need column(s) low"),
        ("open,high,low,close\n1,2,0.5,1\n", BARS, "no timestamp column"),
        (
            "timestamp,open,high,low,close\n2020-01-01,1,2,0.5,1\nyesterday,1,2,0.5,1\n",
            BARS,
            "line 3",
        ),
        (
            "timestamp,open,high,low,close\n2020-01-01,1,0.2,0.5,1\n",
            BARS,
            "high is below low at line 2",
        ),
        ("timestamp,open,high,low,close\n2020-01-01,1,x,0.5,1\n", BARS, "'high' is not a number"),
        (
            "timestamp,open,high,low,close\n2020-01-01,1,2,0.5,1\n2020-01-02,1,2,0.5,1\n"
            "2020-01-01T00:00:00Z,1,2,0.5,1.5\n",
            BARS,
            "different values at line 2, 4",
        ),
        (
            "timestamp,bid,ask\n2020-01-01T00:00:01Z,1,2\n2020-01-01T00:00:00Z,1,2\n",
            TICKS,
            "backwards at line 3",
        ),
        ("timestamp,open,high,low,close\n2020-01-01,1,2,0.5,1\n", TICKS, "is --kind ticks right?"),
    ],
)
def test_bad_files_are_refused_with_the_reason(
    tmp_path: Path, text: str, kind: SeriesKind, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MarketFileError) as err:
        read_market_file(path, kind)
    assert message in str(err.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MarketFileError, match="does not exist"):
        read_market_file(tmp_path / "nope.csv", BARS)
