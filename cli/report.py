"""`aitp backtest report`: gathers a finished run from PostgreSQL and ClickHouse and writes
the page `research.report` draws."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import polars as pl

from cli.output import CliError
from cli.stores import backtest_archive, market_data
from config.settings import Settings
from domain.market_data import PriceSide, Timeframe
from research.report import ReportData, render
from temporal import backtests as bt


def write_report(settings: Settings, run_id: str, path: Path) -> Path:
    from cli.backtest import with_backtest_runs

    async def fetch(runs: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        return await runs.run(run_id), await runs.results(run_id)

    found, results = asyncio.run(with_backtest_runs(settings, fetch))
    if found is None:
        raise CliError(f"no backtest {run_id}; `aitp backtest list` shows the runs")
    if found["status"] != "completed":
        raise CliError(f"{run_id} is {found['status']}; a report needs a completed run")
    request = bt.BacktestRequest.model_validate(found["request"])
    if request.batch:
        runs = " or ".join(bt.child_run_id(run_id, s) for s in request.symbols[:2])
        raise CliError(f"{run_id} is a run over several symbols: report one of its runs, {runs}")
    summary = found.get("metrics") or {}
    if request.mode == "walk-forward":
        key, shown, what = bt.OOS_KEY, summary.get("out_of_sample") or {}, "out of sample, stitched"
    else:
        if not results:
            raise CliError(f"{run_id} has no evaluated parameter set to show")
        best = results[0]
        key = bt.set_key(bt.SWEEP_SCOPE, best["set_index"])
        shown, what = best["metrics"], f"best set {best['params']}"
    with backtest_archive(settings) as archive:
        equity = archive.equity(run_id, key)
        trades = archive.trades(run_id, key)
    if equity.height == 0:
        raise CliError(f"{run_id}: no equity curve archived for {key}")
    with market_data(settings) as store:
        bars = store.read_bars(
            request.symbol,
            Timeframe(request.timeframe),
            PriceSide.BID,
            request.start_ns,
            request.end_ns,
        )
    data = ReportData(
        title=f"{run_id}: {request.strategy} {request.symbol} {request.timeframe} {request.mode}",
        subtitle=f"{what}; ranked by {request.metric}",
        metric=request.metric,
        equity=equity,
        prices=bars.select("ts", "close")
        if bars.height
        else pl.DataFrame(schema={"ts": pl.Datetime("ns", "UTC"), "close": pl.Float64}),
        trades=trades,
        results=results,
        axes=list(request.grid),
        summary={k: shown.get(k) for k in ("total_return", "sharpe", "max_drawdown", "trades")},
    )
    path.write_text(render(data), encoding="utf-8")
    return path
