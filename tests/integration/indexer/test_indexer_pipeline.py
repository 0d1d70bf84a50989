"""The pipeline end to end on the devnet: lockstep groups, stop and resume, same tables.

The reference is one group of every contract read with big pages; the other
runs must leave every indexed table identical, row for row.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import aclosing
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import truncate_all
from tests.e2e.test_indexer_helpers import register_devnet_orgs, table_snapshot

from orbitpay.config import Settings, load_settings
from orbitpay.db.schema import indexer_cursors
from orbitpay.indexer import store
from orbitpay.indexer.pipeline import Indexer, Prepared
from orbitpay.indexer.sources import Batch, ChainHead, Group, Position, RpcSource, Source
from orbitpay.indexer.txfetch import TxFetcher, TxRef
from orbitpay.stellar.rpc import RpcClient, toid_parts

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module", params=["demo", "dense"])
def devnet(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The demo (sparse: few lockstep cuts) and a dense load chain (12 contracts, many cuts)."""
    from orbitpay.devnet.server import start_background_devnet

    if request.param == "demo":
        handle = start_background_devnet(scenario="demo", seed=2, live=False)
    else:
        handle = start_background_devnet(
            scenario="load", seed=3, live=False, organizations=3, events=1500
        )
    yield handle
    handle.stop()


async def _fresh(eng: AsyncEngine, devnet: Any) -> None:
    await truncate_all(eng)
    await register_devnet_orgs(eng, devnet.chain)


async def _sync(
    settings: Settings,
    eng: AsyncEngine,
    url: str,
    *,
    page_limit: int,
    stop: asyncio.Event | None = None,
    on_page: Any = None,
) -> dict[str, int]:
    """One ``Indexer.sync``; returns the RPC requests it made, by method."""
    async with RpcClient(url) as rpc:
        indexer = Indexer(settings, eng, rpc, page_limit=page_limit, on_page=on_page)
        await indexer.sync(stop)
        return dict(rpc.stats.by_method)


async def _reference(eng: AsyncEngine, devnet: Any, settings: Settings) -> Snapshot:
    await _fresh(eng, devnet)
    await _sync(settings, eng, devnet.url, page_limit=2000)
    async with eng.connect() as conn:
        cursors = (await conn.execute(select(indexer_cursors))).all()
    assert len(cursors) == 1 and cursors[0].last_ledger == devnet.chain.latest_ledger
    snap = await table_snapshot(eng)
    assert len(snap["events"]) > 200
    return snap


async def _split_into_groups(eng: AsyncEngine, devnet: Any) -> list[list[str]]:
    """Cursor rows that put the contracts into uneven groups (1, 2, 3, 1, ... contracts).

    Planning keeps existing cursor groups, so the indexer walks these.
    """
    every = sorted(c for org in devnet.chain.organizations() for c in org["contracts"].values())
    groups: list[list[str]] = []
    at, size = 0, 1
    while at < len(every):
        groups.append(every[at : at + size])
        at, size = at + size, size % 3 + 1
    async with eng.begin() as conn:
        for i, ids in enumerate(groups):
            await store.save_cursor(
                conn,
                f"split-{i}",
                contract_ids=ids,
                cursor=None,
                last_ledger=devnet.chain.oldest_ledger - 1,
                last_ledger_closed_at=None,
                latest_ledger=devnet.chain.latest_ledger,
            )
    return groups


async def test_groups_in_lockstep_with_small_pages_leave_the_same_tables(
    eng: AsyncEngine, database_url: str, devnet: Any
) -> None:
    settings = load_settings(database_url=database_url, rpc_url=devnet.url)
    reference = await _reference(eng, devnet, settings)

    await _fresh(eng, devnet)
    groups = await _split_into_groups(eng, devnet)
    batches: list[Prepared] = []
    requests = await _sync(settings, eng, devnet.url, page_limit=7, on_page=batches.append)
    assert await table_snapshot(eng) == reference
    # It really walked the groups in lockstep, with batches cut short of a page.
    names = {f"split-{i}" for i in range(len(groups))}
    assert len(names) >= 3 and {p.group.name for p in batches} == names
    assert any(0 < len(p.events) < 7 and p.cursor == p.events[-1].id for p in batches)
    assert requests["getEvents"] >= len(groups) * 3
    async with eng.connect() as conn:
        cursors = (await conn.execute(select(indexer_cursors))).all()
    assert {c.name: c.last_ledger for c in cursors} == dict.fromkeys(
        names, devnet.chain.latest_ledger
    )


async def test_stopping_between_rounds_and_resuming_leaves_the_same_tables(
    eng: AsyncEngine, database_url: str, devnet: Any
) -> None:
    settings = load_settings(database_url=database_url, rpc_url=devnet.url)
    reference = await _reference(eng, devnet, settings)

    await _fresh(eng, devnet)
    await _split_into_groups(eng, devnet)
    stops = 0
    while True:
        stop = asyncio.Event()
        seen: list[Prepared] = []

        def count(
            prepared: Prepared, seen: list[Prepared] = seen, stop: asyncio.Event = stop
        ) -> None:
            seen.append(prepared)
            if len(seen) >= 25:
                stop.set()  # the sync ends after the round in progress

        await _sync(settings, eng, devnet.url, page_limit=5, stop=stop, on_page=count)
        if not stop.is_set():
            break
        stops += 1
        assert stops < 100
    assert stops >= 3
    assert await table_snapshot(eng) == reference


class _Crash(Exception):
    pass


async def test_a_crash_right_after_a_cut_batch_resumes_inside_the_page(
    eng: AsyncEngine, database_url: str, devnet: Any
) -> None:
    settings = load_settings(database_url=database_url, rpc_url=devnet.url)
    reference = await _reference(eng, devnet, settings)

    await _fresh(eng, devnet)
    await _split_into_groups(eng, devnet)
    limit = 6
    crashes = 0
    while True:
        seen: list[Prepared] = []

        def crash(prepared: Prepared, seen: list[Prepared] = seen) -> None:
            # Called once the batch and its position are committed. A cut batch leaves
            # the rest of its page unhandled: the restart must resume inside that page.
            seen.append(prepared)
            cut = prepared.events and len(prepared.events) < limit
            if cut and prepared.cursor == prepared.events[-1].id:
                raise _Crash

        try:
            await _sync(settings, eng, devnet.url, page_limit=limit, on_page=crash)
            break
        except _Crash:
            crashes += 1
        assert crashes < 200
    assert crashes >= 1
    assert await table_snapshot(eng) == reference


class _WithTransactions:
    """A source that hands over each event's transaction with it, as the ledger data lake can.

    It reads through its own RPC client, so the indexer's client shows what the
    pipeline itself fetched.
    """

    def __init__(self, rpc: RpcClient) -> None:
        self.inner = RpcSource(rpc, page_limit=50)
        self.fetcher = TxFetcher(rpc)
        self.carried = 0

    async def head(self) -> ChainHead:
        return await self.inner.head()

    async def rounds(
        self,
        starts: Sequence[tuple[Group, Position]],
        *,
        head: ChainHead,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[list[Batch], None]:
        async with aclosing(self.inner.rounds(starts, head=head, stop=stop)) as rounds:
            async for batches in rounds:
                for b in batches:
                    refs = [
                        TxRef(e.tx_hash, e.ledger, toid_parts(int(e.id.split("-")[0]))[1])
                        for e in b.events
                        if e.tx_hash
                    ]
                    txs, errors = await self.fetcher.fetch(refs) if refs else ({}, {})
                    assert not errors
                    b.txs = txs
                    self.carried += len(txs)
                yield batches


async def test_a_source_that_carries_transactions_spares_the_transaction_fetch(
    eng: AsyncEngine, database_url: str, devnet: Any
) -> None:
    settings = load_settings(database_url=database_url, rpc_url=devnet.url)
    reference = await _reference(eng, devnet, settings)

    await _fresh(eng, devnet)
    async with RpcClient(devnet.url) as lake, RpcClient(devnet.url) as rpc:
        source = _WithTransactions(lake)
        typed: Source = source
        await Indexer(settings, eng, rpc, source=typed).sync()
        asked = dict(rpc.stats.by_method)
    assert source.carried > 50
    assert "getTransactions" not in asked and "getTransaction" not in asked
    assert await table_snapshot(eng) == reference
