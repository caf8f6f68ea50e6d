"""Decisions: every `AIDecisionWorkflow` of the tenant's accounts, found through Temporal's
visibility (the same search ops use in the UI), explained from the workflow's stored result
once it has ended or from its `decision` query while it runs."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query
from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from adapters.postgres.tenant_books import TenantBooks
from api.guards import Books, Reader, Res
from api.problems import invalid
from api.resources import Resources
from api.schemas.base import Page
from api.schemas.decisions import Decision, DecisionSummary, Lineage, LineageNode, Step
from domain import lineage
from domain.clock import moment_of
from domain.ports import GraphNode
from temporal import search_attributes as sa
from temporal.decisions import DECISION_WORKFLOW, DecisionExplanation

DecisionId = Annotated[str, Path(max_length=300)]

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])

_QUOTABLE = re.compile(r"^[^'\"\\\x00-\x1f]{1,100}$")  # safe inside a visibility query's quotes
Filter = Annotated[str | None, Query(max_length=100)]


def _quoted(field: str, value: str) -> str:
    if not _QUOTABLE.match(value):
        raise invalid(field, "quotes, backslashes and control characters are not allowed", "query")
    return f"'{value}'"


CURSOR_TTL_S = 3_600


async def _remember(res: Resources, tenant_id: uuid.UUID, query: str, token: bytes) -> str:
    """A cursor for Temporal's page token: the token stays here (the server cannot tell a
    forged token from a bad request), the client gets a random name for it, bound to its
    tenant and query, valid for an hour."""
    cursor = secrets.token_urlsafe(18)
    entry = {"tenant": str(tenant_id), "query": query, "token": token.hex()}
    await res.redis.set(f"aitp:cursor:{cursor}", orjson.dumps(entry), ex=CURSOR_TTL_S)
    return cursor


async def _recall(
    res: Resources, tenant_id: uuid.UUID, query: str, cursor: str | None
) -> bytes | None:
    if cursor is None:
        return None
    raw = await res.redis.get(f"aitp:cursor:{cursor}")
    entry = orjson.loads(raw) if raw else {}
    if entry.get("tenant") != str(tenant_id) or entry.get("query") != query:
        raise invalid(
            "cursor",
            "unknown or expired (cursors last an hour); start from the first page",
            "query",
        )
    return bytes.fromhex(entry["token"])


def _summary(execution: WorkflowExecution) -> DecisionSummary:
    found = execution.typed_search_attributes
    status = execution.status
    return DecisionSummary(
        id=execution.id,
        account=found.get(sa.ACCOUNT),
        symbol=found.get(sa.SYMBOL),
        strategy=found.get(sa.STRATEGY),
        status=status.name.lower() if status else "unknown",
        verdict=found.get(sa.DECISION),
        started_at=execution.start_time,
        closed_at=execution.close_time,
    )


@router.get("", summary="Decisions of your tenant's accounts, newest first")
async def list_decisions(
    principal: Reader,
    res: Res,
    books: Books,
    account: Filter = None,
    symbol: Filter = None,
    strategy: Filter = None,
    limit: Annotated[int, Query(ge=1, le=200, description="decisions per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=100, description="`next_cursor` of the previous page")
    ] = None,
) -> Page[DecisionSummary]:
    accounts = [r["code"] for r in await books.accounts()]
    if account is not None:
        accounts = [a for a in accounts if a == account]
    if not accounts:
        await _recall(res, principal.tenant_id, "", cursor)  # a cursor cannot be this tenant's
        return Page[DecisionSummary](items=[])
    clauses = [
        f"WorkflowType = '{DECISION_WORKFLOW}'",
        f"Account IN ({', '.join(_quoted('account', a) for a in accounts)})",
    ]
    if symbol is not None:
        clauses.append(f"Symbol = {_quoted('symbol', symbol)}")
    if strategy is not None:
        clauses.append(f"Strategy = {_quoted('strategy', strategy)}")
    query = " AND ".join(clauses)
    token = await _recall(res, principal.tenant_id, query, cursor)
    found = res.temporal.list_workflows(query, page_size=limit, next_page_token=token)
    await found.fetch_next_page(page_size=limit)
    following = found.next_page_token
    return Page[DecisionSummary](
        items=[_summary(e) for e in found.current_page or []],
        next_cursor=await _remember(res, principal.tenant_id, query, following)
        if following
        else None,
    )


def _decision(workflow_id: str, explained: DecisionExplanation) -> Decision:
    r = explained.request
    return Decision(
        id=workflow_id,
        account=r.account,
        symbol=r.symbol,
        strategy=r.strategy,
        side=r.side.value,
        volume=r.volume,
        bar_time=moment_of(r.bar_ts),
        signal=r.reason,
        features=dict(r.features),
        steps=[Step(**step.model_dump()) for step in explained.steps],
        outcome=explained.outcome,
        reason=explained.reason,
        order_id=explained.client_order_id,
    )


async def _owned(
    decision_id: str, res: Res, books: TenantBooks
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
    """The decision's workflow, if it is one of the caller's tenant's (404 otherwise: another
    tenant's decision is as absent as none)."""
    handle = res.temporal.get_workflow_handle(decision_id, result_type=DecisionExplanation)
    missing = HTTPException(404, f"no decision {decision_id!r}")
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise missing from None
        raise
    account = described.typed_search_attributes.get(sa.ACCOUNT)
    if described.workflow_type != DECISION_WORKFLOW or account is None:
        raise missing
    if await books.account(account) is None:
        raise missing
    return handle, described


async def _lineage(res: Res, decision_id: str) -> Lineage:
    traced = await lineage.trace(res.graph, decision_id)

    def node(n: GraphNode | None) -> LineageNode | None:
        return None if n is None else LineageNode(key=n.key, kind=n.kind, props=dict(n.props))

    return Lineage(
        decision=node(traced.decision),
        model=node(traced.model),
        data=node(traced.data),
        order=node(traced.order),
        fills=[LineageNode(key=f.key, kind=f.kind, props=dict(f.props)) for f in traced.fills],
    )


@router.get(
    "/{decision_id}",
    summary="One decision with its explanation and lineage",
    responses={
        404: {"description": "no such decision in your tenant"},
        503: {"description": "the decision runs, and no worker answered its query"},
    },
)
async def get_decision(
    decision_id: DecisionId, principal: Reader, res: Res, books: Books
) -> Decision:
    handle, described = await _owned(decision_id, res, books)
    explained: Any
    if described.status is WorkflowExecutionStatus.COMPLETED:
        explained = await handle.result()
    else:
        try:
            explained = await handle.query(
                "decision", result_type=DecisionExplanation, rpc_timeout=timedelta(seconds=2)
            )
        except (RPCError, TimeoutError):
            raise HTTPException(
                503, "no worker answered the decision's query; try again shortly"
            ) from None
    decision = _decision(decision_id, explained)
    return decision.model_copy(update={"lineage": await _lineage(res, decision_id)})


@router.get(
    "/{decision_id}/lineage",
    summary="Where the decision came from and what it led to: market data -> model version "
    "-> decision -> order -> fills",
    responses={404: {"description": "no such decision in your tenant"}},
)
async def get_lineage(
    decision_id: DecisionId, principal: Reader, res: Res, books: Books
) -> Lineage:
    await _owned(decision_id, res, books)
    return await _lineage(res, decision_id)
