"""`aitp data` as a quant types it, against the running embedded platform."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
import polars as pl
import pytest

from tests.conftest import RunningPlatform

pytestmark = pytest.mark.shared_data

SHARED_FILES = [
    ("fx/GBPUSD-M1-bid-2012-02.csv", "GBPUSD", "bars", 30_117),
    ("fx/GBPUSD-M1-ask-2012-02.csv", "GBPUSD", "bars", 30_117),
    ("fx/USDJPY-M1-bid-2013.csv", "USDJPY", "bars", 28_761),
    ("fx/USDJPY-M1-ask-2013.csv", "USDJPY", "bars", 28_761),
    ("fx/EURUSD-ticks-2020-01.csv", "EURUSD", "ticks", 9_500),
    ("fx/USDJPY-ticks-2013-01.csv", "USDJPY", "ticks", 1_000),
    ("futures/6EH4-M1-2024-01.csv.gz", "6EH4", "bars", 29_996),
    ("crypto/BTCPERP-M1-2022-01.csv", "BTCPERP", "bars", 45_031),
]


def run(aitp: list[str], platform: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aitp, *args], capture_output=True, text=True, env=platform.cli_env(), timeout=120
    )


@pytest.mark.parametrize(("name", "symbol", "kind", "rows"), SHARED_FILES)
def test_every_shared_file_imports(
    aitp: list[str],
    platform: RunningPlatform,
    shared_data: Path,
    name: str,
    symbol: str,
    kind: str,
    rows: int,
) -> None:
    side = ["--side", "ask"] if "-ask-" in name else []
    done = run(
        aitp, platform, "data", "import", str(shared_data / name), "-s", symbol, "-k", kind, *side
    )
    assert done.returncode == 0, done.stderr
    assert f"read {rows:,} rows" in done.stdout
    assert f"wrote {rows:,}" in done.stdout


def test_imported_bars_read_back_identical_to_the_file(
    aitp: list[str], platform: RunningPlatform, shared_data: Path
) -> None:
    source = shared_data / "fx/GBPUSD-M1-bid-2012-02.csv"
    for _ in range(2):  # the second import must change nothing
        done = run(
            aitp,
            platform,
            "data",
            "import",
            str(source),
            "-s",
            "GBPUSD",
            "-k",
            "bars",
            "--side",
            "bid",
        )
        assert done.returncode == 0, done.stderr
    out = bars(aitp, platform, "GBPUSD", "M1", "2012-01-01", "2013-01-01", "--side", "bid", "--csv")
    assert out.returncode == 0, out.stderr
    got = pl.read_csv(out.stdout.encode())
    want = pl.read_csv(source)
    assert got.columns == ["timestamp", "open", "high", "low", "close", "volume"]
    assert got.height == 30_117
    got_ts = got["timestamp"].str.to_datetime(time_zone="UTC")
    want_ts = want["timestamp"].str.to_datetime(time_zone="UTC")
    assert (got_ts == want_ts).all()
    for col in ("open", "high", "low", "close"):
        assert (got[col] == want[col]).all(), col


def bars(
    aitp: list[str],
    platform: RunningPlatform,
    symbol: str,
    tf: str,
    start: str,
    end: str,
    *args: str,
) -> subprocess.CompletedProcess[str]:
    """`aitp data bars` of a symbol and timeframe over [start, end)."""
    return run(
        aitp, platform, "data", "bars", "-s", symbol, "-t", tf, "--from", start, "--to", end, *args
    )


def imported(
    aitp: list[str], platform: RunningPlatform, path: Path, symbol: str, kind: str
) -> None:
    done = run(aitp, platform, "data", "import", str(path), "-s", symbol, "-k", kind)
    assert done.returncode == 0, done.stderr


def test_bars_json_and_aggregation_to_h1(
    aitp: list[str], platform: RunningPlatform, shared_data: Path
) -> None:
    imported(aitp, platform, shared_data / "fx/USDJPY-M1-bid-2013.csv", "USDJPY", "bars")
    out = bars(aitp, platform, "USDJPY", "H1", "2013-02-01", "2013-02-01T03:00", "--json")
    assert out.returncode == 0, out.stderr
    rows = orjson.loads(out.stdout)
    assert [r["timestamp"] for r in rows] == [f"2013-02-01T0{h}:00:00Z" for h in range(3)]
    m1 = pl.read_csv(shared_data / "fx/USDJPY-M1-bid-2013.csv").head(60)
    assert rows[0]["open"] == m1["open"][0]
    assert rows[0]["high"] == m1["high"].max()
    assert rows[0]["low"] == m1["low"].min()


def test_list_shows_symbols_and_counts(
    aitp: list[str], platform: RunningPlatform, shared_data: Path
) -> None:
    imported(aitp, platform, shared_data / "fx/USDJPY-ticks-2013-01.csv", "USDJPY", "ticks")
    out = run(aitp, platform, "data", "list")
    assert out.returncode == 0, out.stderr
    assert "USDJPY" in out.stdout
    assert "1,000" in out.stdout


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("", [], "is empty"),
        ("timestamp,open,high,low,close\n2020-01-01,1,0.5,0.9,1\n", [], "high is below low"),
        (
            "timestamp,open,high,low,close\nsoon,1,2,0.5,1\n",
            [],
            "cannot read the timestamp at line 2",
        ),
        ("timestamp,open,high,low,close,oi\n2020-01-01,1,2,0.5,1,3\n", [], "unknown column(s) oi"),
    ],
)
def test_bad_files_exit_2_with_the_reason_and_write_nothing(
    aitp: list[str],
    platform: RunningPlatform,
    tmp_path: Path,
    content: str,
    args: list[str],
    message: str,
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    done = run(aitp, platform, "data", "import", str(bad), "-s", "BADSYM", "-k", "bars", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    listed = run(aitp, platform, "data", "list")
    assert "BADSYM" not in listed.stdout


def test_bad_options_say_how_to_fix_them(
    aitp: list[str], platform: RunningPlatform, shared_data: Path
) -> None:
    done = run(aitp, platform, "data", "bars", "-s", "GBPUSD", "--from", "last tuesday")
    assert done.returncode == 2
    assert "--from 'last tuesday' is not a date" in done.stderr
    done = run(
        aitp,
        platform,
        "data",
        "import",
        str(shared_data / "fx/GBPUSD-M1-bid-2012-02.csv"),
        "-s",
        "GBP USD",
        "-k",
        "bars",
    )
    assert done.returncode == 2
    assert "is not a symbol" in done.stderr


def test_an_invalid_setting_is_named_without_a_traceback(
    aitp: list[str], platform: RunningPlatform
) -> None:
    env = {**platform.cli_env(), "AITP_TEMPORAL__PORT": "seventy"}
    done = subprocess.run([*aitp, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "AITP_TEMPORAL__PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_works_without_the_platform_by_opening_chdb_itself(
    aitp: list[str], tmp_path: Path, shared_data: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
    env["AITP_DATA_DIR"] = str(tmp_path / "offline")
    source = shared_data / "fx/USDJPY-ticks-2013-01.csv"
    done = subprocess.run(
        [*aitp, "data", "import", str(source), "-s", "USDJPY", "-k", "ticks"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [*aitp, "data", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "1,000" in listed.stdout
    assert (tmp_path / "offline" / "clickhouse").is_dir()
