"""The FastAPI application factory.

``create_app`` takes its dependencies explicitly (settings, engine, cache) so
tests and ``orbitpay up`` can share one engine with the indexer; with none
given, the lifespan builds them from settings.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from orbitpay import __version__
from orbitpay.api.deps import AppResources
from orbitpay.api.errors import ERROR_RESPONSES, install_error_handlers
from orbitpay.api.routers import health
from orbitpay.cache import Cache, create_cache
from orbitpay.config import Settings
from orbitpay.db.engine import create_engine
from orbitpay.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

DESCRIPTION = """\
Payment history, vesting, governance and analytics for the OrbitPay Soroban
contracts, indexed from Stellar. Amounts are decimal strings of token base
units; times are ISO-8601 UTC; lists page with an opaque `cursor`.
"""


class MetricsMiddleware(BaseHTTPMiddleware):
    """Counts requests by route template (not raw path, to bound label cardinality)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        HTTP_LATENCY.labels(template).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(template, request.method, str(response.status_code)).inc()
        return response


def create_app(
    settings: Settings,
    *,
    database_url: str | None = None,
    engine: AsyncEngine | None = None,
    cache: Cache | None = None,
    indexer: object | None = None,
) -> FastAPI:
    """Build the API. Pass ``engine`` to share a pool, or ``database_url`` to own one."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_engine = engine is None
        url = database_url or settings.database_url
        if engine is None and url is None:
            raise RuntimeError("create_app needs an engine or a database URL")
        the_engine = engine or create_engine(url)  # type: ignore[arg-type]
        the_cache = cache or create_cache(settings.redis_url)
        app.state.resources = AppResources(
            settings=settings, engine=the_engine, cache=the_cache, indexer=indexer
        )
        try:
            yield
        finally:
            if cache is None:
                await the_cache.close()
            if owned_engine:
                await the_engine.dispose()

    app = FastAPI(
        title="OrbitPay Indexer API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.include_router(health.router)
    from orbitpay.api import routes

    routes.include_all(app)
    return app
