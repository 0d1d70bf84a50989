"""Finding 5: Redis faults. Dead: the limiter failed open silently. Hung (SIGSTOP): every
request took 4-8 s (two 2 s timeouts per request, no circuit breaker).

A private ``redis-server`` is started for these tests, so stopping it harms nobody.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from hardening_kit import free_port, percentile, settings
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import skip_or_fail

from orbitpay.api.app import create_app
from orbitpay.cache import Cache, RedisBackend, create_cache
from orbitpay.observability.metrics import REGISTRY


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def app_on(clean_engine: AsyncEngine) -> AsyncIterator[Any]:
    opened: list[Any] = []

    async def make(cache: Cache, **overrides: Any) -> httpx.AsyncClient:
        app = create_app(settings(**overrides), engine=clean_engine, cache=cache)
        ctx = app.router.lifespan_context(app)
        await ctx.__aenter__()
        opened.append((ctx, cache))
        transport = httpx.ASGITransport(app=app, client=("192.0.2.77", 1234))
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    yield make
    for ctx, cache in reversed(opened):
        await ctx.__aexit__(None, None, None)
        await cache.close()


def _fallbacks() -> float:
    return REGISTRY.get_sample_value("orbitpay_rate_limit_fallback_total") or 0.0


async def _timed(client: httpx.AsyncClient, n: int) -> tuple[list[int], list[float]]:
    statuses, seconds = [], []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get("/api/streams")
        seconds.append(time.perf_counter() - started)
        statuses.append(response.status_code)
    return statuses, seconds


async def test_hung_redis_costs_no_latency_and_limits_still_hold(
    private_redis: tuple[str, subprocess.Popen[bytes]], app_on: Any
) -> None:
    url, proc = private_redis
    client = await app_on(create_cache(url, timeout=0.25, retry_after=30), rate_limit="50/minute")
    assert (await client.get("/api/streams")).status_code == 200  # Redis answers: shared limiter
    os.kill(proc.pid, signal.SIGSTOP)  # hung: connections open, nothing answers
    before = _fallbacks()
    with structlog.testing.capture_logs() as logs:
        statuses, seconds = await _timed(client, 400)
    # One request per outage pays the timeout (then the breaker is open): p99 stays low.
    assert percentile(seconds, 99) < 0.1, sorted(seconds)[-5:]
    # The in-process limiter counts from zero (the Redis count is out of reach): 50 pass.
    assert statuses.count(200) == 50 and statuses[50:] == [429] * 350
    assert _fallbacks() - before == 400
    events = [e["event"] for e in logs]
    assert events.count("rate_limit_fallback") == 1
    assert "dependency_unavailable" in events


async def test_dead_redis_falls_back_to_the_in_process_limit(app_on: Any) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = await app_on(create_cache(dead, timeout=0.25), rate_limit="5/minute")
    before = _fallbacks()
    statuses, seconds = await _timed(client, 20)
    assert statuses == [200] * 5 + [429] * 15  # never "no limit"
    assert _fallbacks() - before == 20
    assert percentile(seconds, 90) < 0.1


async def test_the_cache_skips_a_hung_redis_without_waiting(
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = private_redis
    cache = create_cache(url, timeout=0.25, retry_after=0.5)
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return calls

    try:
        assert await cache.get_or_set("ns", "k", 30, compute) == 1
        assert await cache.get_or_set("ns", "k", 30, compute) == 1  # a hit
        os.kill(proc.pid, signal.SIGSTOP)
        started = time.perf_counter()
        await cache.get_or_set("ns", "k", 30, compute)  # notices (one timeout)
        first = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(50):
            await cache.get_or_set("ns", "k", 30, compute)
        rest = (time.perf_counter() - started) / 50
        assert first < 1.0 and rest < 0.01  # the breaker is open: no waiting at all
        assert isinstance(cache.backend, RedisBackend) and cache.backend.breaker.is_open
        os.kill(proc.pid, signal.SIGCONT)
        await asyncio.sleep(0.6)  # the breaker lets one probe through after retry_after
        await cache.get_or_set("ns", "k2", 30, compute)
        assert not cache.backend.breaker.is_open
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        await cache.close()
