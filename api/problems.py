"""Every error a client sees is an RFC 9457 problem document, and none carries a traceback.

Validation errors name the field (`errors[].field`, dotted, without the `body.` prefix a
client never wrote); a store that cannot be reached is a 503 with `Retry-After` naming the
dependency (`redis`, `postgres`, `temporal`), so a client knows to try again and that nothing
was done; anything else unexpected is logged with its traceback here and answered as a bare
500 with an id to quote to support.
"""

from __future__ import annotations

import traceback
import uuid
from http import HTTPStatus
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from domain.ports import BooksUnavailableError, BusUnavailableError

PROBLEM = "application/problem+json"
log = structlog.get_logger("aitp.api")


def problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def invalid(field: str, message: str, location: str = "body") -> RequestValidationError:
    """A 422 naming `field`, for checks that span fields and so cannot live in one schema."""
    return RequestValidationError(
        [{"loc": (location, field), "msg": message, "type": "value_error"}]
    )


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
        for e in exc.errors()
    ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem(422, f"invalid input: {fields}", errors=errors)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


RETRY_AFTER_S = 5
_TEMPORAL_AWAY = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
_POSTGRES_AWAY = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
)


def _raised_in(exc: BaseException, package: str) -> bool:
    """Whether a frame of `package` raised it: a refused socket says nothing of whose it was."""
    return any(
        frame.f_globals.get("__name__", "").startswith(package)
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def dependency_of(exc: BaseException) -> str | None:
    """The store a failure says cannot be reached now, looking through what caused it."""
    seen: BaseException | None = exc
    for _ in range(6):  # the cause chain, short
        if seen is None:
            return None
        if isinstance(seen, BusUnavailableError | RedisConnectionError | RedisTimeoutError):
            return "redis"
        if isinstance(seen, (BooksUnavailableError, *_POSTGRES_AWAY)):
            return "postgres"
        if isinstance(seen, OSError | TimeoutError) and _raised_in(seen, "asyncpg"):
            return "postgres"  # refused, reset or timed out on the way to PostgreSQL
        if isinstance(seen, RPCError) and seen.status in _TEMPORAL_AWAY:
            return "temporal"
        seen = seen.__cause__ or seen.__context__
    return None


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    dependency = dependency_of(exc)
    if dependency is not None:
        log.warning("dependency unavailable", dependency=dependency, path=request.url.path)
        return problem(
            503,
            f"{dependency} is unavailable; retry in {RETRY_AFTER_S} s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            dependency=dependency,
        )
    incident = uuid.uuid4().hex
    log.error("unhandled error", incident=incident, path=request.url.path, exc_info=exc)
    return problem(500, "an internal error occurred", incident=incident)


_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "incident": {"type": "string", "description": "quote it to support (500s)"},
        "dependency": {"type": "string", "description": "the store that is away (503s)"},
        "errors": {
            "type": "array",
            "description": "each invalid field (422s)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_STANDARD = {
    "401": "not authenticated, or the credential is expired or revoked",
    "403": "authenticated, but not allowed",
    "422": "invalid input; `errors` names each field",
    "429": "rate limited; see Retry-After",
    "503": "a store is away (`dependency` names it); see Retry-After",
}


def _document(app: FastAPI) -> None:
    """The OpenAPI document tells the truth about errors: every one is a Problem, and the
    422s are not FastAPI's default shape."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                secured = bool(operation.get("security"))
                for code, described in _STANDARD.items():
                    if code in responses or (secured and code != "422"):
                        entry = responses.setdefault(code, {"description": described})
                        entry["content"] = content
                for code, entry in responses.items():
                    if code.startswith(("4", "5")):
                        entry["content"] = content
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    _document(app)
