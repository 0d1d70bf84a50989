"""Cache invalidation over PostgreSQL LISTEN/NOTIFY: a writer process, an API cache, no Redis.

The "API" side is this process: an in-process cache gated on a real
:class:`~orbitpay.notify.ChangeListener`. The "indexer" side is a separate Python
process that commits a change and announces it with :func:`orbitpay.notify.publish`,
the call the indexer's pipeline makes inside each page's transaction.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from orbitpay.api.app import create_app
from orbitpay.cache import NAMESPACE_OF, Cache, MemoryBackend, namespaces_for
from orbitpay.config import load_settings
from orbitpay.indexer.model import Changed
from orbitpay.notify import (
    APPLICATION_NAME,
    EVERYTHING,
    ChangeListener,
    namespaces_in,
    payload_for,
    plain_dsn,
)

# The invalidation must reach the API's cache within this long of the writer's commit.
BOUND_SECONDS = 1.0

WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from sqlalchemy import text
    from orbitpay.db.engine import create_engine
    from orbitpay.indexer.model import Changed
    from orbitpay import notify

    async def main(url, table, value, announce):
        engine = create_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(text(f"UPDATE {table} SET v = :v"), {"v": value})
            if announce:
                await notify.publish(conn, [Changed.PAYROLL])
        print(time.time(), flush=True)  # committed
        await engine.dispose()

    url, table, value, announce = sys.argv[1:]
    asyncio.run(main(url, table, int(value), announce == "1"))
    """
)


async def _write(database_url: str, table: str, value: int, *, announce: bool) -> float:
    """Run the writer process (without blocking this loop: the listener must keep
    proving its connection alive meanwhile); the wall-clock time of its commit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        database_url,
        table,
        str(value),
        "1" if announce else "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    # The commit's time as soon as it is printed (the process then takes a while to exit).
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    _out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0 and line, err.decode()
    return float(line.decode())


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A one-row table private to the test, and a connection to read it."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    table = f"notify_probe_{uuid.uuid4().hex[:12]}"
    await conn.execute(f"CREATE TABLE {table} (v integer NOT NULL)")
    await conn.execute(f"INSERT INTO {table} VALUES (1)")
    try:
        yield conn, table
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


@pytest.fixture
async def listening(database_url: str) -> AsyncIterator[tuple[Cache, ChangeListener]]:
    cache = Cache(MemoryBackend())
    listener = ChangeListener(plain_dsn(database_url), cache, keepalive=0.2, probe_timeout=5.0)
    await listener.start()
    assert listener.live, "the listener did not connect"
    try:
        yield cache, listener
    finally:
        await listener.close()
        await cache.close()


class Reader:
    """An API-style cached read of the probe table, counting recomputations."""

    def __init__(self, cache: Cache, conn: asyncpg.Connection, table: str) -> None:
        self.cache, self.conn, self.table, self.computed = cache, conn, table, 0

    async def __call__(self) -> Any:
        async def compute() -> int:
            self.computed += 1
            return int(await self.conn.fetchval(f"SELECT v FROM {self.table}"))

        return await self.cache.get_or_set("streams", "probe", 30, compute)


async def _eventually(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` every 10 ms for up to ``seconds``."""
    for _ in range(int(seconds * 100)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def _until(read: Reader, want: int, deadline: float) -> float:
    """Read until the value is ``want``; the wall-clock time it was first seen."""
    while time.monotonic() < deadline:
        if await read() == want:
            return time.time()
        await asyncio.sleep(0.01)
    raise AssertionError(f"still not {want} at the deadline (last {await read()})")


async def test_a_commit_in_another_process_invalidates_the_cache_within_the_bound(
    probe: tuple[asyncpg.Connection, str],
    listening: tuple[Cache, ChangeListener],
    database_url: str,
) -> None:
    conn, table = probe
    cache, listener = listening
    read = Reader(cache, conn, table)
    assert await read() == 1
    assert await read() == 1
    assert read.computed == 1  # cached

    # A commit nobody announces is not seen: the cache really is serving the old value.
    await _write(database_url, table, 2, announce=False)
    assert await read() == 1

    # The same kind of commit, announced as the indexer does: seen within the bound.
    writing = asyncio.create_task(_write(database_url, table, 3, announce=True))
    seen = await _until(read, 3, time.monotonic() + 60)
    committed = await writing
    print(f"invalidated {seen - committed:.3f} s after the commit")
    assert seen - committed < BOUND_SECONDS, seen - committed
    assert listener.received >= 1 and listener.connections == 1
    computed = read.computed
    assert await read() == 3 and read.computed == computed  # cached again


async def test_a_lost_listener_bypasses_the_cache_and_starts_a_new_epoch(
    probe: tuple[asyncpg.Connection, str],
    listening: tuple[Cache, ChangeListener],
    database_url: str,
) -> None:
    conn, table = probe
    cache, listener = listening
    read = Reader(cache, conn, table)
    assert await read() == 1
    # Cut the listening connection, then commit an announced change while nobody listens.
    killed = await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME,
    )
    assert killed == 1
    assert await _eventually(lambda: not listener.live, 2)
    assert not cache.serving
    await conn.execute(f"UPDATE {table} SET v = 5")
    # Down: every read computes (never the stale 1), and nothing is kept.
    before = read.computed
    assert await read() == 5 and await read() == 5
    assert read.computed == before + 2
    # Back (reconnects by itself): the old epoch's values are gone, caching resumes.
    assert await _eventually(lambda: listener.live, 10)
    assert cache.serving and listener.connections == 2
    assert await read() == 5
    computed = read.computed
    assert await read() == 5 and read.computed == computed


async def test_a_listener_without_a_database_bypasses_until_it_connects() -> None:
    cache = Cache(MemoryBackend())
    listener = ChangeListener("postgresql://nobody@127.0.0.1:1/none", cache)
    await listener.start(wait=5)
    try:
        assert not listener.live and not cache.serving
        calls = 0

        async def compute() -> int:
            nonlocal calls
            calls += 1
            return calls

        assert await cache.get_or_set("events", "k", 30, compute) == 1
        assert await cache.get_or_set("events", "k", 30, compute) == 2
    finally:
        await listener.close()


async def test_the_api_listens_when_its_cache_is_per_process(database_url: str) -> None:
    cache = Cache(MemoryBackend())
    app = create_app(
        load_settings(database_url=database_url), database_url=database_url, cache=cache
    )
    async with app.router.lifespan_context(app):
        assert cache.serving  # listening before the first request
        probe = await asyncpg.connect(plain_dsn(database_url))
        try:
            listeners = await probe.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME,
            )
        finally:
            await probe.close()
        assert listeners >= 1
    assert not cache.serving  # stopped with the app: nothing may be served unwatched


def test_payloads_name_families_and_unknown_ones_invalidate_everything() -> None:
    assert payload_for({Changed.PAYROLL, Changed.EVENTS}) == "events,payroll"
    assert namespaces_in("events,payroll") == namespaces_for({Changed.EVENTS, Changed.PAYROLL})
    everything = namespaces_for(NAMESPACE_OF)
    assert namespaces_in(EVERYTHING) == everything
    assert namespaces_in("payroll,some_future_family") == everything
    assert namespaces_in("") == []
