"""The API's read pool (``db/readpool.py``) against a real PostgreSQL.

It replaces ``asyncpg.Pool`` on every API read, so it must keep what the
routes relied on: a bound on connections, first-come-first-served waits, no
connection lost or leaked when a request is cancelled at any point, and no
broken connection handed out again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from hardening_kit import free_port
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.api.app import create_app
from orbitpay.api.errors import ApiError
from orbitpay.cache import Cache, MemoryBackend
from orbitpay.config import load_settings
from orbitpay.db.readpool import STATEMENT_TIMEOUT_MS, PoolClosed, ReadPool, read_pool


@pytest.fixture
def dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[ReadPool]:
    the_pool = ReadPool(dsn, 2)
    yield the_pool
    await the_pool.close()


async def _pid(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT pg_backend_pid()"))


async def _backend_alive(dsn: str, pid: int) -> bool:
    probe = await asyncpg.connect(dsn)
    try:
        return bool(
            await probe.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
        )
    finally:
        await probe.close()


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("the pool did not get there in time")
        await asyncio.sleep(0.01)


async def test_connections_are_bounded_and_reused(pool: ReadPool) -> None:
    in_use = 0
    peak = 0
    pids: set[int] = set()

    async def read() -> None:
        nonlocal in_use, peak
        async with pool.connection() as conn:
            in_use += 1
            peak = max(peak, in_use)
            pids.add(await _pid(conn))
            await conn.fetchval("SELECT pg_sleep(0.005)")
            in_use -= 1

    await asyncio.gather(*(read() for _ in range(40)))
    assert peak == 2
    assert len(pids) == 2  # two backends served all forty reads
    assert pool.open_slots == 2
    assert pool.idle == 2


async def test_waiters_are_served_in_arrival_order_without_barging(pool: ReadPool) -> None:
    first = await pool.acquire()
    second = await pool.acquire()
    order: list[int] = []

    async def wait(n: int) -> None:
        conn = await pool.acquire()
        order.append(n)
        await asyncio.sleep(0)
        pool.release(conn)

    waiters = []
    for n in range(5):
        waiters.append(asyncio.create_task(wait(n)))
        await asyncio.sleep(0)  # each one queues before the next is created
    pool.release(first)
    # A newcomer arriving right after the release must queue behind the five.
    late = asyncio.create_task(wait(99))
    pool.release(second)
    await asyncio.gather(*waiters, late)
    assert order == [0, 1, 2, 3, 4, 99]
    assert pool.open_slots == 2


@pytest.mark.parametrize(
    "handed_first", [False, True], ids=["cancelled-while-waiting", "cancelled-once-handed"]
)
async def test_a_cancelled_waiter_takes_nothing_with_it(pool: ReadPool, handed_first: bool) -> None:
    """Cancelled while queued, or just after a released connection was handed to it but
    before it ran: either way the next waiter gets the connection and nothing leaks."""
    held = [await pool.acquire(), await pool.acquire()]
    doomed = asyncio.create_task(pool.acquire())
    served = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)
    if handed_first:
        pool.release(held.pop())  # handed to `doomed`, which has not run yet ...
        doomed.cancel()  # ... and is cancelled before it does
    else:
        doomed.cancel()
        pool.release(held.pop())
    conn = await asyncio.wait_for(served, 5)
    assert doomed.cancelled()
    assert await conn.fetchval("SELECT 1") == 1
    pool.release(conn)
    pool.release(held.pop())
    assert pool.open_slots == 2
    assert pool.idle == 2


async def test_a_statement_cancelled_midway_retires_its_connection(
    pool: ReadPool, dsn: str
) -> None:
    started = asyncio.Event()
    pid = 0

    async def slow() -> None:
        nonlocal pid
        async with pool.connection() as conn:
            pid = await _pid(conn)
            started.set()
            await conn.fetchval("SELECT pg_sleep(30)")

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.idle == 0  # not returned to the idle set
    await _until(lambda: pool.open_slots == 0)  # retired: closed, its slot free
    # The server cancelled the statement: the backend is gone, not sleeping on for 30 s.
    assert not await _backend_alive(dsn, pid)
    async with pool.connection() as conn:
        assert await _pid(conn) != pid
        assert await conn.fetchval("SELECT 3") == 3


async def test_a_sql_error_leaves_the_connection_in_service(pool: ReadPool) -> None:
    async with pool.connection() as conn:
        pid = await _pid(conn)
    with pytest.raises(asyncpg.UndefinedTableError):
        async with pool.connection() as conn:
            await conn.fetch("SELECT * FROM no_such_table")
    async with pool.connection() as conn:
        assert await _pid(conn) == pid
    assert pool.open_slots == 1


async def test_a_route_error_leaves_the_connection_in_service(pool: ReadPool) -> None:
    with pytest.raises(ApiError):
        async with pool.connection() as conn:
            pid = await _pid(conn)
            raise ApiError(404, "not_found", "nothing here")
    async with pool.connection() as conn:
        assert await _pid(conn) == pid


async def test_a_timeout_retires_the_connection(pool: ReadPool) -> None:
    """A timeout may leave a statement running: the connection is not handed out again."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2), pool.connection() as conn:
            pid = await _pid(conn)
            await conn.fetchval("SELECT pg_sleep(30)")
    await _until(lambda: pool.open_slots == 0)
    async with pool.connection() as conn:
        assert await _pid(conn) != pid


async def test_a_backend_killed_while_idle_is_not_handed_out(pool: ReadPool, dsn: str) -> None:
    async with pool.connection() as conn:
        pid = await _pid(conn)
    killer = await asyncpg.connect(dsn)
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    for _ in range(50):
        if not await _backend_alive(dsn, pid):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)  # the client side sees the socket close
    async with pool.connection() as conn:
        assert await _pid(conn) != pid
    assert pool.open_slots == 1


async def test_a_backend_killed_midway_fails_that_read_only(pool: ReadPool, dsn: str) -> None:
    async with pool.connection() as conn:
        pid = await _pid(conn)

    async def doomed() -> None:
        async with pool.connection() as conn:
            await conn.fetchval("SELECT pg_sleep(30)")

    task = asyncio.create_task(doomed())
    await asyncio.sleep(0.2)
    killer = await asyncpg.connect(dsn)
    try:
        await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        await asyncio.wait_for(task, 10)
    async with pool.connection() as conn:
        assert await conn.fetchval("SELECT 4") == 4
        assert await _pid(conn) != pid
    assert pool.open_slots == 1


async def test_a_failed_connect_frees_its_slot_for_the_next_request() -> None:
    pool = ReadPool(f"postgresql://postgres@127.0.0.1:{free_port()}/none", 1)
    for _ in range(3):
        with pytest.raises(OSError):
            await pool.acquire()
        assert pool.open_slots == 0
    await pool.close()


async def test_read_pool_takes_any_url_form_and_sets_the_statement_timeout(
    engine: AsyncEngine,
) -> None:
    pool = read_pool(engine.url, 3)  # postgresql+asyncpg://... as the engine has it
    try:
        assert pool.size == 3 and pool.open_slots == 0  # nothing opened until a read
        async with pool.connection() as conn:
            timeout_ms = await conn.fetchval(
                "SELECT (extract(epoch FROM current_setting('statement_timeout')::interval)"
                " * 1000)::int"
            )
        assert timeout_ms == STATEMENT_TIMEOUT_MS
    finally:
        await pool.close()


async def test_close_retires_idle_and_in_use_connections(dsn: str) -> None:
    pool = ReadPool(dsn, 2)
    first, second = await pool.acquire(), await pool.acquire()
    pool.release(second)
    waiters = [asyncio.create_task(pool.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    # The first waiter took the idle connection; the second is waiting.
    assert waiters[0].done() and waiters[0].result() is second
    await pool.close()
    with pytest.raises(PoolClosed):
        await waiters[1]
    with pytest.raises(PoolClosed):
        await pool.acquire()
    for conn in (first, second):
        pool.release(conn)  # released after close: closed, not kept
    await _until(lambda: first.is_closed() and second.is_closed())
    assert pool.idle == 0
    assert pool.open_slots == 0


async def test_the_app_opens_its_pool_with_the_settings_size_and_closes_it(
    engine: AsyncEngine,
) -> None:
    settings = load_settings(api_read_connections=3)
    app = create_app(settings, engine=engine, cache=Cache(MemoryBackend()))
    async with app.router.lifespan_context(app):
        pool: ReadPool = app.state.resources.reads
        assert pool.size == 3
        async with pool.connection() as conn:
            assert await conn.fetchval("SELECT 1") == 1
        assert pool.idle == 1
    assert pool.closed and pool.open_slots == 0


async def test_close_closes_idle_connections(dsn: str) -> None:
    pool = ReadPool(dsn, 2)
    conn = await pool.acquire()
    pool.release(conn)
    await pool.close()
    assert conn.is_closed()
    assert pool.open_slots == 0


async def test_a_request_cancelled_while_connecting_frees_its_slot(dsn: str) -> None:
    pool = ReadPool(dsn, 1)
    try:
        opening = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)  # the task took the slot and is connecting
        assert pool.open_slots == 1
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        assert pool.open_slots == 0
        async with pool.connection() as conn:  # the slot is usable again
            assert await conn.fetchval("SELECT 5") == 5
    finally:
        await pool.close()


async def test_a_waiter_reopens_the_slot_of_a_retired_connection(dsn: str) -> None:
    pool = ReadPool(dsn, 1)
    try:
        held = await pool.acquire()
        old_pid = await _pid(held)
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        assert not waiter.done()
        pool.release(held, reusable=False)  # retired: closed, then its slot is handed on
        conn = await asyncio.wait_for(waiter, 5)
        assert held.is_closed()
        assert await _pid(conn) != old_pid
        assert pool.open_slots == 1
        pool.release(conn)
    finally:
        await pool.close()


async def test_metrics_show_the_pools_state_at_scrape_time(dsn: str) -> None:
    from orbitpay.observability.metrics import REGISTRY

    def sample(name: str, **labels: str) -> float:
        value = REGISTRY.get_sample_value(name, labels)
        assert value is not None, name
        return value

    base_open = sample("orbitpay_api_read_pool_connections", state="open")
    base_retired = sample("orbitpay_api_read_pool_retired_total")
    pool = ReadPool(dsn, 2)
    try:
        first, second = await pool.acquire(), await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        assert sample("orbitpay_api_read_pool_connections", state="open") == base_open + 2
        assert sample("orbitpay_api_read_pool_waiting") >= 1
        pool.release(first, reusable=False)
        assert sample("orbitpay_api_read_pool_retired_total") == base_retired + 1
        pool.release(await asyncio.wait_for(waiter, 5))
        pool.release(second)
        assert sample("orbitpay_api_read_pool_waiting") == 0
        assert sample("orbitpay_api_read_pool_connections", state="idle") >= 2
    finally:
        await pool.close()
    assert sample("orbitpay_api_read_pool_connections", state="open") == base_open
