"""A small first-come-first-served set of asyncpg connections: the API's one read path.

Every API read is a plain statement: no transaction, no SQLAlchemy result
machinery, no pre-ping and no reset. ``asyncpg.Pool`` costs more per request
even with its per-release reset round trip switched off (``reset=`` a no-op
coroutine, or a connection class whose ``get_reset_query()`` is empty): a
shielded task per release, a proxy object per acquire, and the FIFO semaphore it
needs in front (its queue lets a newcomer take a connection just released for a
request already waiting: a 3-4x p99/p50 tail under load). ``bench/readpool.py``
measures them side by side (2 shared cores, 32 tasks on 4 connections, three
runs): acquire + release costs 1.6 us of CPU here against 14.0-15.4 us with the
reset skipped + gate (30.9-39.8 us with the default reset); acquire + one-row
``SELECT`` + release 13.3-20.9 us against 28.9-36.4 us (1.4-2.6x).

:class:`ReadPool` keeps only what these reads need:

- at most ``size`` connections, opened lazily (never at import or startup, so
  the API starts while the database is down) and kept open; one found closed
  while idle (the server restarted) is dropped on the next acquire, not used;
- a released connection goes straight to the oldest waiter (no barging), else
  back to the idle stack (most recently used first: the warmest backend);
- a connection is reused only when its block ended normally or with an ordinary
  error raised while it was idle (a PostgreSQL error, the caller's own "not
  found"); any other exit (a cancelled request, a timeout, a dropped socket, a
  generator closed mid-stream) retires it: closed in the background once the
  server has cancelled its statement, then its slot goes to the next waiter.

It knows nothing of HTTP: its owner opens and closes it (the API's lifespan),
and callers map its errors (``orbitpay.api.errors`` turns connection failures,
:class:`PoolClosed` included, into a 503).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import URL, make_url

from orbitpay.observability.metrics import READ_POOL_RETIRED, REGISTRY

# Connections per API process (``ORBITPAY_API_READ_CONNECTIONS``). One worker is a single
# thread, but more statements in flight let PostgreSQL run on the other cores while the
# worker encodes, and the worker handle several replies per loop turn: on bench/api.py
# (2 cores, 32 clients) the streams list went 1.84-1.96x floor with 4, 1.70-1.80x with 6,
# 1.65-1.76x with 8, 1.62-1.65x with 12 and 1.70x with 16.
MAX_SIZE = 8
CONNECT_TIMEOUT = 10.0
RETIRE_TIMEOUT = 5.0
# A runaway read is stopped by PostgreSQL itself (no client timer per statement).
STATEMENT_TIMEOUT_MS = 60_000


class PoolClosed(RuntimeError):
    """The pool was closed (the app is shutting down)."""


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class ReadPool:
    """Up to ``size`` asyncpg connections to ``dsn``, handed out in arrival order."""

    def __init__(self, dsn: str, size: int = MAX_SIZE, **connect_kwargs: Any) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self._dsn = dsn
        self._size = size
        self._connect_kwargs = connect_kwargs
        self._idle: list[asyncpg.Connection] = []
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        # Connections open, being opened, or promised to a waiter as a free slot.
        self._slots = 0
        self._closed = False
        self._retiring: set[asyncio.Task[None]] = set()
        _LIVE.add(self)

    @property
    def size(self) -> int:
        return self._size

    @property
    def open_slots(self) -> int:
        """Connections open or being opened (for tests and metrics)."""
        return self._slots

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        return sum(1 for fut in self._waiters if not fut.done())

    async def acquire(self) -> asyncpg.Connection:
        if self._closed:
            raise PoolClosed("the read pool is closed")
        while self._idle and not self._waiters:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            # Closed while idle (the server restarted or dropped it): its slot is free.
            self._slots -= 1
        if self._slots < self._size and not self._waiters:
            self._slots += 1
            return await self._open()
        fut: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            handed = await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                # Handed a connection (or a slot) just as this request was cancelled.
                given = fut.result()
                if given is None:
                    self._slots -= 1
                    self._free_slot()
                else:
                    self.release(given)
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass
            raise
        if handed is None:  # a slot was freed and promised to this request: open it
            return await self._open()
        return handed

    def release(self, conn: asyncpg.Connection, reusable: bool = True) -> None:
        """Return ``conn``; ``reusable=False`` (or a closed connection) retires it."""
        if self._closed or not reusable or conn.is_closed() or conn.is_in_transaction():
            if conn.is_closed():
                self._slots -= 1
                self._free_slot()
            else:
                READ_POOL_RETIRED.inc()
                task = asyncio.get_running_loop().create_task(self._retire(conn))
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
            return
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        self._idle.append(conn)

    async def _open(self) -> asyncpg.Connection:
        """Open a connection for a slot already counted; on failure give the slot back."""
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT, **self._connect_kwargs)
            await _init(conn)
        except BaseException:
            if conn is not None:
                conn.terminate()  # connected, but its set-up failed or was cancelled
            self._slots -= 1
            self._free_slot()
            raise
        if self._closed:
            conn.terminate()
            self._slots -= 1
            raise PoolClosed("the read pool is closed")
        return conn

    async def _retire(self, conn: asyncpg.Connection) -> None:
        """Close ``conn`` gracefully, then free its slot.

        A statement cancelled mid-flight is still running on the server: asyncpg has
        sent PostgreSQL a cancel request, and a graceful close waits for it, so the
        backend stops now instead of running on to the statement timeout (a socket
        merely dropped is noticed only when the statement ends). The slot stays taken
        meanwhile, so cancelled requests never push the backends above ``size``.
        """
        try:
            await asyncio.wait_for(conn.close(), RETIRE_TIMEOUT)
        except (Exception, asyncio.CancelledError):
            conn.terminate()
        finally:
            self._slots -= 1
            self._free_slot()

    def _free_slot(self) -> None:
        """A slot became free: promise it to the oldest waiter (who opens a connection)."""
        while self._waiters and self._slots < self._size:
            fut = self._waiters.popleft()
            if not fut.done():
                self._slots += 1
                fut.set_result(None)
                return

    async def close(self) -> None:
        """Close idle connections now; those in use are terminated when released."""
        self._closed = True
        idle, self._idle = self._idle, []
        for fut in self._waiters:
            if not fut.done():
                fut.set_exception(PoolClosed("the read pool is closed"))
        self._waiters.clear()
        for conn in idle:
            self._slots -= 1
            try:
                await asyncio.wait_for(conn.close(), RETIRE_TIMEOUT)
            except (Exception, asyncio.CancelledError):
                conn.terminate()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one block; reused only when the block leaves it idle.

        An ordinary exception raised by the block (a PostgreSQL error, or the
        caller's own, such as a "not found") is raised while no statement is in
        flight: the connection is idle and goes back. A cancellation, a timeout,
        a generator closed mid-stream or a connection-level failure may leave a
        statement running or the socket broken: the connection is retired.
        """
        conn = await self.acquire()
        try:
            yield conn
        except _RETIRING:
            self.release(conn, reusable=False)
            raise
        except Exception:
            self.release(conn)
            raise
        except BaseException:
            self.release(conn, reusable=False)
            raise
        self.release(conn)


# Exceptions after which a connection may still be busy or broken.
_RETIRING = (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)


_LIVE: weakref.WeakSet[ReadPool] = weakref.WeakSet()


class _PoolCollector(Collector):
    """The process's read pools, read when Prometheus scrapes (no cost per request)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pools = [p for p in list(_LIVE) if not p.closed]
        connections = GaugeMetricFamily(
            "orbitpay_api_read_pool_connections",
            "API read pool connections: open (or opening) and idle.",
            labels=["state"],
        )
        connections.add_metric(["open"], sum(p.open_slots for p in pools))
        connections.add_metric(["idle"], sum(p.idle for p in pools))
        yield connections
        yield GaugeMetricFamily(
            "orbitpay_api_read_pool_waiting",
            "Requests waiting for an API read pool connection.",
            value=sum(p.waiting for p in pools),
        )
        yield GaugeMetricFamily(
            "orbitpay_api_read_pool_size",
            "Connections the API read pools may open (ORBITPAY_API_READ_CONNECTIONS each).",
            value=sum(p.size for p in pools),
        )


REGISTRY.register(_PoolCollector())


def read_pool(url: str | URL, size: int = MAX_SIZE) -> ReadPool:
    """A pool for the database at ``url`` (any PostgreSQL URL form, e.g. the engine's).

    Its connections carry a server-side ``statement_timeout``. Nothing connects
    until the first read.
    """
    plain = make_url(url).set(drivername="postgresql")
    return ReadPool(
        plain.render_as_string(hide_password=False),
        size,
        server_settings={"statement_timeout": str(STATEMENT_TIMEOUT_MS)},
    )
