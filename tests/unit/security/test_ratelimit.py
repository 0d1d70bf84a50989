"""The in-process limiter: window counting, headers, escalating blocks."""

from __future__ import annotations

import time

import pytest

from orbitpay.security import ratelimit
from orbitpay.security.ratelimit import MemoryRateLimiter, block_seconds


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(1_000_040.0)  # 20 s into a 60 s window
    monkeypatch.setattr(time, "time", c)  # the clock of the limiter and of `limits`
    return c


def test_block_doubles_and_caps() -> None:
    assert [block_seconds(60, n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert block_seconds(60, 50) == ratelimit.MAX_BLOCK_SECONDS


async def test_counts_down_then_blocks_with_retry_after(clock: Clock) -> None:
    limiter = MemoryRateLimiter(limit=3, window=60)
    decisions = [await limiter.hit("1.2.3.4") for _ in range(3)]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    assert all(d.allowed for d in decisions)
    assert decisions[0].headers["X-RateLimit-Reset"] == "40"
    over = await limiter.hit("1.2.3.4")
    assert not over.allowed
    assert over.headers["Retry-After"] == "60"  # first strike: one window
    assert (await limiter.hit("5.6.7.8")).allowed  # other clients unaffected


async def test_repeated_violations_back_off_exponentially(clock: Clock) -> None:
    limiter = MemoryRateLimiter(limit=1, window=60)
    blocks = []
    for _ in range(3):
        assert (await limiter.hit("ip")).allowed
        denied = await limiter.hit("ip")
        assert not denied.allowed
        blocks.append(int(denied.headers["Retry-After"]))
        clock.now += denied.reset_after  # wait out the block exactly
    assert blocks == [60, 120, 240]


async def test_block_holds_until_it_ends(clock: Clock) -> None:
    limiter = MemoryRateLimiter(limit=1, window=10)
    await limiter.hit("ip")
    first = await limiter.hit("ip")
    clock.now += first.reset_after - 1
    assert not (await limiter.hit("ip")).allowed
    clock.now += 1.01
    assert (await limiter.hit("ip")).allowed


async def test_no_double_burst_around_a_window_boundary(clock: Clock) -> None:
    """Issue 13, finding 9: a fixed window let 2x the limit through in a few seconds."""
    limiter = MemoryRateLimiter(limit=100, window=60)
    clock.now = 1_000_000 + 60 * 100 - 3.0  # 3 s before a window boundary
    allowed = 0
    for _ in range(120):
        allowed += (await limiter.hit("burst")).allowed
    clock.now += 3.3  # 0.3 s after the boundary
    for _ in range(120):
        decision = await limiter.hit("burst")
        allowed += decision.allowed
        if not decision.allowed:
            break
    assert allowed <= 101


async def test_the_count_slides_instead_of_resetting(clock: Clock) -> None:
    limiter = MemoryRateLimiter(limit=10, window=60)
    clock.now = 1_000_020.0
    assert all([(await limiter.hit("c")).allowed for _ in range(10)])
    clock.now += 45  # 5 s into the next window: most of the last 60 s still counts
    # 10 weighted by the 55 s of the previous window still inside the last 60 s: ~9.2.
    assert (await limiter.hit("c")).allowed is False
