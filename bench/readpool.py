"""Read pool benchmark: :class:`orbitpay.db.readpool.ReadPool` against ``asyncpg.Pool``.

    .venv/bin/python bench/readpool.py

The API's reads once used ``asyncpg.Pool`` behind a FIFO ``asyncio.Semaphore``
(the pool's own queue lets newcomers barge past waiters) and ``ReadPool``
replaced both. That comparison used the pool's default ``reset``: on every
release asyncpg sends ``Connection.get_reset_query()`` (``pg_advisory_unlock_all();
CLOSE ALL; UNLISTEN *; RESET ALL``), a server round trip per request. Two
documented ways skip it, and both are measured here:

- ``create_pool(reset=<async no-op>)``: with a ``reset`` callable the pool runs
  ``Connection._reset()`` (a ``ROLLBACK`` only if a transaction was left open)
  and then the callable, never the reset query (``reset=""`` is not accepted:
  the pool calls it);
- ``create_pool(connection_class=C)`` where ``C.get_reset_query()`` returns
  ``""``: ``Connection.reset()`` skips an empty query.

Both also get ``max_inactive_connection_lifetime=0`` (no idle timer re-armed
on every release), the settings an API read pool would use. This measures, in
one run on the same event loop (uvloop, as ``orbitpay api`` runs) and the
same PostgreSQL, interleaved, the CPU each costs the API process per request
with ``TASKS`` concurrent tasks sharing ``SIZE`` connections:

1. acquire + release only (the pool's own overhead);
2. acquire + one single-row ``SELECT`` + release (a request's database part).

CPU is the process's own (``time.process_time``), so PostgreSQL's share does
not blur the comparison; the wall time is printed too, and each figure's ratio
to ``ReadPool`` (above 1.00: ``ReadPool`` is cheaper). The admin URL defaults
to ``ORBITPAY_TEST_ADMIN_DATABASE_URL`` or the local ``postgres`` superuser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import uvloop
from asyncpg.pool import PoolConnectionProxy

from orbitpay.db.readpool import ReadPool

ADMIN_URL = os.environ.get(
    "ORBITPAY_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SIZE = 4
TASKS = 32
QUERY = "SELECT $1::int + 1"

Op = Callable[[int], Awaitable[None]]
Leased = asyncpg.Connection | PoolConnectionProxy
Lease = Callable[[], AbstractAsyncContextManager[Leased]]


async def _no_reset(conn: asyncpg.Connection) -> None:
    """A ``reset`` for ``create_pool`` that sends nothing to the server."""


class NoResetConnection(asyncpg.Connection):
    """A connection whose pool reset query is empty (``Connection.reset`` then skips it)."""

    def get_reset_query(self) -> str:
        return ""


async def measure(op: Op, count: int) -> tuple[float, float]:
    """``(CPU us per op, wall us per op)`` of ``count`` ops over ``TASKS`` tasks."""
    todo = iter(range(count))

    async def worker() -> None:
        for i in todo:
            await op(i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return 1e6 * cpu / count, 1e6 * wall / count


def gated(pool: asyncpg.Pool) -> Lease:
    """``pool.acquire()`` behind a FIFO semaphore of the pool's size (no barging)."""
    gate = asyncio.Semaphore(SIZE)

    @asynccontextmanager
    async def lease() -> AsyncIterator[Leased]:
        async with gate, pool.acquire() as conn:
            yield conn

    return lease


def ops(lease: Lease) -> tuple[Op, Op]:
    """The two measured operations over one way of leasing a connection."""

    async def acquire(_: int) -> None:
        async with lease():
            pass

    async def query(i: int) -> None:
        async with lease() as conn:
            await conn.fetchval(QUERY, i)

    return acquire, query


async def run(url: str, count: int, rounds: int) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    # max_inactive_connection_lifetime=0: no idle timer re-armed on every release.
    pools = {
        "asyncpg.Pool default reset + gate": await asyncpg.create_pool(
            dsn, min_size=SIZE, max_size=SIZE
        ),
        "asyncpg.Pool reset=no-op + gate": await asyncpg.create_pool(
            dsn, min_size=SIZE, max_size=SIZE, max_inactive_connection_lifetime=0, reset=_no_reset
        ),
        "asyncpg.Pool get_reset_query='' + gate": await asyncpg.create_pool(
            dsn,
            min_size=SIZE,
            max_size=SIZE,
            max_inactive_connection_lifetime=0,
            connection_class=NoResetConnection,
        ),
    }
    ours = ReadPool(dsn, SIZE)
    warm = [await ours.acquire() for _ in range(SIZE)]  # open all up front, like min_size
    for conn in warm:
        ours.release(conn)
    leases: dict[str, Lease] = {"ReadPool": ours.connection}
    leases.update({name: gated(pool) for name, pool in pools.items()})
    # For reference only: without the gate, waiters can be overtaken (no FIFO order).
    leases["asyncpg.Pool reset=no-op, no gate"] = pools["asyncpg.Pool reset=no-op + gate"].acquire

    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for _ in range(rounds):  # interleaved, best of the rounds
            for name, lease in leases.items():
                acquire, query = ops(lease)
                for kind, op, n in (
                    ("acquire+release", acquire, count),
                    ("acquire+SELECT+release", query, count // 4),
                ):
                    results.setdefault((kind, name), []).append(await measure(op, n))
    finally:
        for pool in pools.values():
            await pool.close()
        await ours.close()

    print(f"\n{TASKS} tasks, {SIZE} connections, uvloop; best of {rounds} interleaved rounds")
    best = {key: min(runs) for key, runs in results.items()}
    for kind in ("acquire+release", "acquire+SELECT+release"):
        base_cpu, base_wall = best[(kind, "ReadPool")]
        header = (
            f"{kind:<40} {'CPU us/op':>10} {'x ReadPool':>10} {'wall us/op':>11} {'x ReadPool':>10}"
        )
        print(f"\n{header}\n{'-' * len(header)}")
        for name in leases:
            cpu, wall = best[(kind, name)]
            print(
                f"{name:<40} {cpu:>10.1f} {cpu / base_cpu:>10.2f}"
                f" {wall:>11.1f} {wall / base_wall:>10.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", default=ADMIN_URL, help="any PostgreSQL database")
    parser.add_argument("--count", type=int, default=40_000, help="acquires per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uvloop.run(run(args.url, args.count, args.rounds))


if __name__ == "__main__":
    main()
