"""Bootstrap from ledger state against the devnet's demo chain and real PostgreSQL.

The devnet serves the demo scenario (20 streams, 6 schedules, 6 proposals, 7
withdrawals) over HTTP from this process; its state dump is the ground truth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from stellar_sdk import Keypair, StrKey
from tests.e2e.test_indexer_helpers import expected_state, indexed_state, register_devnet_orgs

from orbitpay.config import load_settings
from orbitpay.db.schema import (
    discrepancies,
    governance_members,
    indexer_cursors,
    proposals,
    streams,
    vesting_schedules,
    withdrawal_approvals,
    withdrawals,
)
from orbitpay.devnet.chain import PERSISTENT_TTL_LEDGERS
from orbitpay.indexer.bootstrap import bootstrap_contract, bootstrap_entities
from orbitpay.indexer.reconcile import reconcile
from orbitpay.indexer.service import index_until_latest
from orbitpay.stellar.rpc import RpcClient

ENTITY_TABLES = (withdrawals, streams, vesting_schedules, proposals)
SECTIONS = ("withdrawals", "streams", "schedules", "members")


@pytest.fixture
async def rpc(demo: Any) -> AsyncIterator[RpcClient]:
    client = RpcClient(demo.url, max_retries=1)
    yield client
    await client.close()


def _contracts(chain: Any) -> list[tuple[str, str]]:
    return [(kind, cid) for org in chain.organizations() for kind, cid in org["contracts"].items()]


def _without_vote_count(section: dict[Any, Any]) -> dict[Any, Any]:
    """Proposals as rows; ``vote_count`` counts ``votes`` rows, which need their events."""
    return {k: {f: v for f, v in p.items() if f != "vote_count"} for k, p in section.items()}


def _archived(chain: Any) -> set[tuple[str, str]]:
    """(contract, entity id) of every entity entry the devnet serves past its TTL."""
    variants = {"Withdrawal", "Stream", "Schedule", "Proposal"}
    out = set()
    for cid, contract in chain.contracts.items():
        for key in contract.persistent:
            if key[0] in variants:
                modified = contract.modified.get(key, contract.instance_modified)
                if modified + PERSISTENT_TTL_LEDGERS < chain.latest_ledger:
                    out.add((cid, str(key[1])))
    return out


def _assert_equals_dump(state: dict[str, Any], expected: dict[str, Any]) -> None:
    for section in SECTIONS:
        assert state[section] == expected[section], section
    assert _without_vote_count(state["proposals"]) == _without_vote_count(expected["proposals"])
    for cid, want in expected["contracts"].items():
        have = state["contracts"][cid]
        assert have["admin"] == want["admin"]
        if want["kind"] == "treasury":
            assert have["params"]["signers"] == want["signers"]
            assert have["params"]["threshold"] == want["threshold"]


async def _count(engine: AsyncEngine, table: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def test_ledger_state_alone_equals_the_state_dump(
    eng: AsyncEngine, rpc: RpcClient, demo: Any
) -> None:
    """No event indexed at all, indexing to start after the last event: every entity,
    field for field and status for status, comes from ledger state."""
    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    dump = chain.state_dump()
    beyond = chain.latest_ledger + 1
    total = {}
    for kind, cid in _contracts(chain):
        rep = await bootstrap_contract(eng, rpc, cid, start_ledger=beyond)
        total[kind] = rep
        assert rep.deferred == 0 and rep.missing == 0 and rep.undecodable == 0
    org = dump["organizations"][0]
    assert total["payroll"].inserted == len(org["payroll"]["streams"]) == 20
    assert total["vesting"].inserted == len(org["vesting"]["schedules"]) == 6
    assert total["treasury"].inserted == len(org["treasury"]["withdrawals"]) == 7
    members = len(org["governance"]["members"])
    assert total["governance"].inserted == len(org["governance"]["proposals"]) + members

    expected = expected_state(dump)
    state = await indexed_state(eng)
    _assert_equals_dump(state, expected)
    # the demo covers every status the comparison could get wrong
    assert {"revoked", "fully_claimed"} <= {s["status"] for s in state["schedules"].values()}
    assert {"cancelled", "completed"} <= {s["status"] for s in state["streams"].values()}
    assert "rejected" in {p["status"] for p in state["proposals"].values()}

    # provenance: ledger state, creating transaction unknown
    for table in (*ENTITY_TABLES, governance_members):
        assert await _count(eng, table, table.c.origin != "ledger_state") == 0
    for table in ENTITY_TABLES:
        assert await _count(eng, table, table.c.created_ledger != 0) == 0
    async with eng.connect() as conn:
        cancelled = (
            await conn.execute(select(streams).where(streams.c.status == "cancelled"))
        ).all()
        proposer_approvals = (
            await conn.execute(
                select(withdrawal_approvals.c.approved_at, withdrawals.c.created_at).join(
                    withdrawals,
                    (withdrawals.c.contract_id == withdrawal_approvals.c.contract_id)
                    & (withdrawals.c.withdrawal_id == withdrawal_approvals.c.withdrawal_id)
                    & (withdrawals.c.proposer == withdrawal_approvals.c.signer),
                )
            )
        ).all()
    assert cancelled
    for s in cancelled:  # a cancel refunds whatever the recipient was not paid
        assert s.refunded_amount == s.total_amount - s.claimed_amount > 0
    assert len(proposer_approvals) == 7
    assert all(a.approved_at == a.created_at for a in proposer_approvals)

    # a second pass reads only what can still change, and changes nothing
    before = await indexed_state(eng)
    again = await reconcile(eng, rpc, start_ledger=beyond)
    assert again.inserted == 0 and again.corrected == 0 and again.findings == []
    assert again.final > 0
    assert await indexed_state(eng) == before


async def test_archived_entries_are_reported_once_and_absent_ones_never_invented(
    eng: AsyncEngine, rpc: RpcClient, demo: Any
) -> None:
    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    payroll = chain.organizations()[0]["contracts"]["payroll"]
    contract = chain.contracts[payroll]
    want = {(c, i) for c, i in _archived(chain) if c == payroll}
    assert want, "the demo serves some payroll entries past their TTL"
    lost = max(sid for name, sid in contract.persistent if name == "Stream")
    assert (payroll, str(lost)) not in want
    with chain.lock:
        gone = contract.persistent.pop(("Stream", lost))
    try:
        rep = await bootstrap_contract(eng, rpc, payroll, start_ledger=chain.latest_ledger + 1)
        again = await bootstrap_contract(eng, rpc, payroll, start_ledger=chain.latest_ledger + 1)
    finally:
        with chain.lock:
            contract.persistent[("Stream", lost)] = gone
    assert rep.missing == 1 and rep.inserted == 19
    async with eng.connect() as conn:
        ids = {r[0] for r in await conn.execute(select(streams.c.stream_id))}
        rows = (
            await conn.execute(select(discrepancies).where(discrepancies.c.source == "bootstrap"))
        ).all()
    assert ids == set(range(20)) - {lost}  # reported, not invented
    absent = [r for r in rows if r.field == "entry"]
    assert [(r.entity, r.entity_id) for r in absent] == [("stream", str(lost))]
    assert f"no ledger entry Stream({lost})" in absent[0].message and not absent[0].corrected

    # entries past their TTL: reported (their stored state is still exact, and written)
    archived = {(r.contract_id, r.entity_id) for r in rows if r.field == "live_until_ledger"}
    assert {(c, i) for c, i in archived if i != payroll} == want
    assert {int(i) for _, i in want} <= ids
    assert rep.archived >= len(want)
    # the second pass finds the same things and records nothing new
    assert again.missing == 1
    assert await _count(eng, discrepancies) == len(rows)


async def test_a_newer_indexed_row_is_not_overwritten_and_an_older_one_is_corrected(
    eng: AsyncEngine, rpc: RpcClient, demo: Any
) -> None:
    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    payroll = chain.organizations()[0]["contracts"]["payroll"]
    beyond = chain.latest_ledger + 1
    await bootstrap_contract(eng, rpc, payroll, start_ledger=beyond)
    paid = [
        (sid, s)
        for (name, sid), s in sorted(chain.contracts[payroll].persistent.items(), key=str)
        if name == "Stream" and s["claimed_amount"] > 10
    ]
    (newer_id, newer), (older_id, older) = paid[0], paid[1]
    future = chain.latest_ledger + 50
    async with eng.begin() as conn:
        # as if the projection had applied events from a ledger the entry does not show yet
        await conn.execute(
            update(streams)
            .where(streams.c.contract_id == payroll, streams.c.stream_id == newer_id)
            .values(status="active", claimed_amount=newer["claimed_amount"] - 7, last_ledger=future)
        )
        # a stale row: older than the entry, and wrong
        await conn.execute(
            update(streams)
            .where(streams.c.contract_id == payroll, streams.c.stream_id == older_id)
            .values(status="active", claimed_amount=older["claimed_amount"] - 1, last_ledger=1)
        )
    rep = await bootstrap_contract(eng, rpc, payroll, start_ledger=beyond)
    assert rep.skipped_newer == 1
    async with eng.connect() as conn:
        got = {
            r.stream_id: r
            for r in await conn.execute(
                select(streams).where(streams.c.stream_id.in_([newer_id, older_id]))
            )
        }
        found = (
            await conn.execute(
                select(discrepancies)
                .where(discrepancies.c.source == "reconcile")
                .order_by(discrepancies.c.field)
            )
        ).all()
    assert (got[newer_id].status, got[newer_id].last_ledger) == ("active", future)
    assert got[newer_id].claimed_amount == newer["claimed_amount"] - 7
    assert got[older_id].claimed_amount == older["claimed_amount"]
    assert got[older_id].status == older["status"].lower() != "active"
    assert got[older_id].last_ledger == chain.contracts[payroll].modified[("Stream", older_id)]
    assert [(f.entity_id, f.field, f.corrected) for f in found] == [
        (str(older_id), "claimed_amount", True),
        (str(older_id), "status", True),
    ]
    assert found[0].indexed_value == str(older["claimed_amount"] - 1)
    assert found[0].chain_value == str(older["claimed_amount"])
    assert rep.corrected == 2 and len(rep.findings) == 2


async def test_entries_newer_than_the_indexed_ledger_wait_unless_the_caller_takes_them(
    eng: AsyncEngine, rpc: RpcClient, demo: Any
) -> None:
    """Events up to an entry's ledger still to be applied would double-count on top of it."""
    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    vesting = chain.organizations()[0]["contracts"]["vesting"]
    mods = chain.contracts[vesting].modified
    first_change = min(m for k, m in mods.items() if k[0] == "Schedule")
    async with eng.begin() as conn:  # indexing has reached just before that ledger
        await conn.execute(
            insert(indexer_cursors).values(
                name="g", contract_ids=[vesting], cursor=None, last_ledger=first_change - 1
            )
        )
    rep = await bootstrap_contract(eng, rpc, vesting)
    instance_waits = chain.contracts[vesting].instance_modified >= first_change
    assert rep.inserted == 0 and rep.deferred == 6 + instance_waits  # every schedule
    assert await _count(eng, vesting_schedules) == 0

    taken = await bootstrap_entities(eng, rpc, vesting, "schedule", [0, 2], include_unsettled=True)
    assert taken.inserted == 2
    assert taken.state_ledgers == {
        ("schedule", vesting, 0): mods[("Schedule", 0)],
        ("schedule", vesting, 2): mods[("Schedule", 2)],
    }
    async with eng.connect() as conn:
        rows = {r.schedule_id: r for r in await conn.execute(select(vesting_schedules))}
    assert set(rows) == {0, 2}
    assert rows[2].last_ledger == mods[("Schedule", 2)]
    dump = {s["id"]: s for s in chain.state_dump()["organizations"][0]["vesting"]["schedules"]}
    assert rows[2].claimed_amount == int(dump[2]["claimed_amount"])
    assert rows[2].status == dump[2]["status"]
    with pytest.raises(ValueError, match="no stream"):
        await bootstrap_entities(eng, rpc, vesting, "stream", [0])


async def test_index_once_from_a_start_ledger_past_most_history_equals_the_dump(
    eng: AsyncEngine, database_url: str, demo: Any
) -> None:
    """The measured case: ORBITPAY_START_LEDGER=2400000 standing in for a short retention.

    Indexing alone ended with 0 of 20 streams; the reconciliation after the catch-up
    bootstraps whatever the events in reach did not create."""
    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    settings = load_settings(database_url=database_url, rpc_url=demo.url, start_ledger=2_400_000)
    await index_until_latest(settings, eng, demo.url, progress=False)
    _assert_equals_dump(await indexed_state(eng), expected_state(chain.state_dump()))
    origins = {}
    for table in ENTITY_TABLES:
        async with eng.connect() as conn:
            origins[table.name] = {r[0] for r in await conn.execute(select(table.c.origin))}
    assert origins["streams"] == {"ledger_state"}  # every stream is older than the start
    assert "ledger_state" in origins["proposals"] and "events" in origins["proposals"]


async def test_first_start_bootstraps_what_the_events_in_reach_will_not_touch(
    eng: AsyncEngine, database_url: str, demo: Any
) -> None:
    """Before the first catch-up, entities last modified before the start ledger get their
    rows (no event in reach can change them); the others wait for the catch-up."""
    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    start = 2_400_000
    settings = load_settings(database_url=database_url, rpc_url=demo.url, start_ledger=start)
    await index_until_latest(settings, eng, demo.url, progress=False, reconcile_after=False)
    variants = {"Withdrawal": withdrawals, "Stream": streams, "Schedule": vesting_schedules}
    variants["Proposal"] = proposals
    expected = expected_state(chain.state_dump())
    state = await indexed_state(eng)
    sections = {"Withdrawal": "withdrawals", "Stream": "streams", "Schedule": "schedules"}
    checked = waited = 0
    for cid, contract in chain.contracts.items():
        for key, modified in contract.modified.items():
            if key[0] not in variants:
                continue
            table = variants[key[0]]
            id_col = table.primary_key.columns.values()[1]
            async with eng.connect() as conn:
                row = (
                    await conn.execute(
                        select(table).where(table.c.contract_id == cid, id_col == key[1])
                    )
                ).first()
            if modified < start:
                assert row is not None and row.origin == "ledger_state", key
                assert row.state_ledger == row.last_ledger == modified
                if key[0] in sections:
                    section = sections[key[0]]
                    assert state[section][(cid, key[1])] == expected[section][(cid, key[1])]
                checked += 1
            else:
                # Created by an event in reach, or read from ledger state when an event in
                # reach referred to it (its state as of the entry, newer than the start).
                assert row is None or row.origin == "events" or row.state_ledger >= start, key
                waited += 1
    assert checked >= 5 and waited >= 5


async def test_orbitpay_reconcile_bootstraps_every_contract(
    eng: AsyncEngine, database_url: str, demo: Any
) -> None:
    """``orbitpay reconcile`` (reconcile_once) with ORBITPAY_START_LEDGER past every event."""
    from orbitpay.indexer.service import reconcile_once

    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    settings = load_settings(
        database_url=database_url, rpc_url=demo.url, start_ledger=chain.latest_ledger + 1
    )
    report = await reconcile_once(settings, eng, demo.url)
    assert report.contracts == 4 and report.findings == []
    _assert_equals_dump(await indexed_state(eng), expected_state(chain.state_dump()))


async def test_a_contract_without_instance_is_reported_and_nothing_is_read(
    eng: AsyncEngine, rpc: RpcClient, demo: Any
) -> None:
    from orbitpay.orgs import register_organization

    ghost = StrKey.encode_contract(bytes(range(32)))
    async with eng.begin() as conn:
        await register_organization(conn, "Ghost", {"payroll": ghost})
    rep = await bootstrap_contract(eng, rpc, ghost, start_ledger=demo.chain.latest_ledger + 1)
    assert (rep.missing, rep.checked, rep.inserted) == (1, 0, 0)
    assert [(p.entity, p.field) for p in rep.problems] == [("contract", "instance")]
    async with eng.connect() as conn:
        rows = (await conn.execute(select(discrepancies))).all()
    assert [(r.source, r.entity, r.entity_id) for r in rows] == [("bootstrap", "contract", ghost)]
    with pytest.raises(ValueError, match="not registered"):
        await bootstrap_contract(eng, rpc, StrKey.encode_contract(bytes(32)))


async def test_members_follow_the_chain_added_reweighted_and_removed(
    eng: AsyncEngine, rpc: RpcClient, demo: Any
) -> None:
    chain = demo.chain
    await register_devnet_orgs(eng, chain)
    governance = chain.organizations()[0]["contracts"]["governance"]
    beyond = chain.latest_ledger + 1
    await bootstrap_contract(eng, rpc, governance, start_ledger=beyond)
    members = chain.contracts[governance].instance["Members"]
    stranger = Keypair.from_raw_ed25519_seed(bytes(range(32))).public_key
    async with eng.begin() as conn:
        # one member's weight went stale, and a row for someone no longer a member
        await conn.execute(
            update(governance_members)
            .where(governance_members.c.member == members[0])
            .values(weight=99, last_ledger=1)
        )
        await conn.execute(
            insert(governance_members).values(
                contract_id=governance, member=stranger, weight=3, active=True, last_ledger=1
            )
        )
    rep = await bootstrap_contract(eng, rpc, governance, start_ledger=beyond)
    assert sorted((f.entity_id, f.field) for f in rep.findings) == sorted(
        [(members[0], "weight"), (stranger, "active")]
    )
    async with eng.connect() as conn:
        rows = {r.member: r for r in await conn.execute(select(governance_members))}
    assert rows[members[0]].weight == chain.contracts[governance].weight(members[0])
    assert rows[stranger].active is False and rows[stranger].origin == "events"
    assert {m for m, r in rows.items() if r.active} == set(members)


async def test_index_once_on_a_short_retention_rpc_equals_the_dump(
    eng: AsyncEngine, database_url: str
) -> None:
    """The RPC serves only the last ~17 days: what is older comes from ledger state."""
    from orbitpay.devnet.server import start_background_devnet

    handle = start_background_devnet(scenario="demo", seed=1, live=False, retention_ledgers=300_000)
    try:
        chain = handle.chain
        assert chain.oldest_ledger > chain.genesis_ledger
        await register_devnet_orgs(eng, chain)
        settings = load_settings(database_url=database_url, rpc_url=handle.url)
        await index_until_latest(settings, eng, handle.url, progress=False)
        _assert_equals_dump(await indexed_state(eng), expected_state(chain.state_dump()))
        assert await _count(eng, streams, streams.c.origin == "ledger_state") > 0
    finally:
        handle.stop()
