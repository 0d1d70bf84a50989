"""The FastAPI application factory.

``create_app`` takes its dependencies explicitly (settings, engine, cache) so
tests and ``orbitpay up`` can share one engine with the indexer; with none
given, the lifespan builds them from settings. The lifespan also opens the
API's read pool (on the engine's database; it connects on the first read, so
the API starts while the database is down) and closes it on shutdown.

``/docs`` (Swagger UI) and ``/redoc`` load their scripts from the package (the
assets ``fastapi-offline`` ships, served under ``/static/docs``), not from a
CDN: the documentation works on a machine without internet access.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import Depends, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp

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
    RequestContextMiddleware,
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


DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_STATIC_URL = "/static/docs"


class OrbitPayAPI(FastAPI):
    """FastAPI with ``RequestContextMiddleware`` outside Starlette's error middleware.

    ``add_middleware`` places a middleware inside ``ServerErrorMiddleware``, whose
    500 answer (and ``unhandled_error`` log line) would then miss the request id.
    """

    def __init__(self, *, access_log: bool, access_log_sample: float, **kwargs: Any) -> None:
        self._access_log = access_log
        self._access_log_sample = access_log_sample
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContextMiddleware(
            super().build_middleware_stack(), self._access_log, self._access_log_sample
        )


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` (not in the schema, not behind API keys) on packaged assets."""
    app.mount(DOCS_STATIC_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_js_url=f"{root}{DOCS_STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_STATIC_URL}/favicon.png",
            # No badge fetched from the public validator service.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def swagger_ui_redirect(_: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(oauth2_redirect, swagger_ui_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


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

    app = OrbitPayAPI(
        access_log=settings.access_log,
        access_log_sample=settings.access_log_sample,
        docs_url=None,  # served from the package by _offline_docs, not from a CDN
        redoc_url=None,
        title="OrbitPay Indexer API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        dependencies=[Depends(read_access)],
    )
    install_error_handlers(app)
    _offline_docs(app)

    def limiters_for(scope: Scope) -> Limiters | None:
        return getattr(scope["app"].state, "limiters", None)

    def verifier_for(scope: Scope) -> KeyVerifier | None:
        found = getattr(scope["app"].state, "limiters", None)
        return found.verifier if isinstance(found, Limiters) else None

    # Added innermost first: a request meets Metrics, ClientAddress, RateLimit, InputGuard
    # (after RequestContext, which OrbitPayAPI puts outside all of them).
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
