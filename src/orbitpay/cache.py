"""The read cache: Redis when ``ORBITPAY_REDIS_URL`` is set, else in-process.

Invalidation uses version keys: every cached value's key embeds the current
version of its namespace (e.g. ``streams``), and the indexer bumps a
namespace's version after committing new events for it. Old entries are never
read again and expire by TTL, so invalidation is one ``INCR`` and needs no key
scans, and API workers sharing Redis all see it at once.

The indexer does not know these namespaces: it reports which families of data
a page changed (:class:`~orbitpay.indexer.model.Changed`), and
:data:`NAMESPACE_OF` maps each family to the namespaces whose values read it.

An in-process cache in an API process that does not share Redis with the indexer
learns of changes through PostgreSQL ``LISTEN/NOTIFY`` instead (:mod:`orbitpay.notify`).
That feed can break, and a cache that missed a notification would serve stale
values without knowing it; so such a cache is *gated* (:meth:`Cache.require`): it
reads and stores values only while the feed is live, and computes every value
otherwise (counted as ``bypass``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from orbitpay.indexer.model import Changed
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import CACHE_REQUESTS, CACHE_UP, REDIS_BREAKER_OPEN

log = get_logger(__name__)

# Redis answers on loopback or in a LAN in well under a millisecond: a call that takes
# longer than this is a hung or unreachable server, and waiting longer only stalls requests.
REDIS_TIMEOUT = 0.25
# Consecutive failures that open the breaker, and how long it then stays open.
BREAKER_FAILURES = 2
BREAKER_RETRY_AFTER = 5.0

_T = TypeVar("_T")

# TTLs from the original request (BK-3), in seconds.
TTL_TREASURY_BALANCE = 60
TTL_STREAM_CLAIMABLE = 30
TTL_PROPOSAL_VOTES = 30

# Which cached values read each family of indexed data (analytics reads every event).
NAMESPACE_OF: Mapping[Changed, tuple[str, ...]] = {
    Changed.EVENTS: ("events", "analytics"),
    Changed.TREASURY: ("treasury", "analytics"),
    Changed.PAYROLL: ("streams", "analytics"),
    Changed.VESTING: ("vesting", "analytics"),
    Changed.GOVERNANCE: ("proposals", "analytics"),
}


def namespaces_for(changed: Iterable[Changed]) -> list[str]:
    """The namespaces to invalidate after a commit that changed ``changed`` (sorted)."""
    return sorted({ns for family in changed for ns in NAMESPACE_OF[family]})


class Backend(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def incr(self, key: str) -> int: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class MemoryBackend:
    """A bounded LRU with TTLs for a single process (the embedded default)."""

    def __init__(self, max_items: int = 10_000) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_items

    async def get(self, key: str) -> str | None:
        found = self._items.get(key)
        if found is None:
            return None
        expires, value = found
        if expires < time.monotonic():
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def incr(self, key: str) -> int:
        found = self._items.get(key)
        value = int(found[1]) + 1 if found else 1
        self._items[key] = (float("inf"), str(value))
        return value

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._items.clear()

    def clear(self) -> None:
        """Forget every value and version (after invalidations may have been missed)."""
        self._items.clear()


class RedisUnavailable(ConnectionError):
    """Redis is known to be down (the breaker is open): the call was not attempted."""


class CircuitBreaker:
    """Stops calling a dependency that keeps failing, so requests do not wait on it.

    Closed: calls go through; ``failures`` consecutive failures open it. Open: every
    call is refused at once (:class:`RedisUnavailable`) for ``retry_after`` seconds,
    then one call (the probe) is let through while the others are still refused; its
    success closes the breaker, its failure opens it again. A hung Redis therefore costs
    at most ``failures`` timeouts per outage plus one per ``retry_after``, not one per
    request.
    """

    def __init__(
        self,
        name: str,
        failures: int = BREAKER_FAILURES,
        retry_after: float = BREAKER_RETRY_AFTER,
    ) -> None:
        self.name = name
        self._threshold = failures
        self._retry_after = retry_after
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._failures >= self._threshold

    def allow(self) -> bool:
        """Whether a call may be attempted now (claims the probe when one is due)."""
        if not self.is_open:
            return True
        if self._probing or time.monotonic() < self._open_until:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        if self.is_open:
            log.info("dependency_recovered", dependency=self.name)
        self._failures = 0
        self._probing = False
        REDIS_BREAKER_OPEN.set(0)

    def failure(self, error: BaseException) -> None:
        was_open = self.is_open
        self._failures += 1
        self._probing = False
        if self.is_open:
            self._open_until = time.monotonic() + self._retry_after
            REDIS_BREAKER_OPEN.set(1)
            if not was_open:
                log.warning(
                    "dependency_unavailable",
                    dependency=self.name,
                    error=f"{type(error).__name__}: {str(error)[:200]}",
                    retry_after=self._retry_after,
                )

    async def call(self, make: Callable[[], Awaitable[_T]], timeout: float) -> _T:  # noqa: ASYNC109 - the deadline is applied with asyncio.timeout inside
        """``await make()`` under a deadline, or :class:`RedisUnavailable` without waiting."""
        if not self.allow():
            raise RedisUnavailable(f"{self.name} is unavailable (circuit open)")
        try:
            async with asyncio.timeout(timeout):  # expiry raises TimeoutError
                result = await make()
        except asyncio.CancelledError:
            self._probing = False  # the request itself was cancelled: no verdict on Redis
            raise
        except Exception as exc:
            self.failure(exc)
            raise
        self.success()
        return result


class RedisBackend:
    """Redis via redis-py's asyncio client; shared by every API worker.

    Every call goes through one :class:`CircuitBreaker` with a short deadline
    (``ORBITPAY_REDIS_TIMEOUT``), so a dead or hung Redis costs a request nothing once
    noticed: the cache computes the value, the limiter falls back to its in-process twin.
    """

    def __init__(
        self,
        url: str,
        timeout: float = REDIS_TIMEOUT,
        retry_after: float = BREAKER_RETRY_AFTER,
    ) -> None:
        import redis.asyncio as redis

        self.timeout = timeout
        self.breaker = CircuitBreaker("redis", retry_after=retry_after)
        self._client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
        )

    @property
    def client(self) -> Any:
        return self._client

    async def call(self, make: Callable[[], Awaitable[_T]]) -> _T:
        """Run one Redis operation under the breaker and the deadline."""
        return await self.breaker.call(make, self.timeout)

    async def get(self, key: str) -> str | None:
        value = await self.call(lambda: self._client.get(key))
        return value if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self.call(lambda: self._client.set(key, value, px=max(1, int(ttl * 1000))))

    async def incr(self, key: str) -> int:
        return int(await self.call(lambda: self._client.incr(key)))

    async def ping(self) -> bool:
        # Health checks probe even while the breaker is open: they are how it is seen.
        async with asyncio.timeout(self.timeout):
            ok = bool(await self._client.ping())
        self.breaker.success()
        return ok

    async def close(self) -> None:
        await self._client.aclose()


class Cache:
    """JSON values with TTLs, namespaced and invalidated by version keys.

    Cache errors never fail a request: a broken Redis degrades to computing
    the value (counted as ``error`` and reported by /health).
    """

    def __init__(self, backend: Backend, prefix: str = "orbitpay") -> None:
        self.backend = backend
        self.prefix = prefix
        self._gate: Callable[[], bool] | None = None
        # Bumped by ``reset``: part of every key, so a value computed before a reset (whose
        # invalidation may have been missed) is never read after it, even if stored after it.
        self._epoch = 0

    @property
    def kind(self) -> str:
        return "redis" if isinstance(self.backend, RedisBackend) else "memory"

    @property
    def is_local(self) -> bool:
        """True for a per-process cache: the indexer's Redis version bumps never reach it."""
        return isinstance(self.backend, MemoryBackend)

    def require(self, gate: Callable[[], bool] | None) -> None:
        """Serve and store values only while ``gate()`` is true (None: always).

        The gate is the invalidation feed's liveness (:class:`orbitpay.notify.ChangeListener`):
        while it is down the cache cannot know what changed, so it steps aside rather than
        answer from values that may be stale.
        """
        self._gate = gate

    @property
    def serving(self) -> bool:
        """Whether look-ups use the cache now (False while a required feed is down)."""
        return self._gate is None or self._gate()

    def reset(self) -> None:
        """Start a new epoch of a per-process cache: no value cached so far is read again
        (its invalidation feed may have missed changes while it was down)."""
        if isinstance(self.backend, MemoryBackend):
            self._epoch += 1
            self.backend.clear()

    def _version_key(self, namespace: str) -> str:
        return f"{self.prefix}:v:{namespace}"

    async def _version(self, namespace: str) -> str:
        version = await self.backend.get(self._version_key(namespace)) or "0"
        return f"{self._epoch}.{version}" if self._epoch else version

    async def get_or_set(
        self,
        namespace: str,
        key: str,
        ttl: float,
        compute: Callable[[], Awaitable[Any]],
    ) -> Any:
        text, value = await self._lookup(namespace, key, ttl, compute)
        if value is _MISSING and text is not None:  # a hit: only the text was read
            return json.loads(text)
        return value

    async def get_or_set_text(
        self,
        namespace: str,
        key: str,
        ttl: float,
        compute: Callable[[], Awaitable[Any]],
    ) -> str:
        """The value's JSON text, for a route that only sends it on.

        A hit is returned as stored: no decoding into Python objects and encoding
        back (for an analytics response, most of the CPU of a cached request).
        """
        text, value = await self._lookup(namespace, key, ttl, compute)
        return _dumps(value) if text is None else text

    async def _lookup(
        self,
        namespace: str,
        key: str,
        ttl: float,
        compute: Callable[[], Awaitable[Any]],
    ) -> tuple[str | None, Any]:
        """``(JSON text, value)``: the value is ``_MISSING`` on a hit (only the text is
        read); the text is None when the backend failed or the cache is bypassed."""
        if not self.serving:
            CACHE_REQUESTS.labels("bypass").inc()
            return None, await compute()
        try:
            full_key = f"{self.prefix}:{namespace}:{await self._version(namespace)}:{key}"
            cached = await self.backend.get(full_key)
        except Exception:
            CACHE_REQUESTS.labels("error").inc()
            return None, await compute()
        if cached is not None:
            CACHE_REQUESTS.labels("hit").inc()
            return cached, _MISSING
        CACHE_REQUESTS.labels("miss").inc()
        value = await compute()
        text = _dumps(value)
        try:
            await self.backend.set(full_key, text, ttl)
        except Exception:
            CACHE_REQUESTS.labels("error").inc()
        return text, value

    async def invalidate(self, *namespaces: str) -> None:
        """Make every cached value of these namespaces stale (called after a commit)."""
        for namespace in namespaces:
            try:
                await self.backend.incr(self._version_key(namespace))
            except Exception:
                CACHE_REQUESTS.labels("error").inc()

    async def invalidate_changed(self, changed: Iterable[Changed]) -> None:
        """Make stale every cached value that reads the data the indexer changed."""
        await self.invalidate(*namespaces_for(changed))

    async def ping(self) -> bool:
        try:
            ok = await asyncio.wait_for(self.backend.ping(), timeout=2)
        except Exception:
            ok = False
        CACHE_UP.set(1 if ok else 0)
        return ok

    async def close(self) -> None:
        await self.backend.close()


_MISSING = object()


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def create_cache(
    redis_url: str | None,
    timeout: float = REDIS_TIMEOUT,
    retry_after: float = BREAKER_RETRY_AFTER,
) -> Cache:
    backend: Backend = (
        RedisBackend(redis_url, timeout, retry_after) if redis_url else MemoryBackend()
    )
    return Cache(backend)
