"""Coverage, never silent: what is indexed of each contract's history, and what is not.

A devnet RPC keeping only the last days of the demo (no archive): ``/api/coverage``
shows the gap before the RPC's oldest ledger, the history lists say
``history_complete: false`` from that ledger, ``/health`` lists the gaps and the
metrics count them. With full retention every contract is complete from its
initialize ledger. The store's range merging is checked on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.test_indexer_helpers import register_devnet_orgs

from orbitpay.api.app import create_app
from orbitpay.cache import Cache, MemoryBackend
from orbitpay.config import load_settings
from orbitpay.db.schema import contracts, coverage, proposals
from orbitpay.devnet.server import start_background_devnet
from orbitpay.enums import CoverageSource
from orbitpay.indexer import coverage as cov
from orbitpay.indexer.backfill import Backfiller, prepare_backfill
from orbitpay.indexer.service import index_until_latest
from orbitpay.observability.metrics import HISTORY_COMPLETE, HISTORY_GAP_LEDGERS
from orbitpay.stellar.datalake import DataLake
from orbitpay.stellar.rpc import RpcClient

RETENTION = 86_400  # ~5 days of a ~35-day demo


async def _api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(rate_limit="1000000/second", require_api_key=False)
    app = create_app(settings, engine=engine, cache=Cache(MemoryBackend()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def _index(eng: AsyncEngine, database_url: str, **devnet: Any) -> dict[str, Any]:
    """Index the demo served with ``devnet`` options; the chain's window and contracts."""
    with start_background_devnet(scenario="demo", seed=1, live=False, **devnet) as handle:
        chain = handle.chain
        await register_devnet_orgs(eng, chain)
        settings = load_settings(database_url=database_url, rpc_url=handle.url)
        await index_until_latest(settings, eng, handle.url, progress=False)
        return {
            "oldest": chain.oldest_ledger,
            "latest": chain.latest_ledger,
            "genesis": chain.genesis_ledger,
        }


async def _rows(eng: AsyncEngine) -> dict[str, list[tuple[str, int, int]]]:
    async with eng.connect() as conn:
        rows = await conn.execute(
            select(coverage.c.contract_id, coverage.c.source, coverage.c.from_ledger)
            .add_columns(coverage.c.to_ledger)
            .order_by(coverage.c.contract_id, coverage.c.from_ledger)
        )
        out: dict[str, list[tuple[str, int, int]]] = {}
        for cid, source, lo, hi in rows:
            out.setdefault(cid, []).append((source, lo, hi))
        return out


async def _registered(eng: AsyncEngine) -> dict[str, str]:
    async with eng.connect() as conn:
        return {
            r[0]: r[1]
            for r in await conn.execute(select(contracts.c.contract_id, contracts.c.kind))
        }


async def test_short_retention_shows_the_gap_everywhere(
    eng: AsyncEngine, database_url: str
) -> None:
    window = await _index(eng, database_url, retention_ledgers=RETENTION)
    oldest, latest = window["oldest"], window["latest"]
    assert oldest > window["genesis"]
    registered = await _registered(eng)
    # One merged row per contract: the RPC's window, nothing before it.
    assert await _rows(eng) == {cid: [("rpc", oldest, latest)] for cid in registered}
    treasury = next(c for c, k in registered.items() if k == "treasury")
    governance = next(c for c, k in registered.items() if k == "governance")
    async with eng.connect() as conn:
        proposal = (
            await conn.execute(
                select(proposals.c.proposal_id).where(proposals.c.contract_id == governance)
            )
        ).scalar()
    assert proposal is not None

    async for api in _api(eng):
        report = (await api.get("/api/coverage")).json()
        assert report["history_complete"] is False
        assert {item["contract_id"] for item in report["items"]} == set(registered)
        for item in report["items"]:
            assert item["history_complete"] is False
            assert item["first_ledger"] is None  # the initialize events are out of reach
            assert item["ranges"] == [{"source": "rpc", "from_ledger": oldest, "to_ledger": latest}]
            assert item["gaps"] == [{"from_ledger": None, "to_ledger": oldest - 1}]
            assert item["history_from_ledger"] == oldest
            assert item["covered_to"] == latest
        one = (await api.get("/api/coverage", params={"contract": treasury})).json()
        assert [i["contract_id"] for i in one["items"]] == [treasury]

        lists = [
            ("/api/events", {"contract": treasury}),
            ("/api/events", {}),
            (f"/api/treasury/{treasury}/events", {}),
            (f"/api/proposals/{proposal}/votes", {"contract": governance}),
        ]
        for path, params in lists:
            page = (await api.get(path, params=params)).json()
            assert page["history_complete"] is False, path
            assert page["history_from_ledger"] == oldest, path
            # Only rows in reach are listed.
            assert all(row["ledger"] >= oldest for row in page["items"]), path

        stream = (await api.get("/api/streams", params={"limit": 1})).json()["items"][0]
        detail = (
            await api.get(
                f"/api/streams/{stream['stream_id']}", params={"contract": stream["contract_id"]}
            )
        ).json()
        assert (detail["history_complete"], detail["history_from_ledger"]) == (False, oldest)

        health = (await api.get("/health")).json()["indexer"]
        assert health["history_complete"] is False
        gaps = {
            (g["contract_id"], g["from_ledger"], g["to_ledger"]) for g in health["history_gaps"]
        }
        assert gaps == {(cid, None, oldest - 1) for cid in registered}

    for cid in registered:
        assert HISTORY_COMPLETE.labels(cid)._value.get() == 0


async def test_full_retention_is_complete_from_the_initialize_ledger(
    eng: AsyncEngine, database_url: str
) -> None:
    window = await _index(eng, database_url)
    registered = await _registered(eng)
    async with eng.connect() as conn:
        initialized = {
            r[0]: r[1]
            for r in await conn.execute(
                select(contracts.c.contract_id, contracts.c.initialized_ledger)
            )
        }
    assert all(ledger is not None for ledger in initialized.values())
    async for api in _api(eng):
        report = (await api.get("/api/coverage")).json()
        assert report["history_complete"] is True
        for item in report["items"]:
            assert item["history_complete"] is True, item
            assert item["gaps"] == [] and item["gap_ledgers"] == 0
            assert item["first_ledger"] == initialized[item["contract_id"]]
            assert item["history_from_ledger"] == item["first_ledger"]
            assert item["covered_to"] == window["latest"]
        stream = (await api.get("/api/streams", params={"limit": 1})).json()["items"][0]
        detail = (
            await api.get(
                f"/api/streams/{stream['stream_id']}", params={"contract": stream["contract_id"]}
            )
        ).json()
        assert detail["history_complete"] is True
        page = (await api.get("/api/events", params={"limit": 1})).json()
        assert page["history_complete"] is True
        assert page["history_from_ledger"] == min(initialized.values())
        assert (await api.get("/health")).json()["indexer"]["history_complete"] is True
    for cid in registered:
        assert HISTORY_COMPLETE.labels(cid)._value.get() == 1
        assert HISTORY_GAP_LEDGERS.labels(cid)._value.get() == 0


async def test_record_merges_touching_ranges_per_contract_and_source(eng: AsyncEngine) -> None:
    async with eng.begin() as conn:
        await conn.execute(text("INSERT INTO organizations (name) VALUES ('o')"))
        org = (await conn.execute(text("SELECT id FROM organizations"))).scalar_one()
        for cid in ("CA", "CB"):
            await conn.execute(
                text(
                    "INSERT INTO contracts (contract_id, kind, organization_id, initialized_ledger)"
                    " VALUES (:c, 'treasury', :o, 5)"
                ),
                {"c": cid, "o": org},
            )
    steps: list[tuple[list[str], CoverageSource, int, int]] = [
        (["CA", "CB"], CoverageSource.RPC, 10, 20),
        (["CA", "CB"], CoverageSource.RPC, 21, 30),  # adjacent: merged
        (["CA"], CoverageSource.RPC, 40, 50),  # a hole 31..39
        (["CA"], CoverageSource.ARCHIVE, 1, 9),  # another source: its own row
        (["CB"], CoverageSource.RPC, 25, 45),  # overlapping: merged
        (["CB"], CoverageSource.RPC, 46, 45),  # empty: nothing
    ]
    for ids, source, lo, hi in steps:
        async with eng.begin() as conn:
            await cov.record(conn, ids, source, lo, hi)
    assert await _rows(eng) == {
        "CA": [("archive", 1, 9), ("rpc", 10, 30), ("rpc", 40, 50)],
        "CB": [("rpc", 10, 45)],
    }
    async with eng.connect() as conn:
        found = {c.contract_id: c for c in await cov.read(conn)}
    # CA: archive + rpc from 1; its initialize ledger 5 is inside: only the hole 31..39.
    assert found["CA"].gaps == [(31, 39)] and found["CA"].gap_ledgers == 9
    assert not found["CA"].history_complete and found["CA"].history_from_ledger == 40
    # CB: initialized at 5, indexed from 10: ledgers 5..9 missing.
    assert found["CB"].gaps == [(5, 9)] and found["CB"].history_from_ledger == 10
    async with eng.begin() as conn:
        await cov.record(conn, ["CB"], CoverageSource.ARCHIVE, 5, 9)
        await cov.record(conn, ["CA"], CoverageSource.ARCHIVE, 31, 39)
    async with eng.connect() as conn:
        found = {c.contract_id: c for c in await cov.read(conn)}
    assert found["CA"].history_complete and found["CA"].history_from_ledger == 5
    assert found["CB"].history_complete and found["CB"].covered_to == 45
    assert cov.history_of(list(found.values())) == cov.History(True, 5)


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 8)), max_size=12))
def test_merge_is_the_union_without_touching_ranges(spans: list[tuple[int, int]]) -> None:
    ranges = [(lo, lo + n) for lo, n in spans]
    merged = cov.merge(ranges)
    covered = {x for lo, hi in ranges for x in range(lo, hi + 1)}
    assert {x for lo, hi in merged for x in range(lo, hi + 1)} == covered
    assert all(a[1] + 1 < b[0] for a, b in pairwise(merged))
    assert all(lo <= hi for lo, hi in merged)


async def test_a_backfill_from_the_lake_closes_the_gap(
    eng: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    """Short retention, then `orbitpay backfill` from genesis: archive ranges join the rpc
    range without a hole, and every list is complete from the initialize ledger."""
    with start_background_devnet(
        "demo",
        seed=1,
        live=False,
        retention_ledgers=RETENTION,
        archive=tmp_path,
        archive_ledgers_per_file=1000,
    ) as dn:
        chain = dn.chain
        await register_devnet_orgs(eng, chain)
        settings = load_settings(database_url=database_url, rpc_url=dn.url)
        await index_until_latest(settings, eng, dn.url, progress=False)
        async with (
            DataLake(tmp_path.as_uri(), network_passphrase=chain.network_passphrase) as lake,
            RpcClient(dn.url) as rpc,
        ):
            await prepare_backfill(
                eng, lake, str(chain.genesis_ledger), None, None, chain.oldest_ledger
            )
            await Backfiller(settings, eng, rpc, lake, worker="w").work()
        oldest, latest, genesis = chain.oldest_ledger, chain.latest_ledger, chain.genesis_ledger
    for cid, rows in (await _rows(eng)).items():
        assert [s for s, _, _ in rows] == ["archive", "rpc"], cid
        archive, rpc_range = rows
        assert archive[1] == genesis and archive[2] == oldest - 1, cid
        assert rpc_range[1:] == (oldest, latest), cid
    async for api in _api(eng):
        report = (await api.get("/api/coverage")).json()
        for item in report["items"]:
            assert item["gaps"] == [], item
            assert item["history_complete"] is True, item
            assert item["first_ledger"] is not None and item["first_ledger"] >= genesis
        page = (await api.get("/api/events", params={"limit": 1})).json()
        assert page["history_complete"] is True
