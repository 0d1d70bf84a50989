"""A short-retention RPC and no archive: current state from ledger state, no "not indexed".

The devnet serves only the last days of the demo; the events in reach refer to
streams, schedules, proposals and withdrawals created long before. Each such
entity is read from ledger state *before* its page is projected, and the
projection leaves a row's state alone for the events its entry already holds
(``state_ledger``), so the tables equal the devnet's state dump and no
discrepancy says an entity is not indexed or that an event is older than its row.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.test_indexer_helpers import expected_state, indexed_state, register_devnet_orgs

from orbitpay.config import load_settings
from orbitpay.db.schema import discrepancies, events, streams
from orbitpay.indexer.service import index_until_latest

SECTIONS = ("withdrawals", "streams", "schedules", "members")


def _proposals(section: dict[Any, Any]) -> dict[Any, Any]:
    """Proposals as rows; ``vote_count`` counts ``votes`` rows, which need their events."""
    return {k: {f: v for f, v in p.items() if f != "vote_count"} for k, p in section.items()}


@pytest.mark.parametrize("reconcile_after", [False, True])
async def test_short_retention_without_archive_equals_the_dump(
    eng: AsyncEngine, database_url: str, reconcile_after: bool
) -> None:
    from orbitpay.devnet.server import start_background_devnet

    # The demo spans ~35 days; the RPC keeps the last ~5 (86,400 ledgers).
    with start_background_devnet(
        scenario="demo", seed=1, live=False, retention_ledgers=86_400
    ) as handle:
        chain = handle.chain
        assert chain.oldest_ledger > chain.genesis_ledger
        await register_devnet_orgs(eng, chain)
        settings = load_settings(database_url=database_url, rpc_url=handle.url)
        await index_until_latest(
            settings, eng, handle.url, progress=False, reconcile_after=reconcile_after
        )
        state = await indexed_state(eng)
        expected = expected_state(chain.state_dump())
        for section in SECTIONS:
            assert state[section] == expected[section], section
        assert _proposals(state["proposals"]) == _proposals(expected["proposals"])
        async with eng.connect() as conn:
            messages = [r[0] for r in await conn.execute(select(discrepancies.c.message))]
            ledgers = [r[0] for r in await conn.execute(select(events.c.ledger))]
            origins = {r[0] for r in await conn.execute(select(streams.c.origin))}
        assert not [m for m in messages if "which is not indexed" in m], messages[:5]
        assert not [m for m in messages if "is older than the row" in m], messages[:5]
        # Only the events in reach are history; they were indexed.
        assert ledgers and min(ledgers) >= chain.oldest_ledger
        assert "ledger_state" in origins
