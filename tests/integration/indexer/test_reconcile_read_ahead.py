"""Reconciliation reading ledger state ahead (beside ingest) against the demo devnet.

The read is taken before the tables change; the pass after it must still only
correct what is wrong, from entries never older than the rows they touch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.test_indexer_helpers import register_devnet_orgs

from orbitpay.config import load_settings
from orbitpay.db.schema import contracts, streams
from orbitpay.indexer.bootstrap import read_ahead
from orbitpay.indexer.reconcile import reconcile
from orbitpay.indexer.service import index_until_latest
from orbitpay.stellar.rpc import RpcClient

COUNTERS = {
    "TreasuryContract": "ProposalCount",
    "PayrollContract": "StreamCount",
    "VestingContract": "ScheduleCount",
    "GovernanceContract": "ProposalCount",
}


async def _indexed(eng: AsyncEngine, demo: Any) -> None:
    await register_devnet_orgs(eng, demo.chain)
    settings = load_settings(database_url=str(eng.url), rpc_url=demo.url)
    await index_until_latest(settings, eng, demo.url, progress=False)


def _entities(chain: Any) -> int:
    """Every entity of the four kinds, from the contracts' counters."""
    return sum(
        int(c.instance.get(COUNTERS[type(c).__name__], 0))
        for c in chain.contracts.values()
        if type(c).__name__ in COUNTERS
    )


async def test_audit_of_every_entity_finds_nothing(
    eng: AsyncEngine, demo: Any, database_url: str
) -> None:
    await _indexed(eng, demo)
    async with RpcClient(demo.url, max_retries=1) as rpc:
        open_only = await reconcile(eng, rpc)
        every = await reconcile(eng, rpc, every=True)
    assert every.findings == [] and every.deferred == 0 and every.missing == 0
    assert every.checked == _entities(demo.chain) > open_only.checked
    assert every.final == 0 and open_only.final == every.checked - open_only.checked


async def test_a_read_taken_before_a_change_corrects_only_what_is_wrong(
    eng: AsyncEngine, demo: Any
) -> None:
    await _indexed(eng, demo)
    async with RpcClient(demo.url, max_retries=1) as rpc:
        read = await read_ahead(eng, rpc, every=True)
        # After the read: one stream row goes wrong (same last_ledger), and one contract's
        # parameters too (instance entries are read again by the pass).
        async with eng.begin() as conn:
            sid, cid = (
                await conn.execute(
                    select(streams.c.stream_id, streams.c.contract_id)
                    .where(streams.c.claimed_amount > 0)
                    .limit(1)
                )
            ).one()
            await conn.execute(
                update(streams)
                .where(streams.c.contract_id == cid, streams.c.stream_id == sid)
                .values(claimed_amount=streams.c.claimed_amount - 1)
            )
            treasury = (
                await conn.execute(
                    select(contracts.c.contract_id, contracts.c.params).where(
                        contracts.c.kind == "treasury"
                    )
                )
            ).first()
            assert treasury is not None
            params = dict(treasury.params)
            params["threshold"] = int(params["threshold"]) + 5
            await conn.execute(
                update(contracts)
                .where(contracts.c.contract_id == treasury.contract_id)
                .values(params=params)
            )
        report = await reconcile(eng, rpc, read=read, every=True)
    fields = sorted((f.entity, f.field) for f in report.findings)
    assert fields == [("contract", "params.threshold"), ("stream", "claimed_amount")]
    async with RpcClient(demo.url, max_retries=1) as rpc:
        again = await reconcile(eng, rpc, every=True)
    assert again.findings == []


async def test_contract_parameters_are_never_corrected_from_a_read_taken_earlier(
    eng: AsyncEngine,
) -> None:
    """The threshold changes on chain after the read and the change is indexed: the pass
    reads instance entries again, so the stale threshold in the read corrects nothing."""
    from orbitpay.devnet.server import start_background_devnet
    from orbitpay.stellar import scval as sv

    handle = start_background_devnet(scenario="demo", seed=2, live=False)
    try:
        await _indexed(eng, handle)
        chain = handle.chain
        treasury = next(
            c for c in chain.contracts.values() if type(c).__name__ == "TreasuryContract"
        )
        admin = chain.accounts[treasury.instance["Admin"]]
        new = 1 if treasury.instance["Threshold"] != 1 else 2
        async with RpcClient(handle.url, max_retries=1) as rpc:
            read = await read_ahead(eng, rpc)
            out = chain.invoke(
                admin,
                treasury.contract_id,
                "update_threshold",
                [sv.address(admin.public_key), sv.u32(new)],
            )
            assert out.success
            chain.close_ledger()
            settings = load_settings(database_url=str(eng.url), rpc_url=handle.url)
            await index_until_latest(
                settings, eng, handle.url, progress=False, reconcile_after=False
            )
            report = await reconcile(eng, rpc, read=read)
        assert [f for f in report.findings if f.entity == "contract"] == []
        async with eng.connect() as conn:
            params = (
                await conn.execute(
                    select(contracts.c.params).where(
                        contracts.c.contract_id == treasury.contract_id
                    )
                )
            ).scalar_one()
        assert params["threshold"] == new
    finally:
        handle.stop()
