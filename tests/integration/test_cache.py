"""The read cache: values and JSON texts, hits, misses and invalidation, on both backends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orbitpay.cache import Cache, MemoryBackend, RedisBackend


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        the_cache = Cache(MemoryBackend(), prefix="t")
    else:
        redis_url = request.getfixturevalue("redis_url")
        # This test's own key prefix, deleted when it ends (tests/conftest.py).
        the_cache = Cache(RedisBackend(redis_url), prefix=request.getfixturevalue("redis_keyspace"))
    yield the_cache
    await the_cache.close()


class Counter:
    def __init__(self, value: Any) -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        return self.value


VALUE = {"amount": "170141183460469231731687303715884105727", "points": [{"t": "x", "v": 0}]}


async def test_text_hit_is_the_stored_json_without_recomputing(cache: Cache) -> None:
    compute = Counter(VALUE)
    first = await cache.get_or_set_text("analytics", "k", 30, compute)
    second = await cache.get_or_set_text("analytics", "k", 30, compute)
    assert compute.calls == 1
    assert first == second
    assert json.loads(second) == VALUE
    assert " " not in second  # compact, as the API writes JSON
    # The same entry read as a value decodes to what was computed.
    assert await cache.get_or_set("analytics", "k", 30, compute) == VALUE
    assert compute.calls == 1


async def test_invalidation_makes_texts_stale(cache: Cache) -> None:
    compute = Counter({"n": 1})
    await cache.get_or_set_text("analytics", "k", 30, compute)
    compute.value = {"n": 2}
    await cache.invalidate("analytics")
    assert json.loads(await cache.get_or_set_text("analytics", "k", 30, compute)) == {"n": 2}
    assert compute.calls == 2


async def test_a_broken_backend_still_answers() -> None:
    class Broken(MemoryBackend):
        async def get(self, key: str) -> str | None:
            raise ConnectionError("down")

    broken = Cache(Broken())
    compute = Counter(VALUE)
    assert json.loads(await broken.get_or_set_text("analytics", "k", 30, compute)) == VALUE
    assert await broken.get_or_set("analytics", "k", 30, compute) == VALUE
    assert compute.calls == 2
