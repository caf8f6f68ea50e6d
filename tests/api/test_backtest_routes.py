"""Backtests through the API: the same workflow the CLI starts, run by the platform's
research worker on bars in the platform's store; results best first, tenant-scoped, bad
input a 422 naming the field."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.conftest import backtest_body, bearer


async def finished(client: httpx.AsyncClient, run_id: str, headers: dict[str, str]) -> Any:
    for _ in range(300):
        got = await client.get(f"/v1/backtests/{run_id}", headers=headers)
        assert got.status_code == 200, got.text
        if got.json()["status"] != "running":
            return got.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run_id} still runs after 30 s")


async def test_a_trader_launches_a_sweep_and_reads_its_ranked_sets(
    app_client: httpx.AsyncClient, tokens: dict[tuple[str, str], str], backtest_symbol: str
) -> None:
    trader, viewer = bearer(tokens["a", "trader"]), bearer(tokens["a", "viewer"])
    body = backtest_body(backtest_symbol, grid={"fast": [2, 3, 5], "slow": [20, 30]}, params={})
    launched = await app_client.post("/v1/backtests", json=body, headers=trader)
    assert launched.status_code == 202, launched.text
    run = launched.json()
    assert (run["symbol"], run["mode"], run["metric"]) == (backtest_symbol, "sweep", "sharpe")
    done = await finished(app_client, run["id"], viewer)
    assert done["status"] == "completed"
    assert done["grid"] == {"fast": [2, 3, 5], "slow": [20, 30]}
    assert [e["rank"] for e in done["top"]] == [1, 2, 3, 4, 5, 6]
    sharpes = [e["metrics"]["sharpe"] for e in done["top"] if e["metrics"]["sharpe"] is not None]
    assert sharpes == sorted(sharpes, reverse=True)
    assert done["summary"]["best"] == done["top"][0]["metrics"]
    listed = await app_client.get("/v1/backtests", headers=viewer)
    assert run["id"] in [r["id"] for r in listed.json()]
    other = await app_client.get("/v1/backtests", headers=bearer(tokens["b", "admin"]))
    assert run["id"] not in [r["id"] for r in other.json()]
    again = await app_client.post(f"/v1/backtests/{run['id']}/cancel", headers=trader)
    assert again.json() == {"id": run["id"], "cancelling": False}


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"strategy": "nope"}, "strategy", "unknown strategy 'nope'"),
        ({"grid": {"speed": [1]}}, "grid", "ma_cross has no parameter(s) speed"),
        ({"metric": "luck"}, "metric", "unknown metric 'luck'"),
        ({"mode": "walk-forward"}, "body", "walk-forward needs a train and a test span"),
        ({"tenant": "b"}, "tenant", "Extra inputs are not permitted"),
        (
            {"grid": {"fast": list(range(1, 400)), "slow": list(range(400, 700))}, "params": {}},
            "grid",
            "119,700 parameter sets; at most 100,000",
        ),
        ({"start": "2030-01-01T00:00:00Z", "end": "2030-02-01T00:00:00Z"}, "start", "stored:"),
        ({"symbols": ["NZDUSD", "AUDCAD"]}, "start", "no AUDCAD M1 bars"),
        ({"symbols": ["NZDUSD", "NZDUSD"]}, "symbols", "NZDUSD given more than once"),
        ({"symbol": None}, "body", "give symbol, or symbols"),
        ({"currency": "usd"}, "currency", "String should match pattern"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    app_client: httpx.AsyncClient,
    tokens: dict[tuple[str, str], str],
    backtest_symbol: str,
    fields: dict[str, Any],
    field: str,
    message: str,
) -> None:
    body = {**backtest_body(backtest_symbol), **fields}
    refused = await app_client.post(
        "/v1/backtests", json=body, headers=bearer(tokens["a", "trader"])
    )
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["errors"][0]["field"] == field, problem
    assert message in refused.text
