"""``orbitpay backfill`` below the indexed range: ranges claimed from PostgreSQL, resumable.

The devnet's RPC keeps ~5 days of the demo; the index is built from it
(bootstrapped rows for what is older). A backfill then reads the whole older
history from the lake in history mode: history rows appear, and every entity's
state stays equal to the devnet's dump. An interrupted backfill resumed by
another worker, and two workers splitting the ranges, leave the very same
tables as one uninterrupted worker, and no range is done twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import truncate_all
from tests.e2e.test_indexer_helpers import (
    expected_state,
    indexed_state,
    register_devnet_orgs,
    table_snapshot,
)

from orbitpay.config import Settings, load_settings
from orbitpay.db.schema import backfill_ranges, discrepancies, events
from orbitpay.devnet.server import DevnetHandle, start_background_devnet
from orbitpay.indexer.backfill import Backfiller, prepare_backfill
from orbitpay.indexer.service import index_until_latest
from orbitpay.stellar.datalake import DataLake
from orbitpay.stellar.rpc import RpcClient

SECTIONS = ("withdrawals", "streams", "schedules", "members")


async def _indexed(eng: AsyncEngine, database_url: str, dn: DevnetHandle) -> Settings:
    await register_devnet_orgs(eng, dn.chain)
    settings = load_settings(database_url=database_url, rpc_url=dn.url)
    await index_until_latest(settings, eng, dn.url, progress=False)
    return settings


async def _backfill(
    eng: AsyncEngine,
    settings: Settings,
    dn: DevnetHandle,
    lake_dir: Path,
    *,
    workers: int = 1,
    interrupt_after: int | None = None,
) -> list[list[int]]:
    """Plan from genesis, run the workers; ``interrupt_after`` commits, the first one stops
    (as if killed) and a second worker takes its claim over once it is stale."""
    chain = dn.chain
    async with (
        DataLake(lake_dir.as_uri(), network_passphrase=chain.network_passphrase) as lake,
        RpcClient(dn.url) as rpc,
    ):
        await prepare_backfill(
            eng, lake, str(chain.genesis_ledger), None, None, chain.oldest_ledger
        )
        done: list[list[int]] = []
        if interrupt_after is not None:
            stop = asyncio.Event()
            commits = 0

            def count(_: int, __: int) -> None:
                nonlocal commits
                commits += 1
                if commits >= interrupt_after:
                    stop.set()

            first = Backfiller(settings, eng, rpc, lake, worker="a", progress=count)
            await first.work(stop)
            async with eng.connect() as conn:
                open_ = (
                    await conn.execute(
                        select(backfill_ranges.c.id).where(backfill_ranges.c.state == "claimed")
                    )
                ).all()
            assert len(open_) == 1  # the interrupted range, part-way
            done.append(first.ranges_done)
            second = Backfiller(settings, eng, rpc, lake, worker="b", stale=0.0)
            await second.work()
            done.append(second.ranges_done)
            return done
        crew = [
            Backfiller(settings, eng, rpc, lake, worker=f"w{i}", round_ledgers=5_000)
            for i in range(workers)
        ]
        await asyncio.gather(*(w.work() for w in crew))
        return [w.ranges_done for w in crew]


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Equal tables, or the differing rows of the first table that differs."""
    for table in want:
        if got[table] != want[table]:
            extra = sorted(set(map(repr, got[table])) - set(map(repr, want[table])))
            lost = sorted(set(map(repr, want[table])) - set(map(repr, got[table])))
            raise AssertionError(f"{table}: got {extra[:3]} want {lost[:3]}")


async def _state_equals_dump(eng: AsyncEngine, dn: DevnetHandle) -> None:
    state = await indexed_state(eng)
    expected = expected_state(dn.chain.state_dump())
    for section in SECTIONS:
        assert state[section] == expected[section], section


async def test_backfill_adds_history_keeps_state_and_resumes_identically(
    eng: AsyncEngine, database_url: str, short: DevnetHandle, lake_dir: Path
) -> None:
    chain = short.chain
    settings = await _indexed(eng, database_url, short)
    async with eng.connect() as conn:
        before = len((await conn.execute(select(events.c.id))).all())
    done = await _backfill(eng, settings, short, lake_dir)
    reference = await table_snapshot(eng)
    async with eng.connect() as conn:
        ledgers = [r[0] for r in await conn.execute(select(events.c.ledger))]
        messages = [r[0] for r in await conn.execute(select(discrepancies.c.message))]
        states = {r[0] for r in await conn.execute(select(backfill_ranges.c.state))}
    assert len(ledgers) > before and min(ledgers) < chain.oldest_ledger
    assert states == {"done"} and len(done[0]) >= 5
    assert not [m for m in messages if "older than the row" in m or "which is not indexed" in m]
    await _state_equals_dump(eng, short)
    # Nothing new on a rerun: every range is done.
    assert await _backfill(eng, settings, short, lake_dir) == [[]]
    _same(await table_snapshot(eng), reference)

    # Interrupted part-way through a range, taken over by another worker: same tables.
    await truncate_all(eng)
    settings = await _indexed(eng, database_url, short)
    a, b = await _backfill(eng, settings, short, lake_dir, interrupt_after=3)
    assert not set(a) & set(b)
    _same(await table_snapshot(eng), reference)

    # Two workers at once: every range done once, same tables.
    await truncate_all(eng)
    settings = await _indexed(eng, database_url, short)
    w0, w1 = await _backfill(eng, settings, short, lake_dir, workers=2)
    assert not set(w0) & set(w1) and w0 and w1
    async with eng.connect() as conn:
        total = len((await conn.execute(select(backfill_ranges.c.id))).all())
    assert len(w0) + len(w1) == total
    _same(await table_snapshot(eng), reference)


@pytest.mark.parametrize("offset", [0, 1, 999, 1000, 12_345, 300_000])
async def test_since_a_date_is_the_first_ledger_closed_at_or_after_it(
    short: DevnetHandle, lake_dir: Path, offset: int
) -> None:
    from datetime import UTC, datetime, timedelta

    from orbitpay.indexer.backfill import resolve_since

    chain = short.chain
    ledger = chain.genesis_ledger + offset
    closed = datetime.fromtimestamp(chain.close_time(ledger), UTC)
    until = chain.oldest_ledger
    async with DataLake(lake_dir.as_uri(), network_passphrase=chain.network_passphrase) as lake:
        assert await resolve_since(lake, closed.isoformat(), until) == ledger
        # A moment after the previous ledger closed is still this ledger.
        if offset:
            before = datetime.fromtimestamp(chain.close_time(ledger - 1), UTC)
            later = (before + timedelta(seconds=1)).isoformat()
            assert await resolve_since(lake, later, until) == ledger
        assert await resolve_since(lake, str(ledger), until) == ledger


async def test_rpc_index_then_backfill_equals_a_full_retention_run_but_for_the_documented(
    eng: AsyncEngine, database_url: str, short: DevnetHandle, lake_dir: Path
) -> None:
    """Row for row, except what ledger state cannot say and history mode cannot rebuild:

    - ``origin`` and ``state_ledger`` (provenance: these rows were read from ledger state);
    - ``governance_members.added_ledger`` / ``last_ledger`` (the instance entry has the
      member list, not when each joined);
    - the ``cancel`` payout of a stream cancelled before the RPC's window (its amount is
      what had accrued minus what was claimed *before* the cancellation, which the final
      row no longer tells; workers read ranges in any order);
    - the reconciliation's and bootstrap's own ``discrepancies`` rows.
    """
    from sqlalchemy import text

    skip = {"origin", "state_ledger"}

    async def rows() -> dict[str, set[str]]:
        snap: dict[str, set[str]] = {}
        async with eng.connect() as conn:
            for table in (
                "events",
                "treasury_events",
                "withdrawals",
                "withdrawal_approvals",
                "streams",
                "stream_claims",
                "vesting_schedules",
                "vesting_claims",
                "proposals",
                "votes",
            ):
                cols = [
                    r[0]
                    for r in await conn.execute(
                        text(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = :t ORDER BY ordinal_position"
                        ),
                        {"t": table},
                    )
                    if r[0] not in skip | {"indexed_at", "updated_at"}
                ]
                quoted = ", ".join(f'"{c}"' for c in cols)
                result = await conn.execute(text(f'SELECT {quoted} FROM "{table}"'))
                snap[table] = {repr(tuple(r)) for r in result}
        return snap

    with start_background_devnet("demo", seed=1, live=False, ledger_changes=True) as full:
        await register_devnet_orgs(eng, full.chain)
        s = load_settings(database_url=database_url, rpc_url=full.url)
        await index_until_latest(s, eng, full.url, progress=False)
    want = await rows()
    await truncate_all(eng)
    settings = await _indexed(eng, database_url, short)
    await _backfill(eng, settings, short, lake_dir)
    got = await rows()
    for table in want:
        if table == "stream_claims":
            assert got[table] <= want[table]
            lost = [r for r in want[table] - got[table] if "'cancel'" not in r]
            assert not lost, lost[:3]
            continue
        assert got[table] == want[table], (
            table,
            sorted(got[table] - want[table])[:2],
            sorted(want[table] - got[table])[:2],
        )
