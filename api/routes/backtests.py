"""Backtests: launch a run (a `BacktestWorkflow` on the research queue), follow it, read its
best parameter sets, cancel it. Runs belong to the caller's tenant: the data layer scopes
every read, and another tenant's run is a 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import ValidationError

from adapters.postgres.backtests import PostgresBacktestRuns
from api.guards import Reader, Res, require
from api.problems import invalid
from api.schemas.backtests import (
    MAX_SETS,
    BacktestDetail,
    BacktestLaunch,
    BacktestProgress,
    BacktestRun,
    Cancelling,
    Evaluation,
)
from api.security.principal import Permission, Principal
from domain.clock import ns_of
from temporal.backtest_client import (
    BacktestNotFoundError,
    BacktestRefusedError,
    backtest_progress,
    cancel_backtest,
    start_backtest,
)
from temporal.backtests import TOP, BacktestRequest, new_run_id

router = APIRouter(prefix="/v1/backtests", tags=["backtests"])
Launcher = Annotated[Principal, Depends(require(Permission.TRADE))]
RunId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
_FIELDS = {"start_ns": "start", "end_ns": "end"}


def _request(body: BacktestLaunch, tenant: str) -> BacktestRequest:
    fields = {k: v for k, v in body.model_dump().items() if v is not None}
    start, end = fields.pop("start"), fields.pop("end")
    try:
        return BacktestRequest.model_validate(
            {
                **fields,
                "run_id": new_run_id(),
                "tenant": tenant,
                "start_ns": ns_of(start),
                "end_ns": ns_of(end),
            }
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise invalid(_FIELDS.get(field, field), message) from None


def _run(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["run_id"],
        "strategy": row["strategy"],
        "symbol": row["symbol"],
        "timeframe": row["timeframe"],
        "mode": row["mode"],
        "metric": row["metric"],
        "start": row["date_from"],
        "end": row["date_to"],
        "status": row["status"],
        "summary": row["metrics"],
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
    }


@router.post(
    "",
    status_code=202,
    summary="Launch a backtest (sweep, replay or walk-forward) on stored bars",
    responses={422: {"description": "bad parameters, or no bars in the range"}},
)
async def launch(body: BacktestLaunch, principal: Launcher, res: Res) -> BacktestRun:
    request = _request(body, principal.tenant)
    if request.sets > MAX_SETS:
        raise invalid(
            "grid",
            f"{request.sets:,} parameter sets; at most {MAX_SETS:,} through the API "
            "(larger grids: aitp backtest run --yes)",
        )
    try:
        await start_backtest(res.temporal, request)
    except BacktestRefusedError as exc:
        raise invalid("start", str(exc)) from None
    found = await PostgresBacktestRuns(res.pool).run(request.run_id, principal.tenant)
    if found is None:  # planning outlived the wait: the run exists, its row follows
        raise HTTPException(503, f"{request.run_id} started but is not recorded yet")
    return BacktestRun(**_run(found))


@router.get("", summary="Your tenant's backtests, newest first")
async def list_backtests(
    principal: Reader,
    res: Res,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[BacktestRun]:
    rows = await PostgresBacktestRuns(res.pool).runs(principal.tenant, limit)
    return [BacktestRun(**_run(r)) for r in rows]


@router.get(
    "/{run_id}",
    summary="One backtest: progress while it runs, its best parameter sets",
    responses={404: {"description": "no such backtest in your tenant"}},
)
async def get_backtest(run_id: RunId, principal: Reader, res: Res) -> BacktestDetail:
    runs = PostgresBacktestRuns(res.pool)
    found = await runs.run(run_id, principal.tenant)
    if found is None:
        raise HTTPException(404, f"no backtest {run_id!r}")
    progress = None
    if found["status"] == "running":
        try:
            p = await backtest_progress(res.temporal, run_id)
            progress = BacktestProgress(phase=p.phase, done=p.done, total=p.total, eta_s=p.eta_s)
        except Exception:  # no worker answers right now: the stored state still stands
            progress = None
    request = BacktestRequest.model_validate(found["request"])
    top = await runs.results(run_id, limit=TOP)
    return BacktestDetail(
        **_run(found),
        grid=request.grid,
        params=request.params,
        progress=progress,
        top=[Evaluation(**r) for r in top],
    )


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    summary="Cancel a running backtest: its activities stop at their next set",
    responses={404: {"description": "no such backtest in your tenant"}},
)
async def cancel(run_id: RunId, principal: Launcher, res: Res) -> Cancelling:
    found = await PostgresBacktestRuns(res.pool).run(run_id, principal.tenant)
    if found is None:
        raise HTTPException(404, f"no backtest {run_id!r}")
    if found["status"] != "running":  # its results are in: the workflow may take a moment to close
        return Cancelling(id=run_id, cancelling=False)
    try:
        cancelling = await cancel_backtest(res.temporal, run_id)
    except BacktestNotFoundError:
        raise HTTPException(404, f"no backtest {run_id!r}") from None
    return Cancelling(id=run_id, cancelling=cancelling)
