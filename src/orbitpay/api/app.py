"""The FastAPI application factory.

``create_app`` takes its dependencies explicitly (settings, engine, cache) so
tests and ``orbitpay up`` can share one engine with the indexer; with none
given, the lifespan builds them from settings. The lifespan also opens the
API's read pool (on the engine's database; it connects on the first read, so
the API starts while the database is down) and closes it on shutdown.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay import __version__
from orbitpay.api.auth import read_access
from orbitpay.api.deps import AppResources
from orbitpay.api.errors import ERROR_RESPONSES, install_error_handlers
from orbitpay.api.middleware import MetricsMiddleware, RateLimitMiddleware, Scope
from orbitpay.api.routers import admin, health
from orbitpay.cache import Cache, RedisBackend, create_cache
from orbitpay.config import Settings
from orbitpay.db.engine import create_engine
from orbitpay.db.readpool import read_pool
from orbitpay.security.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter

DESCRIPTION = """\
Payment history, vesting, governance and analytics for the OrbitPay Soroban
contracts, indexed from Stellar. Amounts are decimal strings of token base
units; times are ISO-8601 UTC; lists page with an opaque `cursor`.
"""


def _limiter(settings: Settings, cache: Cache) -> RateLimiter:
    """Redis-backed when the cache is (shared across workers), else in-process."""
    limit, window = settings.rate
    if isinstance(cache.backend, RedisBackend):
        return RedisRateLimiter(cache.backend.client, limit, window)
    return MemoryRateLimiter(limit, window)


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
        if engine is not None:
            the_engine = engine
        elif url is not None:
            the_engine = create_engine(url)
        else:
            raise RuntimeError("create_app needs an engine or a database URL")
        the_cache = cache or create_cache(settings.redis_url)
        reads = read_pool(the_engine.url, settings.api_read_connections)
        app.state.resources = AppResources(
            settings=settings, engine=the_engine, cache=the_cache, reads=reads, indexer=indexer
        )
        app.state.limiter = _limiter(settings, the_cache)
        # Everything alive now (modules, routes, pydantic validators: ~160k objects) lives
        # as long as the process: keep it out of the collector's full passes, which
        # otherwise stop every in-flight request for ~100 ms now and then (the p99).
        gc.freeze()
        try:
            yield
        finally:
            await reads.close()
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
        dependencies=[Depends(read_access)],
    )
    install_error_handlers(app)

    def limiter_for(scope: Scope) -> RateLimiter | None:
        return getattr(scope["app"].state, "limiter", None)

    app.add_middleware(RateLimitMiddleware, limiter_factory=limiter_for)
    app.add_middleware(MetricsMiddleware)
    app.include_router(health.router)
    app.include_router(admin.router)
    from orbitpay.api import routes

    routes.include_all(app)
    return app
