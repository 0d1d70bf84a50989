"""Per-client rate limiting: a sliding window with escalating penalties (BK-8).

The window is the ``limits`` package's sliding window counter
(``ORBITPAY_RATE_LIMIT``, default 100/minute per client address; an
authenticated API key has its own quota, ``ORBITPAY_API_KEY_RATE_LIMIT``). It
weighs the previous fixed window's count by how much of it still overlaps the
last ``window`` seconds, so a client cannot double its rate around a window
boundary as with a fixed window (100 requests at 0:59 and 100 more at 1:00),
and its state is two counters per client, not one timestamp per request.

Escalation sits on top: a client that exceeds the window is blocked; each
further violation within an hour doubles the block (window x 2^(strikes-1),
capped at an hour). A block replaces the window's count (the count restarts
when the block ends), so a misbehaving script backs off exponentially while a
browser that bursts once recovers after one window.

State lives in Redis when configured (shared by every API worker) or in process
memory. :class:`FallbackRateLimiter` wraps the Redis limiter: while Redis is
unavailable (an error, a timeout, or its circuit breaker open) each decision is
made by an in-process limiter with the same rules, logged once per outage and
counted in ``orbitpay_rate_limit_fallback_total``: never "no limit".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from orbitpay.cache import RedisBackend
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import RATE_LIMIT_FALLBACK

log = get_logger(__name__)

MAX_BLOCK_SECONDS = 3600
STRIKE_MEMORY_SECONDS = 3600


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the window resets (or the block ends)

    @property
    def headers(self) -> dict[str, str]:
        reset = str(max(0, math.ceil(self.reset_after)))
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": reset,
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_after)))
        return headers


class RateLimiter(Protocol):
    async def hit(self, client: str, cost: int = 1) -> Decision: ...


def block_seconds(window: int, strikes: int) -> int:
    """Block length after the ``strikes``-th violation: doubles each time, capped."""
    return int(min(MAX_BLOCK_SECONDS, window * 2 ** max(0, strikes - 1)))


class WindowRateLimiter:
    """The sliding window plus escalation over one ``limits`` storage (memory or Redis)."""

    def __init__(self, storage: Storage, limit: int, window: int, prefix: str = "rl") -> None:
        self.limit = limit
        self.window = window
        self._prefix = prefix
        self._storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._item = RateLimitItemPerSecond(limit, window, namespace=prefix)

    async def hit(self, client: str, cost: int = 1) -> Decision:
        storage = self._storage
        block_key = f"{self._prefix}/b/{client}"
        if await storage.get(block_key) > 0:
            left = await storage.get_expiry(block_key) - time.time()
            return Decision(False, self.limit, 0, max(left, 1.0))
        allowed = await self._strategy.hit(self._item, client, cost=cost)
        stats = await self._strategy.get_window_stats(self._item, client)
        # Rounded to the millisecond: float noise must not turn 40 s into a "41" header.
        reset_after = max(0.0, round(stats.reset_time - time.time(), 3))
        if allowed:
            return Decision(True, self.limit, stats.remaining, reset_after)
        strikes = await storage.incr(f"{self._prefix}/s/{client}", STRIKE_MEMORY_SECONDS)
        blocked = max(math.ceil(reset_after), block_seconds(self.window, strikes))
        await storage.incr(block_key, blocked)
        # The block is the penalty: the window's count starts afresh when it ends.
        await self._strategy.clear(self._item, client)
        return Decision(False, self.limit, 0, float(blocked))


def MemoryRateLimiter(limit: int, window: int) -> WindowRateLimiter:
    """Single-process limiter (the embedded default, and the fallback while Redis is down)."""
    return WindowRateLimiter(MemoryStorage(), limit, window)


def RedisRateLimiter(
    client: Any, limit: int, window: int, prefix: str = "orbitpay:rl"
) -> WindowRateLimiter:
    """Shared limiter for many API workers, on the cache's Redis connection pool.

    Sharing the pool shares its short socket timeouts (``ORBITPAY_REDIS_TIMEOUT``).
    """
    storage = RedisStorage(
        "async+redis://",
        implementation="redispy",
        key_prefix=prefix,
        connection_pool=client.connection_pool,
    )
    return WindowRateLimiter(storage, limit, window, prefix=prefix)


class FallbackRateLimiter:
    """The Redis limiter, or its in-process twin whenever Redis cannot answer now."""

    def __init__(self, backend: RedisBackend, primary: RateLimiter, fallback: RateLimiter) -> None:
        self._backend = backend
        self._primary = primary
        self._fallback = fallback
        self._degraded = False

    @property
    def degraded(self) -> bool:
        """Whether the last decision came from the in-process limiter."""
        return self._degraded

    async def hit(self, client: str, cost: int = 1) -> Decision:
        try:
            decision = await self._backend.call(lambda: self._primary.hit(client, cost))
        except Exception as exc:
            RATE_LIMIT_FALLBACK.inc()
            if not self._degraded:
                self._degraded = True
                log.warning(
                    "rate_limit_fallback",
                    reason=f"{type(exc).__name__}: {str(exc)[:200]}",
                    detail="Redis unavailable: limiting in process until it answers again",
                )
            return await self._fallback.hit(client, cost)
        if self._degraded:
            self._degraded = False
            log.info("rate_limit_redis_restored")
        return decision
