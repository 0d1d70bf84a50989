"""Per-client rate limiting with escalating penalties (BK-8).

A fixed window per client IP (``ORBITPAY_RATE_LIMIT``, default 100/minute).
A client that exceeds it is blocked until the window ends; each further
violation within an hour doubles the block (window x 2^(strikes-1), capped at
an hour), so a misbehaving script backs off exponentially while a browser
that bursts once recovers at the next window.

State lives in Redis when configured (shared by every API worker, one round
trip per request via a Lua script) or in process memory otherwise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

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


class MemoryRateLimiter:
    """Single-process limiter (the embedded default)."""

    def __init__(self, limit: int, window: int, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self._max_clients = max_clients
        # client -> [window_start, count, strikes, last_strike_at, blocked_until]
        self._state: dict[str, list[float]] = {}

    async def hit(self, client: str, cost: int = 1) -> Decision:
        now = time.time()
        state = self._state.get(client)
        if state is None:
            if len(self._state) >= self._max_clients:
                self._prune(now)
            state = [now - now % self.window, 0, 0, 0.0, 0.0]
            self._state[client] = state
        if state[4] > now:
            return Decision(False, self.limit, 0, state[4] - now)
        window_start = now - now % self.window
        if state[0] != window_start:
            state[0], state[1] = window_start, 0
        if state[2] and now - state[3] > STRIKE_MEMORY_SECONDS:
            state[2] = 0
        state[1] += cost
        reset_after = window_start + self.window - now
        if state[1] <= self.limit:
            return Decision(True, self.limit, int(self.limit - state[1]), reset_after)
        state[2] += 1
        state[3] = now
        blocked = max(reset_after, float(block_seconds(self.window, int(state[2]))))
        state[4] = now + blocked
        return Decision(False, self.limit, 0, blocked)

    def _prune(self, now: float) -> None:
        stale = [
            c
            for c, s in self._state.items()
            if s[4] < now and s[0] + self.window < now and not s[2]
        ]
        for client in stale or list(self._state)[: len(self._state) // 2]:
            self._state.pop(client, None)


# KEYS: count, strikes, blocked.
# ARGV: limit, window, now, cost, max_block, strike_memory, ms left in the window
_LUA = """
local ttl = redis.call('PTTL', KEYS[3])
if ttl > 0 then return {0, 0, ttl} end
local count = redis.call('INCRBY', KEYS[1], ARGV[4])
local left = tonumber(ARGV[7])
if count == tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], left + 1000) end
if count <= tonumber(ARGV[1]) then return {1, tonumber(ARGV[1]) - count, left} end
local strikes = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[6])
local block = math.min(tonumber(ARGV[5]), tonumber(ARGV[2]) * 2 ^ (strikes - 1)) * 1000
if block < left then block = left end
redis.call('SET', KEYS[3], '1', 'PX', math.floor(block))
return {0, 0, math.floor(block)}
"""


class RedisRateLimiter:
    """Shared limiter for many API workers; one atomic script call per request."""

    def __init__(
        self, client: object, limit: int, window: int, prefix: str = "orbitpay:rl"
    ) -> None:
        self.limit = limit
        self.window = window
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_LUA)  # type: ignore[attr-defined]

    async def hit(self, client: str, cost: int = 1) -> Decision:
        now_precise = time.time()
        now = int(now_precise)
        window_id = now // self.window
        left_ms = max(1, int(((window_id + 1) * self.window - now_precise) * 1000))
        keys = [
            f"{self._prefix}:c:{client}:{window_id}",
            f"{self._prefix}:s:{client}",
            f"{self._prefix}:b:{client}",
        ]
        args = [
            self.limit,
            self.window,
            now,
            cost,
            MAX_BLOCK_SECONDS,
            STRIKE_MEMORY_SECONDS,
            left_ms,
        ]
        allowed, remaining, reset_ms = await self._script(keys=keys, args=args)
        return Decision(bool(allowed), self.limit, int(remaining), int(reset_ms) / 1000)
