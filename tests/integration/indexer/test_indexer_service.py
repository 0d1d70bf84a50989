"""The indexer against real PostgreSQL: advisory lock, gaps, cursors, status, the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.test_indexer_helpers import (
    comparable,
    diff,
    expected_state,
    indexed_state,
    register_devnet_orgs,
)

from orbitpay.config import ConfigError, load_settings
from orbitpay.db.schema import discrepancies, events, indexer_cursors, indexer_status, streams
from orbitpay.indexer import store
from orbitpay.indexer.lock import AdvisoryLock
from orbitpay.indexer.pipeline import GapError, is_db_outage
from orbitpay.indexer.service import index_until_latest, run_indexer


@pytest.fixture(scope="module")
def demo() -> Iterator[Any]:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="demo", seed=2, live=False)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def short_retention() -> Iterator[Any]:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="demo", seed=2, live=False, retention_ledgers=300_000)
    yield handle
    handle.stop()


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_advisory_lock_allows_one_holder(eng: AsyncEngine) -> None:
    first, second = AdvisoryLock(eng, key=4242), AdvisoryLock(eng, key=4242, retry_seconds=0.05)
    assert await first.try_acquire()
    assert not await second.try_acquire()
    stop = asyncio.Event()
    waiter = asyncio.create_task(second.acquire(stop))
    await asyncio.sleep(0.2)
    assert not waiter.done()  # standby
    assert await first.alive()
    await first.release()
    assert await asyncio.wait_for(waiter, 5) is True
    assert second.held
    await second.release()


async def test_run_indexer_waits_while_another_holds_the_lock(
    eng: AsyncEngine, database_url: str, demo: Any
) -> None:
    await register_devnet_orgs(eng, demo.chain)
    settings = load_settings(database_url=database_url, rpc_url=demo.url, poll_interval=0.2)
    other = AdvisoryLock(eng)
    assert await other.try_acquire()
    stop = asyncio.Event()
    task = asyncio.create_task(run_indexer(settings, eng, demo.url, stop))
    await asyncio.sleep(1.0)
    assert await _count(eng, events) == 0  # standby: nothing indexed
    await other.release()
    for _ in range(200):
        async with eng.connect() as conn:
            last = await conn.scalar(select(func.min(indexer_cursors.c.last_ledger)))
        if last == demo.chain.latest_ledger:
            break
        await asyncio.sleep(0.1)
    assert last == demo.chain.latest_ledger
    async with eng.connect() as conn:
        status = (await conn.execute(select(indexer_status))).one()
    assert status.rpc_status == "ok" and status.rpc_latest_ledger == demo.chain.latest_ledger
    stop.set()
    await asyncio.wait_for(task, 15)
    assert await _count(eng, events) > 0


async def test_gap_with_policy_stop_refuses_and_reports(
    eng: AsyncEngine, database_url: str, short_retention: Any
) -> None:
    chain = short_retention.chain
    await register_devnet_orgs(eng, chain)
    settings = load_settings(
        database_url=database_url, rpc_url=short_retention.url, start_ledger=chain.genesis_ledger
    )
    with pytest.raises(GapError, match="no longer served"):
        await index_until_latest(settings, eng, short_retention.url, progress=False)
    async with eng.connect() as conn:
        status = (await conn.execute(select(indexer_status))).one()
        cursor = (await conn.execute(select(indexer_cursors))).one()
    assert status.gap_from_ledger == chain.genesis_ledger
    assert status.gap_to_ledger == chain.oldest_ledger - 1
    assert cursor.last_ledger == chain.genesis_ledger - 1  # not moved past the gap
    assert await _count(eng, events) == 0


async def test_gap_with_policy_resume_records_it_and_continues(
    eng: AsyncEngine, database_url: str, short_retention: Any
) -> None:
    chain = short_retention.chain
    await register_devnet_orgs(eng, chain)
    settings = load_settings(
        database_url=database_url,
        rpc_url=short_retention.url,
        start_ledger=chain.genesis_ledger,
        gap_policy="resume",
    )
    await index_until_latest(settings, eng, short_retention.url, progress=False)
    async with eng.connect() as conn:
        gaps = (
            await conn.execute(select(discrepancies).where(discrepancies.c.source == "gap"))
        ).all()
        status = (await conn.execute(select(indexer_status))).one()
        first = await conn.scalar(select(func.min(events.c.ledger)))
        cursor = (await conn.execute(select(indexer_cursors))).one()
    assert len(gaps) == 1 and "skipped" in gaps[0].message
    assert status.gap_from_ledger == chain.genesis_ledger
    assert first is not None and first >= chain.oldest_ledger
    assert cursor.last_ledger == chain.latest_ledger
    # the missed history shows up as discrepancies (events about unknown entities), not guesses
    assert await _count(eng, discrepancies) > 1
    again = await index_until_latest(settings, eng, short_retention.url, progress=False)
    assert again.events == 0
    async with eng.connect() as conn:
        n = await conn.scalar(
            select(func.count()).select_from(discrepancies).where(discrepancies.c.source == "gap")
        )
    assert n == 1  # recorded once


async def test_cursor_moved_by_another_writer_is_refused(eng: AsyncEngine) -> None:
    async with eng.begin() as conn:
        await store.save_cursor(
            conn,
            "g-x",
            contract_ids=[],
            cursor="a",
            last_ledger=5,
            last_ledger_closed_at=None,
            latest_ledger=9,
        )
    async with eng.begin() as conn:
        await store.lock_cursor(conn, "g-x", "a")
    with pytest.raises(store.CursorMoved):
        async with eng.begin() as conn:
            await store.lock_cursor(conn, "g-x", "b")


async def test_bulk_statements_refuse_to_run_outside_the_page_transaction(eng: AsyncEngine) -> None:
    async with eng.connect() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await store.existing_event_ids(conn, ["x"])


async def test_replaying_a_page_changes_nothing(
    eng: AsyncEngine, database_url: str, demo: Any
) -> None:
    await register_devnet_orgs(eng, demo.chain)
    settings = load_settings(database_url=database_url, rpc_url=demo.url)
    await index_until_latest(settings, eng, demo.url, progress=False)
    async with eng.connect() as conn:
        before = (await conn.execute(select(streams).order_by(streams.c.stream_id))).all()
        n_events = await conn.scalar(select(func.count()).select_from(events))
    # forget the cursors: the next run re-reads the whole chain
    async with eng.begin() as conn:
        await conn.execute(text("DELETE FROM indexer_cursors"))
    again = await index_until_latest(settings, eng, demo.url, progress=False)
    assert again.events == n_events  # every event was read again...
    async with eng.connect() as conn:
        after = (await conn.execute(select(streams).order_by(streams.c.stream_id))).all()
        assert await conn.scalar(select(func.count()).select_from(events)) == n_events
    strip = [tuple(v for k, v in r._mapping.items() if k != "updated_at") for r in before]
    assert strip == [tuple(v for k, v in r._mapping.items() if k != "updated_at") for r in after]


async def test_passphrase_mismatch_raises_config_error(
    eng: AsyncEngine, database_url: str, demo: Any
) -> None:
    settings = load_settings(database_url=database_url, rpc_url=demo.url, network_passphrase="nope")
    with pytest.raises(ConfigError, match="ORBITPAY_NETWORK_PASSPHRASE"):
        await index_until_latest(settings, eng, demo.url, progress=False)


def test_database_outages_are_told_apart_from_bugs() -> None:
    import asyncpg
    import sqlalchemy.exc

    assert is_db_outage(ConnectionRefusedError())
    assert is_db_outage(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))
    assert is_db_outage(sqlalchemy.exc.OperationalError("x", {}, OSError("down")))
    assert not is_db_outage(sqlalchemy.exc.IntegrityError("x", {}, Exception("dup")))
    assert not is_db_outage(ValueError("bug"))


async def test_database_outage_pauses_and_resumes(eng: AsyncEngine, database_url: str) -> None:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="load", seed=11, live=False, events=5000)
    try:
        await register_devnet_orgs(eng, handle.chain)
        settings = load_settings(database_url=database_url, rpc_url=handle.url, poll_interval=0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(run_indexer(settings, eng, handle.url, stop, page_limit=150))
        db_name = database_url.rsplit("/", 1)[1]
        kills = 0
        for _ in range(600):
            if task.done():
                break
            n = await _count(eng, events)
            if n > 0 and kills < 3:
                # the database "restarts": every connection of the indexer is cut
                async with eng.connect() as conn:
                    await conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :d AND pid <> pg_backend_pid()"
                        ),
                        {"d": db_name},
                    )
                kills += 1
                await asyncio.sleep(0.5)
            async with eng.connect() as conn:
                last = await conn.scalar(select(func.min(indexer_cursors.c.last_ledger)))
            if kills == 3 and last == handle.chain.latest_ledger:
                break
            await asyncio.sleep(0.1)
        assert not task.done(), task.exception() if task.done() else None  # it kept running
        stop.set()
        await asyncio.wait_for(task, 30)
        assert kills == 3
        assert last == handle.chain.latest_ledger
        expected = expected_state(handle.chain.state_dump())
        assert diff(expected, comparable(await indexed_state(eng))) == []
    finally:
        handle.stop()


async def test_cursor_that_left_the_window_restarts_from_the_next_ledger(
    eng: AsyncEngine, database_url: str
) -> None:
    """The fully scanned cursor ledger leaves retention, the next one is kept: no gap.

    A real RPC refuses such a cursor (-32600); the indexer must resume from
    ``last_ledger + 1`` rather than retry the same request forever or report a gap.
    """
    from orbitpay.devnet.server import start_background_devnet
    from orbitpay.stellar.rpc import cursor_ledger

    retention = 800_000  # the whole demo history fits
    with start_background_devnet(
        scenario="demo", seed=4, live=False, retention_ledgers=retention
    ) as devnet:
        chain = devnet.chain
        await register_devnet_orgs(eng, chain)
        settings = load_settings(database_url=database_url, rpc_url=devnet.url)
        await index_until_latest(settings, eng, devnet.url, progress=False)
        async with eng.connect() as conn:
            cur = (await conn.execute(select(indexer_cursors))).one()
        at = cursor_ledger(cur.cursor)
        assert at is not None and at <= cur.last_ledger
        with chain.lock:
            chain.advance_to(chain.close_time(at + retention - 2))
            while chain.oldest_ledger < at + 1:
                chain.close_ledger()
        assert chain.oldest_ledger == at + 1 <= cur.last_ledger + 1
        again = await index_until_latest(settings, eng, devnet.url, progress=False)
    assert again.last_ledger == chain.latest_ledger
    async with eng.connect() as conn:
        gaps = await conn.scalar(
            select(func.count()).select_from(discrepancies).where(discrepancies.c.source == "gap")
        )
        status = (await conn.execute(select(indexer_status))).one()
    assert gaps == 0 and status.gap_from_ledger is None
