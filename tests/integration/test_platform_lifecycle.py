"""`aitp up / status / down` as ops use them, on a platform of its own (not the shared fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psutil
import pytest
import redis

from embedded.process import free_port, port_open
from tests.conftest import RunningPlatform

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITP_")}
    env["AITP_DATA_DIR"] = str(tmp_path / "data")
    env["AITP_TEMPORAL__PORT"] = str(free_port())
    env["AITP_TEMPORAL__UI_PORT"] = str(free_port())
    yield env
    subprocess.run([_aitp(), "down"], env=env, capture_output=True, timeout=120)


def _aitp() -> str:
    return str(Path(sys.executable).parent / "aitp")


def aitp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_aitp(), *args], env=env, capture_output=True, text=True, timeout=180)


def status(env: dict[str, str]) -> tuple[int, dict[str, dict[str, object]]]:
    done = aitp(env, "status", "--json")
    rows = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, {r["name"]: r for r in rows}


def test_up_status_down_twice_and_after_a_crash(env: dict[str, str], shared_data: Path) -> None:
    code, before = status(env)
    assert code != 0
    assert all(r["status"] == "down: not started" for r in before.values())

    first = aitp(env, "up", "--detach")
    assert first.returncode == 0, first.stderr
    code, up = status(env)
    assert code == 0, up
    assert set(up) == {
        "postgres",
        "redis",
        "clickhouse",
        "temporal",
        "api",
        "hotpath",
        "worker",
        "bridge",
        "research",
    }
    assert all(r["status"] == "up" and isinstance(r["pid"], int) for r in up.values())
    temporal_port = int(env["AITP_TEMPORAL__PORT"])
    ui_port = int(env["AITP_TEMPORAL__UI_PORT"])
    assert port_open("127.0.0.1", temporal_port)
    assert port_open("127.0.0.1", ui_port)

    # traders get a working API, its documentation included
    api_url = str(up["api"]["address"]).split(" ")[0]
    assert httpx.get(f"{api_url}/readyz", timeout=5).json()["status"] == "ready"
    assert httpx.get(f"{api_url}/docs", timeout=5).status_code == 200

    # the demo account trades live: its hot path publishes quotes on the bus
    redis_url = up["redis"]["address"]
    assert isinstance(redis_url, str)
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not client.xlen("events:demo"):
        time.sleep(0.2)
    assert client.xlen("events:demo") > 0
    client.close()

    again = aitp(env, "up", "--detach")
    assert again.returncode == 0
    assert "already up" in again.stdout
    _, same = status(env)
    assert {n: r["pid"] for n, r in same.items()} == {n: r["pid"] for n, r in up.items()}

    imported = aitp(
        env,
        "data",
        "import",
        str(shared_data / "fx/GBPUSD-M1-bid-2012-02.csv"),
        "-s",
        "GBPUSD",
        "-k",
        "bars",
    )
    assert imported.returncode == 0, imported.stderr

    victim = int(up["redis"]["pid"])  # type: ignore[call-overload]
    os.kill(victim, signal.SIGKILL)
    gone_by = time.monotonic() + 10
    while psutil.pid_exists(victim) and psutil.Process(victim).status() != "zombie":
        assert time.monotonic() < gone_by
        time.sleep(0.05)
    code, crashed = status(env)
    assert code != 0
    assert crashed["redis"]["status"] == f"down: process {victim} is not running"
    assert crashed["postgres"]["status"] == "up"

    restarted = aitp(env, "up", "--detach")
    assert restarted.returncode == 0, restarted.stderr
    code, healed = status(env)
    assert code == 0
    assert healed["redis"]["pid"] != victim
    assert healed["postgres"]["pid"] == up["postgres"]["pid"]

    # Temporal killed: restarted, and what only waited for it (the workers, the API) kept
    temporal = int(up["temporal"]["pid"])  # type: ignore[call-overload]
    os.kill(temporal, signal.SIGKILL)
    while psutil.pid_exists(temporal) and psutil.Process(temporal).status() != "zombie":
        time.sleep(0.05)
    rejoined = aitp(env, "up", "--detach")
    assert rejoined.returncode == 0, rejoined.stderr
    assert "worker: answers again" in rejoined.stderr, rejoined.stderr
    code, healed = status(env)
    assert code == 0, healed
    assert healed["temporal"]["pid"] != temporal
    for kept in ("worker", "research", "api"):
        assert healed[kept]["pid"] == up[kept]["pid"], kept

    down = aitp(env, "down")
    assert down.returncode == 0
    for pid in (r["pid"] for r in healed.values()):
        assert not psutil.pid_exists(int(pid)) or psutil.Process(int(pid)).status() == "zombie"  # type: ignore[call-overload]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and port_open("127.0.0.1", temporal_port):
        time.sleep(0.2)
    assert not port_open("127.0.0.1", temporal_port)
    assert not port_open("127.0.0.1", ui_port)
    assert aitp(env, "down").stdout.strip() == "nothing was running"

    # data survives down + up
    assert aitp(env, "up", "--detach").returncode == 0
    listed = aitp(env, "data", "list")
    assert "30,117" in listed.stdout


def test_foreground_up_stops_every_child_on_ctrl_c(env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [_aitp(), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        code, rows = status(env)
        while code != 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            code, rows = status(env)
        assert code == 0, rows
        pids = [int(r["pid"]) for r in rows.values()]  # type: ignore[call-overload]

        # a child that dies is restarted by the foreground supervisor
        os.kill(int(rows["clickhouse"]["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            code, healed = status(env)
            if code == 0 and healed["clickhouse"]["pid"] != rows["clickhouse"]["pid"]:
                break
        assert code == 0
        assert healed["clickhouse"]["pid"] != rows["clickhouse"]["pid"]
        pids.append(int(healed["clickhouse"]["pid"]))  # type: ignore[call-overload]

        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stores_given_by_url_are_checked_not_started(
    env: dict[str, str], platform: RunningPlatform
) -> None:
    # the session platform's servers stand in for production servers
    env = {
        **env,
        "AITP_POSTGRES__URL": platform.postgres_url,
        "AITP_REDIS__URL": platform.redis_url,
    }
    started = aitp(env, "up", "--detach")
    assert started.returncode == 0, started.stderr
    code, rows = status(env)
    assert code == 0
    assert rows["postgres"]["external"] is True
    assert rows["postgres"]["pid"] is None
    assert rows["redis"]["address"] == platform.redis_url
    assert isinstance(rows["temporal"]["pid"], int)
    assert aitp(env, "down").stdout.startswith(
        "stopped bridge, worker, hotpath, research, api, temporal, clickhouse;"
    )
    _, after = status(env)
    assert after["redis"]["status"] == "up"  # not ours to stop


def test_an_unreachable_production_server_fails_up_with_its_name(env: dict[str, str]) -> None:
    env = {**env, "AITP_REDIS__URL": "redis://127.0.0.1:1/0"}
    done = aitp(env, "up", "--detach")
    assert done.returncode == 1
    assert "redis (redis://127.0.0.1:1/0) is down" in done.stderr
    assert "Traceback" not in done.stderr
    _, rows = status(env)
    assert rows["temporal"]["status"] == "down: not started"
