"""The gateway's edge: the read traders poll most, answered before FastAPI routes it.

For GET /v1/positions, FastAPI's routing (each route pattern tried in turn) and its
per-request dependency solving cost more CPU than the answer itself, a document kept in
memory (`api.positions_view`). The edge answers that one read in plain ASGI by calling the
same pieces FastAPI would: the bearer scheme, `authenticate`, `admit` with the route's
permission, and the route's own endpoint, `list_positions`; only the routing and the
dependency graph are skipped. Every other request goes to FastAPI untouched, and with
`AITP_API__EDGE=false` so does this one: tests hold both ways to the same answers.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.guards import admit, authenticate, bearer_scheme, resources
from api.problems import problem
from api.routes.accounts import list_positions, router
from api.security.principal import Permission


def _route_of(endpoint: object) -> BaseRoute:
    for route in router.routes:
        if getattr(route, "endpoint", None) is endpoint:
            return route
    raise LookupError(f"{endpoint!r} is not a route of api.routes.accounts")


class Edge:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._positions = _route_of(list_positions)
        self._path = getattr(self._positions, "path", "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self._serves(scope):
            await self.app(scope, receive, send)
            return
        scope["route"] = self._positions  # counted in /metrics under its template
        request = Request(scope, receive)
        res = await resources(request)
        try:
            principal = await authenticate(res, await bearer_scheme(request))
            verdict = await admit(res, principal, Permission.READ)
        except HTTPException as exc:
            refusal = problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
            await refusal(scope, receive, send)
            return
        headers = Response(headers=verdict.headers())  # as FastAPI hands it to a route:
        del headers.headers["content-length"]  # bodiless, carrying the dependencies' headers
        answer = await list_positions(principal, res, headers, request.query_params.get("account"))
        await answer(scope, receive, send)

    def _serves(self, scope: Scope) -> bool:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return path == self._path
