"""Cache invalidation through PostgreSQL ``LISTEN/NOTIFY``, for API processes without Redis.

With a shared Redis the indexer bumps the cache's version keys there and every API
worker sees it. A standalone indexer and an API that share only the database (no
``ORBITPAY_REDIS_URL``, or different ones) would otherwise never invalidate the API's
in-process cache: it would answer from values up to a TTL old, silently. So:

- **The indexer publishes** (:func:`publish`) the families of data a page changed
  (:class:`~orbitpay.indexer.model.Changed`) on :data:`CHANNEL`, inside the page's own
  transaction: PostgreSQL delivers the notification when, and only when, it commits.
  It always does (one ``pg_notify`` per page that changed something): the indexer
  cannot know which API processes share its Redis.
- **An API with a per-process cache listens** (:class:`ChangeListener`) on a dedicated
  asyncpg connection and bumps the cache's namespaces for each notification.
- **Never silently stale.** Notifications sent while nobody listens are lost, so the
  cache is gated on the listener (:meth:`orbitpay.cache.Cache.require`): while the
  connection is down, or has not confirmed it is alive for :attr:`ChangeListener.stale_after`
  seconds, every look-up computes its value (``bypass``); once listening again the cache
  starts a new epoch (everything cached before is dropped), then serves again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orbitpay.cache import NAMESPACE_OF, Cache, namespaces_for
from orbitpay.indexer.model import Changed
from orbitpay.observability.logging import get_logger
from orbitpay.retry import Backoff, Retries
from orbitpay.security.redact import redact_url

log = get_logger(__name__)

CHANNEL = "orbitpay_changes"
# The payload that means "everything changed" (a network reset's wipe, or a family
# this API does not know: an indexer newer than the API).
EVERYTHING = "*"
# The listener proves its connection alive this often (a query with this deadline); a
# connection that died without closing (a cut network) is noticed within
# ``KEEPALIVE_SECONDS + PROBE_TIMEOUT``, the longest the cache can serve a value that a
# lost notification should have invalidated.
KEEPALIVE_SECONDS = 1.0
PROBE_TIMEOUT = 2.0
# How long ``ChangeListener.start`` waits for the first connection before the API
# starts anyway (bypassing the cache until the listener is in).
START_WAIT = 3.0
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "orbitpay-cache-listener"
RECONNECT_BACKOFF = Backoff(max_retries=None, base_delay=0.2, max_delay=5.0)


def payload_for(changed: Iterable[Changed]) -> str:
    """The notification text for ``changed``: the family names, sorted, comma-separated."""
    return ",".join(sorted(str(family) for family in changed))


def namespaces_in(payload: str) -> list[str]:
    """The cache namespaces a notification invalidates; every one for ``*`` or an unknown
    family (invalidating too much costs a recomputation, too little a stale answer)."""
    families: set[Changed] = set()
    for part in payload.split(","):
        name = part.strip()
        if not name:
            continue
        try:
            families.add(Changed(name))
        except ValueError:
            return namespaces_for(NAMESPACE_OF)
    return namespaces_for(families)


async def publish(conn: AsyncConnection, changed: Iterable[Changed]) -> None:
    """Announce ``changed`` on :data:`CHANNEL`, delivered when ``conn``'s transaction commits."""
    payload = payload_for(changed)
    if payload:
        await _notify(conn, payload)


async def publish_everything(engine: AsyncEngine) -> None:
    """Announce that every family changed (after a wipe), in a transaction of its own."""
    async with engine.begin() as conn:
        await _notify(conn, EVERYTHING)


async def _notify(conn: AsyncConnection, payload: str) -> None:
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


def plain_dsn(url: str | URL) -> str:
    """An asyncpg DSN for any PostgreSQL URL form (the engine's ``postgresql+asyncpg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    """Keeps one connection listening on :data:`CHANNEL` and invalidates ``cache``.

    :meth:`start` gates the cache on :attr:`live` and runs the loop in a task:
    connect, ``LISTEN``, start a new cache epoch, then probe the connection every
    ``keepalive`` seconds; on any failure drop the connection (the cache bypasses) and
    reconnect with backoff, forever, until :meth:`close`.
    """

    def __init__(
        self,
        dsn: str,
        cache: Cache,
        *,
        channel: str = CHANNEL,
        keepalive: float = KEEPALIVE_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT,
        backoff: Backoff = RECONNECT_BACKOFF,
    ) -> None:
        self.dsn = dsn
        self.cache = cache
        self.channel = channel
        self.keepalive = keepalive
        self.probe_timeout = probe_timeout
        self.stale_after = keepalive + probe_timeout
        self._backoff = backoff
        self._conn: asyncpg.Connection | None = None
        self._confirmed = 0.0
        self._attempted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.received = 0  # notifications applied (for tests and debugging)
        self.connections = 0  # times it started listening (each one began a new cache epoch)

    @property
    def live(self) -> bool:
        """Listening on a connection confirmed alive within ``stale_after`` seconds."""
        return (
            self._conn is not None
            and not self._conn.is_closed()
            and time.monotonic() - self._confirmed < self.stale_after
        )

    async def start(self, wait: float = START_WAIT) -> None:
        """Gate the cache, start listening; wait up to ``wait`` s for the first attempt."""
        self.cache.require(lambda: self.live)
        self._task = asyncio.create_task(self._run(), name="orbitpay-change-listener")
        with suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._attempted.wait()

    async def close(self) -> None:
        """Stop listening; the cache stays gated (it bypasses from now on)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._pending):
            with suppress(Exception):
                await task

    async def _run(self) -> None:
        retries = Retries(self._backoff)
        while True:
            try:
                await self._listen(retries)
                error: BaseException = ConnectionError("the listening connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
            finally:
                self._attempted.set()
            detail = f"{type(error).__name__}: {str(error)[:200]}"
            if retries.failures == 0:
                # Once per outage (and on a failed first attempt): until the listener is back,
                # the cache computes every value instead of risking a stale one.
                log.warning("cache_invalidation_lost", error=detail, cache="bypassed")
            else:
                log.debug("cache_invalidation_retry", error=detail)
            await asyncio.sleep(retries.failed(error))

    async def _listen(self, retries: Retries) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.dsn,
            timeout=self.probe_timeout * 5,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(self.channel, self._on_notification)
            # Whatever was cached may have missed notifications sent while nobody listened.
            self.cache.reset()
            self._confirmed = time.monotonic()
            self._conn = conn
            self.connections += 1
            self._attempted.set()
            retries.succeeded()
            log.info("cache_invalidation_listening", database=redact_url(self.dsn))
            while not lost.is_set():
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.keepalive):
                        await lost.wait()
                if lost.is_set():
                    break
                await conn.fetchval("SELECT 1", timeout=self.probe_timeout)
                self._confirmed = time.monotonic()
        finally:
            self._conn = None
            if not conn.is_closed():
                conn.terminate()

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        namespaces = namespaces_in(str(payload))
        task = asyncio.get_running_loop().create_task(self._invalidate(namespaces))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _invalidate(self, namespaces: list[str]) -> None:
        await self.cache.invalidate(*namespaces)
        self.received += 1


__all__ = [
    "APPLICATION_NAME",
    "CHANNEL",
    "EVERYTHING",
    "ChangeListener",
    "namespaces_in",
    "payload_for",
    "plain_dsn",
    "publish",
    "publish_everything",
]
