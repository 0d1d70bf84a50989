"""Network resets: a different chain behind the RPC URL is never mixed with the indexed one.

Chain A is the demo plus 200 ledgers of live activity (as if `make run` had run
for a while); chain B is the demo rebuilt: younger, so the RPC's latest ledger
is below A's cursor (what a testnet reset or a rebuilt devnet looks like).
``ORBITPAY_ON_NETWORK_RESET=stop`` refuses with one line and changes nothing;
``reindex`` deletes A's rows and indexes B from the start. A stored ledger
hashing differently is a reset too. And ``make run``'s restart: the built-in
devnet is a new chain each time, so the demo database starts over and the
indexer is healthy again within a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.test_indexer_helpers import (
    expected_state,
    indexed_state,
    register_devnet_orgs,
    table_snapshot,
)

from orbitpay.api.app import create_app
from orbitpay.cache import Cache, MemoryBackend
from orbitpay.config import load_settings
from orbitpay.db.schema import api_keys, contracts, events, indexer_cursors, organizations
from orbitpay.devnet.scenarios import live_stepper
from orbitpay.devnet.server import DevnetHandle, start_background_devnet
from orbitpay.indexer.chain import NetworkReset
from orbitpay.indexer.service import index_until_latest, run_indexer
from orbitpay.observability.metrics import NETWORK_RESETS


def _advance(handle: DevnetHandle, ledgers: int) -> None:
    """Close ``ledgers`` ledgers of the demo's live activity (what `make run` adds every 5 s)."""
    step = live_stepper(handle.chain, "demo", 1)
    assert step is not None
    with handle.chain.lock:
        for _ in range(ledgers):
            step()
            handle.chain.close_ledger()


@contextmanager
def _demo(extra_ledgers: int = 0) -> Iterator[DevnetHandle]:
    with start_background_devnet(scenario="demo", seed=1, live=False) as handle:
        if extra_ledgers:
            _advance(handle, extra_ledgers)
        yield handle


async def _max_ledger(eng: AsyncEngine) -> int:
    async with eng.connect() as conn:
        return int((await conn.execute(select(func.max(events.c.ledger)))).scalar_one())


def _resets(action: str) -> float:
    return float(NETWORK_RESETS.labels(action)._value.get())


async def _index_chain_a(eng: AsyncEngine, database_url: str) -> int:
    """Chain A indexed; returns its latest ledger."""
    with _demo(extra_ledgers=200) as a:
        await register_devnet_orgs(eng, a.chain)
        settings = load_settings(database_url=database_url, rpc_url=a.url)
        await index_until_latest(settings, eng, a.url, progress=False)
        return a.chain.latest_ledger


async def test_stop_policy_refuses_a_younger_chain_with_one_line(
    eng: AsyncEngine, database_url: str
) -> None:
    a_latest = await _index_chain_a(eng, database_url)
    before = await table_snapshot(eng)
    stops = _resets("stop")
    with _demo() as b:
        assert b.chain.latest_ledger < a_latest
        settings = load_settings(database_url=database_url, rpc_url=b.url)
        assert settings.on_network_reset == "stop"
        with pytest.raises(NetworkReset) as caught:
            await index_until_latest(settings, eng, b.url, progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("network reset: ")
    assert f"latest ledger {b.chain.latest_ledger}" in message
    assert "ORBITPAY_ON_NETWORK_RESET=stop" in message
    assert _resets("stop") == stops + 1
    assert await table_snapshot(eng) == before  # nothing of chain B written


async def test_reindex_policy_starts_over_with_no_row_of_the_old_chain(
    eng: AsyncEngine, database_url: str
) -> None:
    a_latest = await _index_chain_a(eng, database_url)
    async with eng.begin() as conn:
        await conn.execute(
            api_keys.insert().values(
                id="k1", name="ops", scope="read", secret_hash="x", prefix="op_k1"
            )
        )
    with _demo() as b:
        b_latest = b.chain.latest_ledger
        assert await _max_ledger(eng) > b_latest  # chain A has rows B never had
        reindexes = _resets("reindex")
        settings = load_settings(
            database_url=database_url, rpc_url=b.url, on_network_reset="reindex"
        )
        await index_until_latest(settings, eng, b.url, progress=False)
        expected = expected_state(b.chain.state_dump())
    assert a_latest > b_latest
    assert _resets("reindex") == reindexes + 1
    assert await _max_ledger(eng) <= b_latest
    state = await indexed_state(eng)
    for section in ("withdrawals", "streams", "schedules", "members", "proposals"):
        assert state[section] == expected[section], section
    async with eng.connect() as conn:
        cursors = [r[0] for r in await conn.execute(select(indexer_cursors.c.last_ledger))]
        kept = [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (organizations, contracts, api_keys)
        ]
    assert cursors and set(cursors) == {b_latest}
    assert all(n > 0 for n in kept)


async def test_a_stored_ledger_hashing_differently_is_a_reset(
    eng: AsyncEngine, database_url: str
) -> None:
    with _demo() as a:
        await register_devnet_orgs(eng, a.chain)
        settings = load_settings(database_url=database_url, rpc_url=a.url)
        await index_until_latest(settings, eng, a.url, progress=False)
        # The same chain, 10 ledgers on: the anchor (the previous latest ledger) is
        # checked with getLedgers and matches.
        _advance(a, 10)
        await index_until_latest(settings, eng, a.url, progress=False)
        async with eng.connect() as conn:
            anchor = (await conn.execute(text("SELECT ledger FROM indexer_chain"))).scalar_one()
        assert anchor == a.chain.latest_ledger
        # A chain whose ledger `anchor` hashes differently (a reset that already caught up).
        async with eng.begin() as conn:
            await conn.execute(text("UPDATE indexer_chain SET ledger_hash = repeat('ab', 32)"))
        _advance(a, 10)
        before = await table_snapshot(eng)
        with pytest.raises(NetworkReset, match=rf"ledger {anchor} hashes .* it serves a different"):
            await index_until_latest(settings, eng, a.url, progress=False)
        assert await table_snapshot(eng) == before


async def _health(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(rate_limit="1000000/second", require_api_key=False)
    app = create_app(settings, engine=engine, cache=Cache(MemoryBackend()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_make_run_restart_starts_the_demo_database_over_and_is_healthy(
    eng: AsyncEngine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from orbitpay.service import _start_demo_devnet

    first, url = await _start_demo_devnet(eng)
    try:
        settings = load_settings(database_url=database_url, rpc_url=url)
        await index_until_latest(settings, eng, url, progress=False)
        _advance(first, 36)  # three minutes of `make run`
        await index_until_latest(settings, eng, url, progress=False)
        old_cursor = await _max_ledger(eng)
    finally:
        first.stop()
    second, url = await _start_demo_devnet(eng)
    stop = asyncio.Event()
    indexer: asyncio.Task[None] | None = None
    try:
        out = capsys.readouterr().out
        assert out.count("the demo database starts over") == 2
        # The restarted chain is younger than what was indexed: the stall.
        assert second.chain.latest_ledger < old_cursor
        settings = load_settings(database_url=database_url, rpc_url=url, poll_interval=1)
        indexer = asyncio.create_task(run_indexer(settings, eng, url, stop))
        started = time.monotonic()
        health: dict[str, Any] = {}
        async for api in _health(eng):
            while time.monotonic() - started < 60:
                assert not indexer.done(), indexer
                health = (await api.get("/health")).json()
                idx = health["indexer"]
                if idx["status"] == "ok" and idx["lag_ledgers"] is not None:
                    if idx["lag_ledgers"] <= 1 and health["rpc"]["status"] == "ok":
                        break
                await asyncio.sleep(0.5)
        assert health["indexer"]["status"] == "ok", health
        assert health["indexer"]["lag_ledgers"] <= 1, health
        # Its latest ledger is the new chain's, not the old cursor.
        assert abs(health["indexer"]["latest_ledger"] - second.chain.latest_ledger) <= 2
        assert await _max_ledger(eng) <= second.chain.latest_ledger
    finally:
        stop.set()
        if indexer is not None:
            await asyncio.wait_for(indexer, 30)
        second.stop()
