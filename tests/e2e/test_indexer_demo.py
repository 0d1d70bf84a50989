"""``orbitpay index --once`` on the devnet's demo chain: tables equal the chain's own state.

The devnet serves the demo scenario over HTTP from this process; the indexer
runs as a real ``orbitpay`` process against it, as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orbitpay.db.migrate import upgrade
from orbitpay.db.schema import discrepancies, indexer_cursors, indexer_status, proposals
from tests.conftest import create_database, drop_database
from tests.e2e.db_helpers import with_engine
from tests.e2e.helpers import clean_env, run
from tests.e2e.test_indexer_helpers import (
    comparable,
    diff,
    expected_state,
    indexed_state,
    register_devnet_orgs,
    table_snapshot,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def devnet() -> Iterator[Any]:
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="demo", seed=1, live=False)
    yield handle
    handle.stop()


@pytest.fixture
def db(postgres_available: None) -> Iterator[str]:
    url = create_database("orbitpay_idx")
    upgrade(url)
    yield url
    drop_database(url)


def test_index_once_equals_the_devnet_state_and_is_idempotent(
    devnet: Any, db: str, tmp_path: Path
) -> None:
    with_engine(db, lambda e: register_devnet_orgs(e, devnet.chain))
    env = clean_env(ORBITPAY_DATABASE_URL=db, ORBITPAY_RPC_URL=devnet.url)

    first = run(["index", "--once"], env, tmp_path, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr

    expected = expected_state(devnet.chain.state_dump())
    actual = comparable(with_engine(db, indexed_state))
    assert diff(expected, actual) == []
    # the demo exercises every kind of row
    for section in ("streams", "stream_payouts", "schedules", "vesting_claims", "proposals"):
        assert expected[section], section
    for section in ("votes", "members", "withdrawals", "treasury_history"):
        assert expected[section], section
    assert any(p["kind"] == "cancel" for p in actual["stream_payouts"].values())
    assert any(s["status"] == "revoked" for s in actual["schedules"].values())
    assert any(s["status"] == "fully_claimed" for s in actual["schedules"].values())

    async def status(engine: Any) -> tuple[Any, Any]:
        async with engine.connect() as conn:
            cur = (await conn.execute(select(indexer_cursors))).all()
            st = (await conn.execute(select(indexer_status))).one()
        return cur, st

    cursors, st = with_engine(db, status)
    latest = devnet.chain.latest_ledger
    assert [c.last_ledger for c in cursors] == [latest]
    assert st.rpc_status == "ok" and st.rpc_latest_ledger == latest and st.gap_from_ledger is None

    before = with_engine(db, table_snapshot)
    second = run(["index", "--once"], env, tmp_path, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert with_engine(db, table_snapshot) == before


def test_silent_finalize_becomes_rejected_through_reconciliation(
    devnet: Any, db: str, tmp_path: Path
) -> None:
    from orbitpay.config import load_settings
    from orbitpay.indexer.service import index_until_latest

    silent = [
        (org["governance"]["contract_id"], f["proposal_id"])
        for org in devnet.chain.state_dump()["organizations"]
        for f in org["governance"]["finalizations"]
        if f["silent"]
    ]
    assert silent, "the demo scenario has silent finalizations"

    async def index(engine: Any) -> None:
        await register_devnet_orgs(engine, devnet.chain)
        settings = load_settings(database_url=db, rpc_url=devnet.url)
        await index_until_latest(settings, engine, devnet.url, reconcile_after=False)

    with_engine(db, index)

    async def statuses(engine: Any) -> dict[tuple[str, int], str]:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(proposals))).all()
        return {(r.contract_id, r.proposal_id): r.status for r in rows}

    before = with_engine(db, statuses)
    assert all(before[key] == "active" for key in silent)  # no event: the indexer cannot know

    env = clean_env(ORBITPAY_DATABASE_URL=db, ORBITPAY_RPC_URL=devnet.url)
    out = run(["reconcile"], env, tmp_path, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rejected" in out.stdout

    after = with_engine(db, statuses)
    assert all(after[key] == "rejected" for key in silent)

    async def found(engine: Any) -> list[Any]:
        async with engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(discrepancies).where(discrepancies.c.source == "reconcile")
                    )
                ).all()
            )

    rows = with_engine(db, found)
    recorded = {
        (r.contract_id, int(r.entity_id))
        for r in rows
        if r.entity == "proposal" and r.field == "status"
    }
    assert recorded == set(silent)
    for r in rows:
        assert r.indexed_value == "active" and r.chain_value == "rejected" and r.corrected
        assert "finalize emitted no event" in r.message

    again = run(["reconcile"], env, tmp_path, timeout=120)
    assert again.returncode == 0 and "0 differences" in again.stdout
    assert len(with_engine(db, found)) == len(rows)


def test_passphrase_mismatch_is_one_line_and_fatal(devnet: Any, db: str, tmp_path: Path) -> None:
    env = clean_env(
        ORBITPAY_DATABASE_URL=db,
        ORBITPAY_RPC_URL=devnet.url,
        ORBITPAY_NETWORK_PASSPHRASE="Public Global Stellar Network ; September 2015",
    )
    out = run(["index", "--once"], env, tmp_path, timeout=120)
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip() and not ln.startswith("{")]
    assert len(lines) == 1, out.stderr
    assert "ORBITPAY_NETWORK_PASSPHRASE" in lines[0] and "Traceback" not in out.stderr
