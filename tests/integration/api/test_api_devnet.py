"""End to end: the devnet's ``demo`` scenario, indexed by the real indexer into an empty
database, served by the API, checked against the devnet's own state dump and against
the contract formulas at chosen times."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from conftest import Clock, make_app
from orbitpay.api.common import request_time
from orbitpay.config import load_settings
from orbitpay.devnet.scenarios import live_stepper
from orbitpay.devnet.server import start_background_devnet
from orbitpay.formulas import stream_claimable, vesting_next_unlock, vesting_vested
from orbitpay.indexer.service import index_until_latest
from orbitpay.orgs import register_organization


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def indexed(clean_engine: AsyncEngine, database_url: str) -> AsyncIterator[dict[str, Any]]:
    handle = start_background_devnet("demo", seed=1, live=False)
    try:
        # Then 200 ledgers of the demo's live activity (what `orbitpay devnet` adds every
        # 5 s), so that some streams are still flowing at the latest ledger.
        step = live_stepper(handle.chain, "demo", 1)
        assert step is not None
        with handle.chain.lock:
            for _ in range(200):
                step()
                handle.chain.close_ledger()
        dump = handle.chain.state_dump()
        org = dump["organizations"][0]
        async with clean_engine.begin() as conn:
            await register_organization(conn, org["name"], org["contracts"], org.get("admin"))
        settings = load_settings(database_url=database_url, rpc_url=handle.url)
        await index_until_latest(settings, clean_engine, handle.url, progress=False)
        yield dump
    finally:
        handle.stop()


@pytest.fixture
async def client(clean_engine: AsyncEngine) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    app = make_app(clean_engine)
    clock = Clock()
    app.dependency_overrides[request_time] = lambda: clock.now
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c, clock


async def _all(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    sep = "&" if "?" in url else "?"
    page = (await client.get(f"{url}{sep}limit=200&order=asc")).json()
    items += page["items"]
    while page["next_cursor"]:
        page = (
            await client.get(f"{url}{sep}limit=200&order=asc&cursor={page['next_cursor']}")
        ).json()
        items += page["items"]
    return items


async def test_demo_indexed_matches_devnet(
    indexed: dict[str, Any], client: tuple[httpx.AsyncClient, Clock]
) -> None:
    api, clock = client
    dump = indexed
    org = dump["organizations"][0]
    now = dump["latest_ledger_close_time"]
    clock.now = now

    # -- organizations
    orgs = (await api.get("/api/organizations")).json()["items"]
    assert [o["name"] for o in orgs] == [org["name"]]
    assert {k: v[0] for k, v in orgs[0]["contracts"].items() if v} == org["contracts"]

    # -- payroll: every stream's stored fields and claimable amount now
    payroll = org["payroll"]
    pid = payroll["contract_id"]
    streams = await _all(api, f"/api/streams?contract={pid}")
    assert len(streams) == len(payroll["streams"]) > 0
    by_id = {s["stream_id"]: s for s in streams}
    claims_by_stream = Counter(c["stream_id"] for c in payroll["claims"])
    for want in payroll["streams"]:
        got = by_id[want["id"]]
        for field in ("sender", "recipient", "token", "total_amount", "claimed_amount", "status"):
            assert got[field] == want[field], (want["id"], field)
        assert got["start_time"] == iso(want["start_time"])
        assert got["end_time"] == iso(want["end_time"])
        detail = (await api.get(f"/api/streams/{want['id']}?contract={pid}")).json()
        assert detail["claimable_amount"] == want["claimable_amount"], want["id"]
        paid = [c for c in detail["claims"] if c["kind"] == "claim"]
        assert len(paid) == claims_by_stream[want["id"]]
        # ...and at chosen earlier times, the contract's formula on the stored terms.
        total, claimed = int(want["total_amount"]), int(want["claimed_amount"])
        start, end = want["start_time"], want["end_time"]
        if want["status"] == "active":
            for t in (start - 1, start + (end - start) // 3, end - 1, end + 100):
                clock.now = t
                at_t = (await api.get(f"/api/streams/{want['id']}?contract={pid}")).json()
                assert at_t["claimable_amount"] == str(
                    stream_claimable(total, claimed, start, end, t)
                )
            clock.now = now
    want_claims = Counter((c["ledger"], c["tx_hash"], c["amount"]) for c in payroll["claims"])
    got_claims: Counter[tuple[int, str, str]] = Counter()
    for s in payroll["streams"]:
        detail = (await api.get(f"/api/streams/{s['id']}?contract={pid}")).json()
        got_claims.update(
            (c["ledger"], c["tx_hash"], c["amount"])
            for c in detail["claims"]
            if c["kind"] == "claim"
        )
    assert got_claims == want_claims
    statuses = Counter(s["status"] for s in payroll["streams"])
    assert statuses["active"] > 0 and sum(statuses.values()) > statuses["active"]

    # -- payroll analytics: everything paid to recipients, by token
    disbursed: Counter[str] = Counter()
    tokens = {s["id"]: s["token"] for s in payroll["streams"]}
    for c in payroll["claims"]:
        disbursed[tokens[c["stream_id"]]] += int(c["amount"])
    for c in payroll["cancellations"]:
        disbursed[tokens[c["stream_id"]]] += int(c["paid_to_recipient"])
    analytics = (await api.get(f"/api/analytics/payroll?contract={pid}")).json()
    assert {t["token"]: int(t["amount"]) for t in analytics["total_disbursed"]} == dict(disbursed)
    assert analytics["active_streams"] == sum(
        1 for s in payroll["streams"] if s["status"] == "active"
    )

    # -- treasury: event log, balance, withdrawals
    treasury = org["treasury"]
    tid = treasury["contract_id"]
    log = await _all(api, f"/api/treasury/{tid}/events")
    assert [(e["id"], e["type"]) for e in log] == [
        (h["event_id"], h["type"]) for h in treasury["history"]
    ]
    for got, want in zip(log, treasury["history"], strict=True):
        assert got["ledger"] == want["ledger"] and got["tx_hash"] == want["tx_hash"]
        if want["type"] == "deposit":
            assert got["amount"] == want["amount"] and got["address"] == want["address"]
            assert got["token"] == want["token"]
    balance: Counter[str] = Counter()
    for h in treasury["history"]:
        if h["type"] == "deposit":
            balance[h["token"]] += int(h["amount"])
    for w in treasury["withdrawals"]:
        if w["status"] == "executed":
            balance[w["token"]] -= int(w["amount"])
    got_balance = (await api.get(f"/api/treasury/{tid}/balance")).json()
    assert {b["token"]: int(b["balance"]) for b in got_balance["balances"]} == dict(balance)
    withdrawals = await _all(api, f"/api/treasury/{tid}/withdrawals")
    assert len(withdrawals) == len(treasury["withdrawals"])
    for got, want in zip(withdrawals, treasury["withdrawals"], strict=True):
        assert got["withdrawal_id"] == want["id"]
        assert got["status"] == want["status"] and got["amount"] == want["amount"]
        assert sorted(got["approvals"]) == sorted(want["approvals"])

    # -- vesting: schedules, progress now and at chosen times
    vesting = org["vesting"]
    vid = vesting["contract_id"]
    schedules = await _all(api, f"/api/vesting?contract={vid}")
    assert len(schedules) == len(vesting["schedules"]) > 0
    for got, want in zip(schedules, vesting["schedules"], strict=True):
        assert got["schedule_id"] == want["id"]
        for field in ("grantor", "beneficiary", "token", "total_amount", "claimed_amount",
                      "cliff_amount", "status", "label", "revocable"):  # fmt: skip
            assert got[field] == want[field], (want["id"], field)
        assert got["cliff_time"] == iso(want["cliff_time"])
        progress = (await api.get(f"/api/vesting/{want['id']}/progress?contract={vid}")).json()
        if want["status"] == "active":
            assert progress["vested_amount"] == want["vested_amount"], want["id"]
            terms = (
                int(want["total_amount"]),
                int(want["cliff_amount"]),
                want["start_time"],
                want["cliff_duration"],
                want["total_duration"],
            )
            for t in (want["start_time"] + want["cliff_duration"] - 1, want["cliff_time"],
                      want["start_time"] + want["total_duration"] * 2 // 3):  # fmt: skip
                clock.now = t
                p = (await api.get(f"/api/vesting/{want['id']}/progress?contract={vid}")).json()
                assert p["vested_amount"] == str(vesting_vested(*terms, t))
                nxt = vesting_next_unlock(*terms, t)
                assert p["next_unlock_at"] == (iso(nxt) if nxt is not None else None)
            clock.now = now
        else:
            assert progress["claimable_amount"] == "0"

    # -- governance: proposals, tallies, votes
    gov = org["governance"]
    gid = gov["contract_id"]
    proposals = await _all(api, f"/api/proposals?contract={gid}")
    assert len(proposals) == len(gov["proposals"])
    for got, want in zip(proposals, gov["proposals"], strict=True):
        assert got["proposal_id"] == want["id"]
        for field in ("proposer", "token", "amount", "recipient", "yes_votes", "no_votes",
                      "abstain_votes", "status"):  # fmt: skip
            assert got[field] == want[field], (want["id"], field)
        detail = (await api.get(f"/api/proposals/{want['id']}?contract={gid}")).json()
        assert detail["tallies"]["voters"] == want["vote_count"]
        want_votes = [v for v in gov["votes"] if v["proposal_id"] == want["id"]]
        assert [(v["voter"], v["choice"], v["weight"]) for v in detail["votes"]] == [
            (v["voter"], v["choice"], v["weight"]) for v in want_votes
        ]

    # -- raw events: every indexed contract event, in chain order
    events = await _all(api, "/api/events")
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    history_ids = {h["event_id"] for h in treasury["history"]}
    assert history_ids <= set(ids)
