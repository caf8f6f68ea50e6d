"""`aitp model` as a quant types it, against the running embedded platform (its research
worker included), on GBPUSD bars imported with `aitp data import`."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from adapters.files.market_files import read_market_file
from config.settings import TemporalSettings
from domain.market_data import SeriesKind
from ml.patterns import history
from temporal.client import connect
from tests.conftest import RunningPlatform
from tests.integration.test_cli_backtest import RANGE, run

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

SMALL = ("-k", "xgboost,lightgbm", "-p", "xgboost.rounds=20", "-p", "lightgbm.rounds=20")


@pytest.fixture(scope="module")
def gbpusd(aitp: list[str], platform: RunningPlatform, shared_data: Path) -> str:
    for side in ("bid", "ask"):
        name = f"fx/GBPUSD-M1-{side}-2012-02.csv"
        done = run(aitp, platform, "data", "import", str(shared_data / name), "-s", "GBPUSD",
                   "-k", "bars", "--side", side)  # fmt: skip
        assert done.returncode == 0, done.stderr
    return "GBPUSD"


def model(
    aitp: list[str], platform: RunningPlatform, *args: str
) -> subprocess.CompletedProcess[str]:
    return run(aitp, platform, "model", *args, timeout=300)


def train(aitp: list[str], platform: RunningPlatform, symbol: str) -> dict[str, object]:
    done = model(aitp, platform, "train", "-s", symbol, *RANGE, *SMALL, "--folds", "2", "--json")
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = orjson.loads(done.stdout)
    return document


def test_train_promote_and_roll_back_through_the_registry(
    aitp: list[str], platform: RunningPlatform, gbpusd: str
) -> None:
    first = train(aitp, platform, gbpusd)
    assert first["name"] == "GBPUSD-M1"
    assert len(first["folds"]) == 2  # type: ignore[arg-type]
    assert {"log_loss", "auc"} <= set(first["scores"])  # type: ignore[arg-type]
    second = train(aitp, platform, gbpusd)
    assert second["version"] == first["version"] + 1  # type: ignore[operator]

    listed = model(aitp, platform, "list", "GBPUSD-M1", "--json")
    rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert [r["version"] for r in rows[:2]] == [second["version"], first["version"]]
    assert {r["status"] for r in rows[:2]} == {"candidate"}
    assert rows[0]["kinds"] == ["xgboost", "lightgbm"]

    v1, v2 = str(first["version"]), str(second["version"])
    done = model(aitp, platform, "promote", "GBPUSD-M1", v1, "--reason", "first")
    assert done.returncode == 0, done.stderr
    done = model(aitp, platform, "promote", "GBPUSD-M1", v2)
    assert f"GBPUSD-M1 v{v2} is the champion (was v{v1})" in done.stdout
    shown = orjson.loads(model(aitp, platform, "show", "GBPUSD-M1", "--json").stdout)
    assert (shown["version"], shown["status"]) == (second["version"], "champion")
    assert Path(shown["artifact"]).is_relative_to(platform.settings.data_dir / "models")
    done = model(aitp, platform, "rollback", "GBPUSD-M1", "--reason", "drift")
    assert f"GBPUSD-M1 v{v1} is the champion again" in done.stdout
    human = model(aitp, platform, "show", "GBPUSD-M1")
    assert f"GBPUSD-M1 v{v1}  champion" in human.stdout
    assert "log_loss" in human.stdout


def test_bad_input_says_how_to_fix_it(
    aitp: list[str], platform: RunningPlatform, gbpusd: str
) -> None:
    cases = [
        (("train", "-s", gbpusd, *RANGE, "-k", "xgboost,svm"), "--kinds: Value error, unknown"),
        (("train", "-s", gbpusd, *RANGE, "-p", "rounds=3"), "write KIND.NAME=VALUE"),
        (("train", "-s", gbpusd, *RANGE, "-k", "xgboost", "-p", "cnn.epochs=1"),
         "parameters for kinds not trained: cnn"),
        (("train", "-s", gbpusd, "--from", "2012-03-01", "--to", "2012-02-01"),
         "--to must be after --from"),
        (("promote", "GBPUSD-M1", "999"), "GBPUSD-M1 has no version 999"),
        (("rollback", "EURCHF-M1"), "EURCHF-M1 has no champion to roll back"),
        (("schedule", "-s", gbpusd, "--every", "soon"), "is not an interval"),
        (("schedule", "-s", gbpusd, "--metric", "sharpe"), "unknown metric 'sharpe'"),
    ]  # fmt: skip
    for args, message in cases:
        done = model(aitp, platform, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message.replace("Value error, ", "") in done.stderr.replace("\n", " "), done.stderr
        assert "Traceback" not in done.stderr
    done = model(aitp, platform, "train", "-s", gbpusd, "--from", "2015-01-01", "--to",
                 "2015-02-01", *SMALL)  # fmt: skip
    assert done.returncode == 1
    assert "no GBPUSD M1 bars in 2015-01-01..2015-02-01; stored: M1" in done.stderr


def test_schedule_creates_then_updates_one_retraining_schedule(
    aitp: list[str], platform: RunningPlatform, gbpusd: str
) -> None:
    done = model(aitp, platform, "schedule", "-s", gbpusd, "--every", "1d", "--margin", "0.01")
    assert "created schedule retrain-GBPUSD-M1: every 1d" in done.stdout, done.stderr
    done = model(aitp, platform, "schedule", "-s", gbpusd, "--cron", "0 2 * * 1-5")
    assert "updated schedule retrain-GBPUSD-M1" in done.stdout, done.stderr

    async def described() -> tuple[object, object, object]:
        client = await connect(platform.temporal_address, TemporalSettings())
        handle = client.get_schedule_handle("retrain-GBPUSD-M1")
        found = await handle.describe()
        await handle.delete()
        return found.schedule.action, found.schedule.policy, found.schedule.spec

    action, policy, spec = asyncio.run(described())
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "ModelRetrainingWorkflow"
    assert policy.overlap is ScheduleOverlapPolicy.SKIP  # type: ignore[attr-defined]
    assert policy.catchup_window == timedelta(hours=6)  # type: ignore[attr-defined]
    assert len(spec.calendars) == 1  # type: ignore[attr-defined]


def test_patterns_indexes_every_window_of_the_range(
    aitp: list[str], platform: RunningPlatform, gbpusd: str, shared_data: Path
) -> None:
    done = model(aitp, platform, "patterns", "-s", gbpusd, *RANGE, "--step", "5")
    assert done.returncode == 0, done.stderr
    bars = read_market_file(shared_data / "fx/GBPUSD-M1-bid-2012-02.csv", SeriesKind.BARS).frame
    bars = bars.filter(pl.col("ts") < datetime(2012, 3, 1, tzinfo=UTC))  # --to is excluded
    expected = history(bars["ts"].dt.epoch("ns").to_numpy(), bars["close"].to_numpy(), 30, 5)
    assert f"indexed {len(expected.ts):,} windows of GBPUSD M1" in done.stdout
    assert "into patterns_gbpusd_m1" in done.stdout
    empty = model(aitp, platform, "patterns", "-s", "EURCHF", *RANGE)
    assert empty.returncode == 1
    assert "no EURCHF M1 bars" in empty.stderr


def test_without_a_range_training_takes_every_stored_bar(
    aitp: list[str], platform: RunningPlatform, gbpusd: str
) -> None:
    done = model(aitp, platform, "train", "-s", gbpusd, "-k", "lightgbm", "-p",
                 "lightgbm.rounds=10", "--folds", "1", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    version = str(orjson.loads(done.stdout)["version"])
    shown = orjson.loads(model(aitp, platform, "show", "GBPUSD-M1", version, "--json").stdout)
    assert shown["data_from"] == "2012-02-01"
    assert shown["data_to"] == "2012-02-29"  # the last bar whose label the data can tell
