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
from orbitpay.api.middleware import (
    ClientAddressMiddleware,
    InputGuardMiddleware,
    Limiters,
    MetricsMiddleware,
    RateLimitMiddleware,
    Scope,
)
from orbitpay.api.routers import admin, health
from orbitpay.api.streaming import StreamSlots
from orbitpay.cache import Cache, RedisBackend, create_cache
from orbitpay.config import Settings
from orbitpay.db.engine import create_engine
from orbitpay.db.readpool import read_pool
from orbitpay.notify import ChangeListener, plain_dsn
from orbitpay.security.apikeys import KeyVerifier
from orbitpay.security.ratelimit import (
    FallbackRateLimiter,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)

DESCRIPTION = """\
Payment history, vesting, governance and analytics for the OrbitPay Soroban
contracts, indexed from Stellar. Amounts are decimal strings of token base
units; times are ISO-8601 UTC; lists page with an opaque `cursor`.
"""


def _limiter(rate: tuple[int, int], cache: Cache, prefix: str) -> RateLimiter:
    """Redis-backed when the cache is (shared across workers, with an in-process
    fallback while Redis is unavailable), else in-process."""
    limit, window = rate
    if isinstance(cache.backend, RedisBackend):
        shared = RedisRateLimiter(cache.backend.client, limit, window, prefix=prefix)
        return FallbackRateLimiter(cache.backend, shared, MemoryRateLimiter(limit, window))
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
        the_cache = cache or create_cache(
            settings.redis_url, settings.redis_timeout, settings.redis_retry_after
        )
        listener = None
        if the_cache.is_local:
            # A per-process cache learns of the indexer's commits by NOTIFY, and bypasses
            # itself while it cannot (orbitpay.notify): never silently stale.
            listener = ChangeListener(plain_dsn(the_engine.url), the_cache)
            await listener.start()
        reads = read_pool(the_engine.url, settings.api_read_connections)
        app.state.resources = AppResources(
            settings=settings, engine=the_engine, cache=the_cache, reads=reads, indexer=indexer
        )
        verifier = KeyVerifier(reads, the_cache, engine=the_engine)
        app.state.resources.extras["key_verifier"] = verifier
        app.state.limiters = Limiters(
            _limiter(settings.rate, the_cache, f"{the_cache.prefix}:rl"),
            _limiter(settings.key_rate, the_cache, f"{the_cache.prefix}:rlk"),
            verifier,
        )
        app.state.exports = StreamSlots(
            "exports", settings.export_concurrency, settings.export_per_client
        )
        app.state.streams = StreamSlots(
            "streams", settings.stream_concurrency, settings.stream_per_client
        )
        # Everything alive now (modules, routes, pydantic validators: ~160k objects) lives
        # as long as the process: keep it out of the collector's full passes, which
        # otherwise stop every in-flight request for ~100 ms now and then (the p99).
        gc.freeze()
        try:
            yield
        finally:
            if listener is not None:
                await listener.close()
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

    def limiters_for(scope: Scope) -> Limiters | None:
        return getattr(scope["app"].state, "limiters", None)

    def verifier_for(scope: Scope) -> KeyVerifier | None:
        found = getattr(scope["app"].state, "limiters", None)
        return found.verifier if isinstance(found, Limiters) else None

    # Added innermost first: a request meets Metrics, ClientAddress, RateLimit, InputGuard.
    app.add_middleware(
        InputGuardMiddleware,
        max_body=settings.max_body_bytes,
        verifier=verifier_for,
    )
    app.add_middleware(RateLimitMiddleware, limiters=limiters_for)
    app.add_middleware(ClientAddressMiddleware, trusted=settings.trusted_networks)
    app.add_middleware(MetricsMiddleware)
    app.include_router(health.router)
    app.include_router(admin.router)
    from orbitpay.api import routes

    routes.include_all(app)
    return app
