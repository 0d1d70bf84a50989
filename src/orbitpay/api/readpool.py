"""A small asyncpg pool for the list endpoints' single-statement reads.

A list page is one ``SELECT``: it needs no transaction, no SQLAlchemy
result machinery and no pre-ping (``pool_pre_ping`` on asyncpg costs a
``BEGIN``/``;``/``ROLLBACK`` round trip triple per checkout). This pool hands
out plain asyncpg connections, resets nothing on release (nothing is ever
left open on them) and is created lazily on the app's first list request,
from the same URL as the app's engine, and closed with the app's lifespan
(``install`` wraps it). A dead connection is dropped by asyncpg and the
request answers 503.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI

from orbitpay.api.errors import ApiError

# Connections per API process. A list query is ~0.1-0.3 ms of database time, so a few
# connections keep one (single-threaded) worker busy; more only add backends competing
# for the same cores (bench/api.py: 4 gave the best throughput and p99 of 2..10).
MAX_SIZE = 4
_STATE_KEY = "read_pool"


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Statements run outside transactions and leave no session state: nothing to reset."""


def _dsn(app: FastAPI) -> str:
    url = app.state.resources.engine.url
    return str(url.set(drivername="postgresql").render_as_string(hide_password=False))


async def _pool(app: FastAPI) -> asyncpg.Pool:
    pool = getattr(app.state, _STATE_KEY, None)
    if pool is not None:
        return pool
    lock = getattr(app.state, "read_pool_lock", None)
    if lock is None:  # no await since the check: only one task creates it
        lock = asyncio.Lock()
        app.state.read_pool_lock = lock
    async with lock:
        pool = getattr(app.state, _STATE_KEY, None)
        if pool is None:
            pool = await asyncpg.create_pool(
                _dsn(app),
                min_size=0,
                max_size=MAX_SIZE,
                init=_init,
                reset=_no_reset,
                timeout=10,
                command_timeout=60,
                max_inactive_connection_lifetime=300,
            )
            setattr(app.state, _STATE_KEY, pool)
    return pool


def _gate(app: FastAPI) -> asyncio.Semaphore:
    """First come, first served admission to the pool's ``MAX_SIZE`` connections.

    asyncpg's pool lets a newly arriving request take a connection just released for
    one already waiting (its queue wakes the waiter, the newcomer gets there first), so
    under load some requests wait many turns: a 3-4x p99/p50 tail. ``asyncio.Semaphore``
    queues in order (no barging since Python 3.11.1), so waits stay even.
    """
    gate = getattr(app.state, "read_pool_gate", None)
    if gate is None:
        gate = asyncio.Semaphore(MAX_SIZE)
        app.state.read_pool_gate = gate
    return gate  # type: ignore[no-any-return]


@asynccontextmanager
async def read_connection(app: FastAPI) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection; connection failures become a 503."""
    try:
        async with _gate(app):
            pool = await _pool(app)
            async with pool.acquire() as conn:
                yield conn
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
        raise ApiError(503, "service_unavailable", "the database is unavailable") from None


async def close(app: FastAPI) -> None:
    app.state.read_pool_gate = None
    pool = getattr(app.state, _STATE_KEY, None)
    if pool is not None:
        setattr(app.state, _STATE_KEY, None)
        await pool.close()


def install(app: FastAPI) -> None:
    """Close the pool when the app's lifespan ends."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(the_app: FastAPI) -> AsyncIterator[Any]:
        async with inner(the_app) as state:
            try:
                yield state
            finally:
                await close(the_app)

    app.router.lifespan_context = lifespan
