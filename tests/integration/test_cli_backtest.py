"""`aitp backtest` as a quant types it, against the running embedded platform (its research
worker included), on GBPUSD bars imported with `aitp data import`."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.files.market_files import read_market_file
from domain.instruments import fx_major
from domain.market_data import SeriesKind, Timeframe
from research.series import BarSeries, Costs
from research.sweep import trades
from tests.conftest import RunningPlatform

pytestmark = pytest.mark.shared_data

RANGE = ("--from", "2012-02-01", "--to", "2012-03-01")


def run(
    aitp: list[str], platform: RunningPlatform, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aitp, *args], capture_output=True, text=True, env=platform.cli_env(), timeout=timeout
    )


@pytest.fixture(scope="module")
def gbpusd(aitp: list[str], platform: RunningPlatform, shared_data: Path) -> str:
    for side in ("bid", "ask"):
        name = f"fx/GBPUSD-M1-{side}-2012-02.csv"
        done = run(
            aitp,
            platform,
            "data",
            "import",
            str(shared_data / name),
            "-s",
            "GBPUSD",
            "-k",
            "bars",
            "--side",
            side,
        )
        assert done.returncode == 0, done.stderr
    return "GBPUSD"


def backtest(
    aitp: list[str], platform: RunningPlatform, *args: str, options: str = ""
) -> subprocess.CompletedProcess[str]:
    """`aitp backtest run` of ma_cross; `options` as typed on a command line."""
    argv = ("backtest", "run", "--strategy", "ma_cross", *args, *shlex.split(options))
    return run(aitp, platform, *argv)


def test_a_sweep_prints_one_json_document_with_the_best_sets_trades(
    aitp: list[str], platform: RunningPlatform, gbpusd: str
) -> None:
    options = "-g fast=5:15:5 -g slow=30,60 -p volume=0.5 --commission 3.5 --slippage-points 1"
    options += " --json"
    done = backtest(aitp, platform, "-s", gbpusd, *RANGE, options=options)
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["mode"] == "sweep"
    assert doc["parameters"]["grid"] == {"fast": [5, 10, 15], "slow": [30, 60]}
    assert doc["parameters"]["from"] == "2012-02-01T00:00:00Z"
    assert doc["evaluated"] == 6
    assert len(doc["sets"]) == 6
    [kept] = doc["kept"]
    assert kept["params"] == doc["sets"][0]["params"]
    made = kept["trades"]
    assert len(made) == kept["metrics"]["trades"] > 0
    first = made[0]
    assert set(first) == {
        "side",
        "volume",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "pnl",
    }
    assert first["entry_time"].endswith("Z")
    assert first["volume"] == 0.5
    assert all(t["exit_time"] is not None for t in made[:-1])  # only the last may be open
    assert sum(t["pnl"] for t in made) == pytest.approx(
        kept["metrics"]["final_equity"] - 100_000, abs=1e-6
    )

    listed = run(aitp, platform, "backtest", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert doc["run_id"] in {r["run_id"] for r in runs}

    shown = run(aitp, platform, "backtest", "show", doc["run_id"])
    assert shown.returncode == 0, shown.stderr
    assert "completed" in shown.stdout
    assert "fast=" in shown.stdout


def test_a_replay_lists_trades_for_every_set_as_the_sweep_makes_them(
    aitp: list[str], platform: RunningPlatform, gbpusd: str, shared_data: Path
) -> None:
    done = backtest(
        aitp, platform, "-s", gbpusd, *RANGE, options="--mode replay -g fast=5,10 -p slow=30 --json"
    )
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert len(doc["kept"]) == 2
    bid, ask = (
        read_market_file(shared_data / f"fx/GBPUSD-M1-{side}-2012-02.csv", SeriesKind.BARS).frame
        for side in ("bid", "ask")
    )
    series = BarSeries.from_frames("GBPUSD", Timeframe.M1, fx_major("GBPUSD"), bid, ask)
    stamp = {int(t): iso for t, iso in zip(series.ts, _iso(series.ts), strict=True)}
    for kept in doc["kept"]:
        made = trades(series, "ma_cross", kept["params"], Costs())
        assert [(t["side"], t["entry_time"], t["entry_price"]) for t in kept["trades"]] == [
            (t.side, stamp[int(series.ts[t.entry_index])], pytest.approx(t.entry_price))
            for t in made
        ]
        assert [t["pnl"] for t in kept["trades"]] == pytest.approx([t.pnl for t in made])


def _iso(ts: Any) -> list[str]:
    return [datetime.fromtimestamp(int(t) / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in ts]


def test_the_summary_table_and_the_report(
    aitp: list[str], platform: RunningPlatform, gbpusd: str, tmp_path: Path
) -> None:
    done = backtest(aitp, platform, "-s", gbpusd, *RANGE, "-g", "fast=5,10", "-g", "slow=30,60")
    assert done.returncode == 0, done.stderr
    assert "ranked by sharpe" in done.stdout
    run_id = done.stdout.split("aitp backtest report ")[1].split()[0]
    out = tmp_path / "r.html"
    made = run(aitp, platform, "backtest", "report", run_id, "--out", str(out))
    assert made.returncode == 0, made.stderr
    html = out.read_text()
    assert html.startswith("<!doctype html>")
    for part in (
        "Equity",
        "Drawdown",
        "Price and trades",
        "Monthly returns",
        "sharpe over the grid",
    ):
        assert part in html
    assert '<script src="http' not in html  # self-contained: plotly.js is inlined
    assert len(html) > 1_000_000


def test_no_wait_returns_the_run_id_and_cancel_stops_it(
    aitp: list[str], platform: RunningPlatform, gbpusd: str
) -> None:
    options = "-g fast=2:60:1 -g slow=61:120:1 --chunk-size 20 --parallel 1 --no-wait"
    done = backtest(aitp, platform, "-s", gbpusd, *RANGE, options=options)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert run_id.startswith("bt-")
    cancelled = run(aitp, platform, "backtest", "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelling {run_id}" in cancelled.stdout
    for _ in range(50):
        shown = run(aitp, platform, "backtest", "show", run_id)
        if "cancelled" in shown.stdout:
            break
        time.sleep(0.2)
    assert "cancelled" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--strategy", "nope"), "unknown strategy 'nope'; known: ma_cross, rsi_reversion"),
        (("--strategy", "ma_cross", "-g", "speed=1,2"), "ma_cross has no parameter(s) speed"),
        (("--strategy", "ma_cross", "-g", "fast"), "--grid 'fast': write NAME=V1,V2"),
        (
            ("--strategy", "ma_cross", "-g", "fast=9:1:1"),
            "write START:STOP:STEP with STOP >= START",
        ),
        (
            ("--strategy", "ma_cross", "-g", "fast=1:1000:1", "-g", "slow=1:1000:1"),
            "the grid has 1,000,000 parameter sets",
        ),
        (
            ("--strategy", "ma_cross", "--mode", "walk-forward"),
            "walk-forward needs a train and a test span",
        ),
        (
            ("--strategy", "ma_cross", "--mode", "walk-forward", "--train", "6", "--test", "1M"),
            "'6' is not a span",
        ),
        (
            ("--strategy", "ma_cross", "--from", "2012-03-01", "--to", "2012-02-01"),
            "--to must be after --from",
        ),
        (("--strategy", "ma_cross", "--ticks"), "tick-by-tick runs are replays"),
        (
            ("--strategy", "ma_cross", "--currency", "dollars"),
            "--currency: 'DOLLARS' is not a currency: three capitals",
        ),
    ],
)
def test_bad_input_says_how_to_fix_it(
    aitp: list[str], platform: RunningPlatform, args: tuple[str, ...], message: str
) -> None:
    base = {"--from": "2012-02-01", "--to": "2012-03-01"}
    extra = [a for pair in base.items() if pair[0] not in args for a in pair]
    done = run(aitp, platform, "backtest", "run", "-s", "GBPUSD", *extra, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_empty_range_says_what_data_exists(
    aitp: list[str], platform: RunningPlatform, gbpusd: str
) -> None:
    done = backtest(aitp, platform, "-s", gbpusd, "--from", "2015-01-01", "--to", "2015-02-01")
    assert done.returncode == 2
    assert "no GBPUSD M1 bars in 2015-01-01..2015-02-01; stored:" in done.stderr
    assert "2012-02-01" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_the_platform_it_says_how_to_start_it(aitp: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
    env["AITP_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [*aitp, "backtest", "run", "--strategy", "ma_cross", "-s", "EURUSD", *RANGE],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert "start the platform with `aitp up --detach`" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("answer", "status"), [("n", "running"), ("y", "cancelled")])
def test_ctrl_c_asks_whether_to_cancel_the_run(
    aitp: list[str], platform: RunningPlatform, gbpusd: str, answer: str, status: str
) -> None:
    args = ["-g", "fast=2:60:1", "-g", "slow=61:120:1", "--chunk-size", "20", "--parallel", "1"]
    proc = subprocess.Popen(
        [*aitp, "backtest", "run", "--strategy", "ma_cross", "-s", gbpusd, *RANGE, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=platform.cli_env(),
    )
    try:
        run_id = ""
        assert proc.stderr is not None
        while not run_id:  # "run <id> started (...)" once the run found its data
            line = proc.stderr.readline()
            assert line, "the command ended before the run started"
            if line.startswith("run ") and "started" in line:
                run_id = line.split()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(answer + "\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "cancel the run?" in err
    assert "Traceback" not in err
    for _ in range(50):
        shown = run(aitp, platform, "backtest", "show", run_id)
        if status in shown.stdout:
            break
        time.sleep(0.2)
    assert status in shown.stdout
    if status == "running":
        run(aitp, platform, "backtest", "cancel", run_id)


def test_several_symbols_run_one_backtest_each_ranked_together(
    aitp: list[str], platform: RunningPlatform, shared_data: Path, gbpusd: str
) -> None:
    for side in ("bid", "ask"):
        name = f"fx/USDJPY-M1-{side}-2013.csv"
        argv = ("data", "import", str(shared_data / name), "-s", "USDJPY", "--side", side)
        done = run(aitp, platform, *argv, "-k", "bars")
        assert done.returncode == 0, done.stderr
    args = ("-s", f"{gbpusd},USDJPY", "--from", "2012-02-01", "--to", "2013-03-02")
    done = backtest(aitp, platform, *args, "-g", "fast=5,10", "-p", "slow=30", "--json")
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    children = doc["children"]
    assert [c["parameters"]["symbols"] for c in children] == [["GBPUSD"], ["USDJPY"]]
    assert doc["parameters"]["symbols"] == ["GBPUSD", "USDJPY"]
    for s in doc["sets"]:
        assert s["metrics"]["symbols"] == 2
        sharpes = [
            next(c_set for c_set in c["sets"] if c_set["set_index"] == s["set_index"])["metrics"][
                "sharpe"
            ]
            for c in children
        ]
        assert s["metrics"]["sharpe"] == pytest.approx(sum(sharpes) / 2)
    assert all(c["kept"][0]["trades"] for c in children)  # each symbol's best set, in full
    shown = run(aitp, platform, "backtest", "show", doc["run_id"])
    assert "ranked by mean sharpe" in shown.stdout
    assert f"{doc['run_id']}.USDJPY" in shown.stdout
    report = run(aitp, platform, "backtest", "report", doc["run_id"])
    assert report.returncode == 1
    assert f"report one of its runs, {doc['run_id']}.GBPUSD" in report.stderr
