"""A contract's first start reads ledger state only when its history is out of reach.

When the RPC still holds a contract's ``init`` event, every entity and instance
value is rebuilt from events, so the first-start read of every entry
(``bootstrap_new_contracts``) is skipped; with a retention window that starts
after ``init``, it runs as before.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.test_indexer_helpers import register_devnet_orgs

from orbitpay.indexer.bootstrap import bootstrap_new_contracts, initialized_since
from orbitpay.stellar.rpc import RpcClient


async def test_init_in_reach_skips_the_first_start_read(eng: AsyncEngine) -> None:
    from orbitpay.devnet.server import start_background_devnet

    with start_background_devnet(scenario="demo", seed=1, live=False) as handle:
        chain = handle.chain
        await register_devnet_orgs(eng, chain)
        registered = sorted(c for org in chain.organizations() for c in org["contracts"].values())
        async with RpcClient(handle.url) as rpc:
            assert await initialized_since(rpc, registered, chain.oldest_ledger) == set(registered)
            # A window starting after every init holds none of them.
            assert await initialized_since(rpc, registered, chain.latest_ledger) == set()
            report = await bootstrap_new_contracts(eng, rpc)
            assert "getLedgerEntries" not in rpc.stats.by_method
            assert report.checked == 0


async def test_init_out_of_reach_reads_ledger_state(eng: AsyncEngine) -> None:
    from orbitpay.devnet.server import start_background_devnet

    with start_background_devnet(
        scenario="demo", seed=1, live=False, retention_ledgers=86_400
    ) as handle:
        chain = handle.chain
        await register_devnet_orgs(eng, chain)
        registered = sorted(c for org in chain.organizations() for c in org["contracts"].values())
        async with RpcClient(handle.url) as rpc:
            assert await initialized_since(rpc, registered, chain.oldest_ledger) == set()
            # A start the RPC refuses (before its window) is an error answer: no contract
            # counts as initialized in reach, so each is read as before.
            assert await initialized_since(rpc, registered, chain.genesis_ledger) == set()
            report = await bootstrap_new_contracts(eng, rpc)
            assert rpc.stats.by_method["getLedgerEntries"] > 0
            assert report.checked > 0 and report.inserted > 0
