"""The read cache: Redis when ``ORBITPAY_REDIS_URL`` is set, else in-process.

Invalidation uses version keys: every cached value's key embeds the current
version of its namespace (e.g. ``streams``), and the indexer bumps a
namespace's version after committing new events for it. Old entries are never
read again and expire by TTL, so invalidation is one ``INCR`` and needs no key
scans, and API workers sharing Redis all see it at once.

The indexer does not know these namespaces: it reports which families of data
a page changed (:class:`~orbitpay.indexer.model.Changed`), and
:data:`NAMESPACE_OF` maps each family to the namespaces whose values read it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from orbitpay.indexer.model import Changed
from orbitpay.observability.metrics import CACHE_REQUESTS, CACHE_UP

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


class RedisBackend:
    """Redis via redis-py's asyncio client; shared by every API worker."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
        )

    @property
    def client(self) -> Any:
        return self._client

    async def get(self, key: str) -> str | None:
        value = await self._client.get(key)
        return value if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._client.set(key, value, px=max(1, int(ttl * 1000)))

    async def incr(self, key: str) -> int:
        return int(await self._client.incr(key))

    async def ping(self) -> bool:
        return bool(await self._client.ping())

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

    @property
    def kind(self) -> str:
        return "redis" if isinstance(self.backend, RedisBackend) else "memory"

    def _version_key(self, namespace: str) -> str:
        return f"{self.prefix}:v:{namespace}"

    async def _version(self, namespace: str) -> str:
        return await self.backend.get(self._version_key(namespace)) or "0"

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
        read); the text is None when the backend failed (nothing was encoded)."""
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


def create_cache(redis_url: str | None) -> Cache:
    return Cache(RedisBackend(redis_url) if redis_url else MemoryBackend())
