"""Read pool benchmark: ``asyncpg.Pool`` against :class:`orbitpay.api.readpool.ReadPool`.

    .venv/bin/python bench/readpool.py

The list routes used ``asyncpg.Pool`` behind a FIFO ``asyncio.Semaphore`` (the
pool's own queue lets newcomers barge past waiters). ``ReadPool`` replaced both.
This measures, in one run on the same event loop (uvloop, as ``orbitpay api``
runs) and the same PostgreSQL, the CPU each costs the API process per request
with 32 concurrent tasks sharing 4 connections:

1. acquire + release only (the pool's own overhead);
2. acquire + one single-row ``SELECT`` + release (a request's database part).

CPU is the process's own (``time.process_time``), so PostgreSQL's share does
not blur the comparison; the wall time is printed too. The admin URL defaults
to ``ORBITPAY_TEST_ADMIN_DATABASE_URL`` or the local ``postgres`` superuser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import asyncpg
import uvloop

from orbitpay.api.readpool import ReadPool

ADMIN_URL = os.environ.get(
    "ORBITPAY_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SIZE = 4
TASKS = 32
QUERY = "SELECT $1::int + 1"


async def measure(
    label: str, op: Callable[[int], Awaitable[None]], count: int
) -> tuple[str, float, float]:
    """``(label, CPU us per op, wall us per op)`` of ``count`` ops over ``TASKS`` tasks."""
    todo = iter(range(count))

    async def worker() -> None:
        for i in todo:
            await op(i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return label, 1e6 * cpu / count, 1e6 * wall / count


async def run(url: str, count: int, rounds: int) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    theirs = await asyncpg.create_pool(dsn, min_size=SIZE, max_size=SIZE)
    gate = asyncio.Semaphore(SIZE)
    ours = ReadPool(dsn, SIZE)
    warm = [await ours.acquire() for _ in range(SIZE)]  # open all four up front, like min_size
    for conn in warm:
        ours.release(conn)

    async def asyncpg_acquire(_: int) -> None:
        async with gate, theirs.acquire():
            pass

    async def readpool_acquire(_: int) -> None:
        async with ours.connection():
            pass

    async def asyncpg_query(i: int) -> None:
        async with gate, theirs.acquire() as conn:
            await conn.fetchval(QUERY, i)

    async def readpool_query(i: int) -> None:
        async with ours.connection() as conn:
            await conn.fetchval(QUERY, i)

    try:
        results: dict[str, list[tuple[float, float]]] = {}
        for _ in range(rounds):  # interleaved, best of the rounds
            for label, op, n in (
                ("acquire+release: asyncpg.Pool + FIFO gate", asyncpg_acquire, count),
                ("acquire+release: ReadPool", readpool_acquire, count),
                ("acquire+SELECT+release: asyncpg.Pool + gate", asyncpg_query, count // 4),
                ("acquire+SELECT+release: ReadPool", readpool_query, count // 4),
            ):
                name, cpu, wall = await measure(label, op, n)
                results.setdefault(name, []).append((cpu, wall))
    finally:
        await theirs.close()
        await ours.close()

    print(f"\n{TASKS} tasks, {SIZE} connections, uvloop; best of {rounds} interleaved rounds\n")
    header = f"{'operation':<46} {'CPU us/op':>10} {'wall us/op':>11}"
    print(header)
    print("-" * len(header))
    best = {name: min(runs) for name, runs in results.items()}
    for name, (cpu, wall) in best.items():
        print(f"{name:<46} {cpu:>10.1f} {wall:>11.1f}")
    names = list(best)
    for theirs_name, ours_name in ((names[0], names[1]), (names[2], names[3])):
        saved = best[theirs_name][0] - best[ours_name][0]
        ratio = best[theirs_name][0] / best[ours_name][0]
        print(f"\n{ours_name}: {saved:.1f} us less CPU per request ({ratio:.2f}x)")


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
