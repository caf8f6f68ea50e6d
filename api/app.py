"""The trader API's application factory. Importing this module connects to nothing: the
lifespan opens PostgreSQL, Redis and Temporal when the server starts and closes them when it
stops, so tests and `aitp up` build as many apps as they like."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import health, metrics, problems
from api.edge import Edge
from api.metrics import ApiMetrics, MetricsMiddleware, ResourcesCollector
from api.resources import Resources
from api.routes import accounts, auth, backtests, decisions, market, orders, strategies, ws
from config.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resources = await Resources.open(settings)
        try:
            yield
        finally:
            await app.state.resources.close()

    app = FastAPI(
        title="AI Trading Platform",
        version="1",
        lifespan=lifespan,
        description="Accounts, orders, fills, positions, decisions, market data and "
        "backtests, for traders and their programs.",
    )
    problems.install(app)
    app.state.metrics = ApiMetrics()
    app.state.metrics.registry.register(ResourcesCollector(app))
    if settings.api.edge:
        app.add_middleware(Edge)  # added first, so it runs inside the metrics
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(auth.router)
    app.include_router(accounts.router)
    app.include_router(orders.router)
    app.include_router(strategies.router)
    app.include_router(market.router)
    app.include_router(decisions.router)
    app.include_router(backtests.router)
    app.include_router(ws.router)
    return app
