"""Every read endpoint against a database of realistic rows, values checked exactly."""

from __future__ import annotations

import csv
import io
from typing import Any

from api_factories import BASE_UNIX, account, ledger_time

from conftest import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    GOV,
    PAYROLL,
    PAYROLL2,
    TREASURY,
    USDC,
    VESTING,
    XLM,
    Api,
)
from orbitpay.formulas import stream_claimable, vesting_next_unlock, vesting_vested


def iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def unix_iso(seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------ organizations


async def test_organizations(api: Api, world: dict[str, Any]) -> None:
    body = await api.json("/api/organizations")
    assert body["next_cursor"] is None
    assert [o["name"] for o in body["items"]] == ["beta", "acme"]  # desc by id
    acme = body["items"][1]
    assert acme["id"] == world["org"]
    assert acme["admin"] == ADMIN
    assert acme["contracts"] == {
        "treasury": [TREASURY],
        "payroll": [PAYROLL],
        "vesting": [VESTING],
        "governance": [GOV],
    }
    assert acme["created_at"].endswith("Z")
    one = await api.json(f"/api/organizations/{world['org2']}")
    assert one["contracts"]["payroll"] == [PAYROLL2] and one["admin"] is None
    asc = await api.json("/api/organizations?order=asc&limit=1")
    assert [o["name"] for o in asc["items"]] == ["acme"]
    nxt = await api.json(f"/api/organizations?order=asc&limit=1&cursor={asc['next_cursor']}")
    assert [o["name"] for o in nxt["items"]] == ["beta"] and nxt["next_cursor"] is None
    err = await api.json("/api/organizations/999999", 404)
    assert err["error"]["code"] == "not_found"


# ------------------------------------------------------------------ streams


def stream_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "stream_id": row["stream_id"],
        "contract_id": row["contract_id"],
        "sender": row["sender"],
        "recipient": row["recipient"],
        "token": row["token"],
        "total_amount": str(row["total_amount"]),
        "claimed_amount": str(row["claimed_amount"]),
        "start_time": unix_iso(row["start_time"]),
        "end_time": unix_iso(row["end_time"]),
        "status": row["status"],
        "created_ledger": row["created_ledger"],
        "created_tx_hash": row["created_tx_hash"],
        "created_at": iso(row["created_at"]),
    }


async def test_streams_list_values_and_filters(api: Api, world: dict[str, Any]) -> None:
    rows = world["streams"]
    body = await api.json("/api/streams")
    assert body["items"] == [stream_json(r) for r in reversed(rows)]
    assert body["next_cursor"] is None

    alice = await api.json(f"/api/streams?recipient={ALICE}&order=asc")
    assert [s["stream_id"] for s in alice["items"]] == [0, 2]
    assert [s["stream_id"] for s in (await api.json(f"/api/streams?sender={BOB}"))["items"]] == [0]
    active = await api.json("/api/streams?status=active")
    assert {(s["contract_id"], s["stream_id"]) for s in active["items"]} == {
        (PAYROLL, 0),
        (PAYROLL, 1),
        (PAYROLL2, 0),
    }
    only2 = await api.json(f"/api/streams?contract={PAYROLL2}")
    assert [s["contract_id"] for s in only2["items"]] == [PAYROLL2]
    both = await api.json(f"/api/streams?recipient={ALICE}&status=completed&contract={PAYROLL}")
    assert [s["stream_id"] for s in both["items"]] == [2]
    assert (await api.json(f"/api/streams?recipient={DAVE}&sender={ADMIN}"))["items"] == []


async def test_stream_detail_claimable_at_request_time(api: Api, world: dict[str, Any]) -> None:
    s0 = world["streams"][0]
    body = await api.json(f"/api/streams/0?contract={PAYROLL}")
    assert {k: body[k] for k in stream_json(s0)} == stream_json(s0)
    # t = start + 1500 of 3000 s: half accrued (1_500_000) minus 500_000 claimed.
    assert body["claimable_amount"] == "1000000"
    assert body["as_of"] == unix_iso(api.clock.now)
    claim = world["stream_claims"][0]
    assert body["claims"] == [
        {
            "amount": "500000",
            "ledger": claim["ledger"],
            "tx_hash": claim["tx_hash"],
            "claimed_at": iso(claim["claimed_at"]),
            "kind": "claim",
        }
    ]
    # Odd amounts: floor division exactly as the contract.
    for t in (BASE_UNIX + 99, BASE_UNIX + 100, BASE_UNIX + 433, BASE_UNIX + 1099, BASE_UNIX + 5000):
        api.clock.now = t
        got = (await api.json(f"/api/streams/1?contract={PAYROLL}"))["claimable_amount"]
        assert got == str(stream_claimable(1_000_003, 0, BASE_UNIX + 100, BASE_UNIX + 1100, t))
    api.clock.now = BASE_UNIX + 433
    assert (await api.json(f"/api/streams/1?contract={PAYROLL}"))["claimable_amount"] == "333000"
    # Completed and cancelled streams have nothing left to claim.
    assert (await api.json(f"/api/streams/2?contract={PAYROLL}"))["claimable_amount"] == "0"
    cancelled = await api.json(f"/api/streams/3?contract={PAYROLL}")
    assert cancelled["claimable_amount"] == "0"
    assert cancelled["claims"][0]["kind"] == "cancel"
    # Unique ids need no contract.
    assert (await api.json("/api/streams/2"))["token"] == XLM


async def test_stream_ids_are_per_contract(api: Api, world: dict[str, Any]) -> None:
    err = await api.json("/api/streams/0", 409)
    assert err["error"]["code"] == "ambiguous_id"
    assert sorted(err["error"]["details"]["candidates"]) == sorted([PAYROLL, PAYROLL2])
    assert PAYROLL in err["error"]["message"] and PAYROLL2 in err["error"]["message"]
    other = await api.json(f"/api/streams/0?contract={PAYROLL2}")
    assert other["recipient"] == DAVE
    assert (await api.json("/api/streams/77", 404))["error"]["code"] == "not_found"
    assert (await api.json(f"/api/streams/3?contract={PAYROLL2}", 404))["error"]["code"] == (
        "not_found"
    )


async def test_invalid_input_is_422_or_400_never_500(api: Api, world: dict[str, Any]) -> None:
    bad_g = ALICE[:-1] + ("A" if ALICE[-1] != "A" else "B")  # checksum broken
    cases = {
        f"/api/streams?recipient={bad_g}": ("recipient", 422),
        "/api/streams?sender=alice": ("sender", 422),
        f"/api/streams?contract={ALICE}": ("contract", 422),
        "/api/streams?status=paused_forever": ("status", 422),
        "/api/streams?limit=0": ("limit", 422),
        "/api/streams?limit=201": ("limit", 422),
        "/api/streams?order=sideways": ("order", 422),
        "/api/streams/-1": ("id", 422),
        f"/api/streams/{2**64}": ("id", 422),
        "/api/streams/abc": ("id", 422),
        "/api/vesting?beneficiary=%F0%9F%92%B8": ("beneficiary", 422),
        f"/api/treasury/{ALICE}/balance": ("addr", 422),
        "/api/analytics/payroll?from=yesterday": ("from", 422),
        "/api/analytics/payroll?interval=minute": ("interval", 422),
        "/api/proposals/1/votes?choice=maybe": ("choice", 422),
        "/api/events?type=": ("type", 422),
    }
    for url, (param, status) in cases.items():
        response = await api.get(url)
        assert response.status_code == status, (url, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
        assert param in response.json()["error"]["message"], (url, response.text)
    for url in (
        "/api/streams?cursor=garbage",
        "/api/streams?cursor=a.b",
        "/api/streams?cursor=%E2%98%83.%E2%98%83",
        "/api/events/stream?cursor=yesterday",
    ):
        response = await api.get(url)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "bad_cursor"


# ------------------------------------------------------------------ cursors


async def test_cursor_pages_tamper_and_binding(api: Api, world: dict[str, Any]) -> None:
    seen = []
    url = "/api/streams?limit=2&order=asc"
    page = await api.json(url)
    seen += page["items"]
    while page["next_cursor"]:
        page = await api.json(f"{url}&cursor={page['next_cursor']}")
        seen += page["items"]
    assert [(s["contract_id"], s["stream_id"]) for s in seen] == [
        (r["contract_id"], r["stream_id"]) for r in world["streams"]
    ]
    first = await api.json("/api/streams?limit=2")
    cursor = first["next_cursor"]
    body, mac = cursor.split(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    for bad in (tampered, body + "." + mac[::-1], cursor + "x"):
        response = await api.get(f"/api/streams?limit=2&cursor={bad}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_cursor"
    # A cursor is bound to its filters and order.
    for other in (
        f"/api/streams?status=active&cursor={cursor}",
        f"/api/streams?order=asc&cursor={cursor}",
    ):
        response = await api.get(other)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_cursor"
    # ...but not to the page size.
    assert (await api.json(f"/api/streams?limit=3&cursor={cursor}"))["items"]


# ------------------------------------------------------------------ treasury


async def test_treasury_events_balance_withdrawals(api: Api, world: dict[str, Any]) -> None:
    log = await api.json(f"/api/treasury/{TREASURY}/events?limit=200&order=asc")
    types = [e["type"] for e in log["items"]]
    assert types == [
        "initialized",
        "deposit",
        "deposit",
        "deposit",
        "withdrawal_created",
        "withdrawal_approved",
        "withdrawal_executed",
        "withdrawal_created",
        "signer_added",
    ]
    first_deposit = world["treasury_events"][1]
    assert log["items"][1] == {
        "id": first_deposit["event_id"],
        "contract_id": TREASURY,
        "type": "deposit",
        "address": ALICE,
        "amount": "5000000",
        "token": USDC,
        "withdrawal_id": None,
        "ledger": first_deposit["ledger"],
        "tx_hash": first_deposit["tx_hash"],
        "timestamp": iso(first_deposit["timestamp"]),
    }
    deposits = await api.json(f"/api/treasury/{TREASURY}/events?type=deposit")
    assert [e["amount"] for e in deposits["items"]] == ["2000000", "1000", "5000000"]

    balance = await api.json(f"/api/treasury/{TREASURY}/balance")
    assert balance == {
        "contract_id": TREASURY,
        "balances": sorted(
            [
                {
                    "token": USDC,
                    "deposited": "7000000",
                    "withdrawn": "1500000",
                    "balance": "5500000",
                },
                {"token": XLM, "deposited": "1000", "withdrawn": "0", "balance": "1000"},
            ],
            key=lambda b: b["token"],
        ),
        "as_of_ledger": max(e["ledger"] for e in world["treasury_events"]),
    }

    withdrawals = await api.json(f"/api/treasury/{TREASURY}/withdrawals")
    w0 = world["withdrawals"][0]
    assert [w["withdrawal_id"] for w in withdrawals["items"]] == [1, 0]
    got0 = withdrawals["items"][1]
    assert got0["approvals"] == [ADMIN, BOB]
    assert got0["status"] == "executed" and got0["amount"] == "1500000"
    assert got0["recipient"] == CAROL and got0["memo"] == "payroll"
    assert got0["created_at"] == iso(w0["created_at"])
    assert got0["executed_at"] == iso(w0["executed_at"])
    assert withdrawals["items"][0]["approvals"] == [BOB]
    assert withdrawals["items"][0]["executed_at"] is None
    pending = await api.json(f"/api/treasury/{TREASURY}/withdrawals?status=pending")
    assert [w["withdrawal_id"] for w in pending["items"]] == [1]

    unknown = await api.json(f"/api/treasury/{PAYROLL2}/events", 404)
    assert unknown["error"]["code"] == "not_found"


async def test_treasury_balance_is_cached_and_invalidated(api: Api, world: dict[str, Any]) -> None:
    from api_factories import Factory

    url = f"/api/treasury/{TREASURY}/balance"
    before = await api.json(url)
    async with api.engine.begin() as conn:
        f = Factory(conn, ledger=world["last_ledger"] + 10)
        await f.treasury_event(TREASURY, "deposit", address=BOB, amount=1, token=XLM)
    assert await api.json(url) == before  # cached (60 s)
    await api.app.state.resources.cache.invalidate("treasury")  # what the indexer does
    after = await api.json(url)
    xlm = next(b for b in after["balances"] if b["token"] == XLM)
    assert xlm["balance"] == "1001"


# ------------------------------------------------------------------ vesting


async def test_vesting_list_and_detail(api: Api, world: dict[str, Any]) -> None:
    body = await api.json("/api/vesting?order=asc")
    assert [s["schedule_id"] for s in body["items"]] == [0, 1, 2]
    v0 = body["items"][0]
    assert v0 == {
        "schedule_id": 0,
        "contract_id": VESTING,
        "grantor": ADMIN,
        "beneficiary": ALICE,
        "token": USDC,
        "total_amount": "1200000",
        "claimed_amount": "0",
        "start_time": unix_iso(BASE_UNIX),
        "cliff_time": unix_iso(BASE_UNIX + 1000),
        "cliff_amount": "300000",
        "end_time": unix_iso(BASE_UNIX + 4000),
        "cliff_duration": 1000,
        "total_duration": 4000,
        "label": "team",
        "revocable": True,
        "status": "active",
        "revoked_at": None,
        "created_ledger": world["schedules"][0]["created_ledger"],
        "created_tx_hash": world["schedules"][0]["created_tx_hash"],
    }
    assert [
        s["schedule_id"] for s in (await api.json(f"/api/vesting?beneficiary={BOB}"))["items"]
    ] == [1]
    assert len((await api.json(f"/api/vesting?grantor={ADMIN}"))["items"]) == 3
    assert [
        s["schedule_id"] for s in (await api.json("/api/vesting?status=fully_claimed"))["items"]
    ] == [2]
    detail = await api.json("/api/vesting/1")
    assert detail["status"] == "revoked" and detail["total_amount"] == "400000"
    assert [c["amount"] for c in detail["claims"]] == ["100000"]
    assert (await api.json("/api/vesting/9", 404))["error"]["code"] == "not_found"


async def test_vesting_progress_matches_contract_formula(api: Api, world: dict[str, Any]) -> None:
    terms = (1_200_000, 300_000, BASE_UNIX, 1000, 4000)
    for dt in (-5, 0, 999, 1000, 1001, 1500, 2345, 3999, 4000, 10_000):
        api.clock.now = BASE_UNIX + dt
        body = await api.json("/api/vesting/0/progress")
        vested = vesting_vested(*terms, api.clock.now)
        nxt = vesting_next_unlock(*terms, api.clock.now)
        assert body == {
            "schedule_id": 0,
            "contract_id": VESTING,
            "total_amount": "1200000",
            "vested_amount": str(vested),
            "claimed_amount": "0",
            "claimable_amount": str(vested),
            "percent_vested": (vested * 1_000_000 // 1_200_000) / 10_000,
            "status": "active",
            "next_unlock_at": unix_iso(nxt) if nxt is not None else None,
            "as_of": unix_iso(api.clock.now),
        }, dt
    api.clock.now = BASE_UNIX + 1500
    body = await api.json("/api/vesting/0/progress")
    assert body["vested_amount"] == "450000" and body["percent_vested"] == 37.5
    assert body["next_unlock_at"] == unix_iso(BASE_UNIX + 1501)
    api.clock.now = BASE_UNIX + 500
    assert (await api.json("/api/vesting/0/progress"))["next_unlock_at"] == unix_iso(
        BASE_UNIX + 1000
    )
    revoked = await api.json("/api/vesting/1/progress")
    assert revoked["vested_amount"] == "400000" and revoked["claimable_amount"] == "0"
    assert revoked["percent_vested"] == 100.0 and revoked["next_unlock_at"] is None
    done = await api.json(f"/api/vesting/2/progress?contract={VESTING}")
    assert done["status"] == "fully_claimed" and done["claimable_amount"] == "0"


# ------------------------------------------------------------------ governance


async def test_proposals_detail_and_votes(api: Api, world: dict[str, Any]) -> None:
    body = await api.json("/api/proposals")
    assert [p["proposal_id"] for p in body["items"]] == [1, 0]
    p0 = body["items"][1]
    assert p0["yes_votes"] == "2" and p0["no_votes"] == "1" and p0["abstain_votes"] == "1"
    assert p0["title"] == "q1_budget" and p0["amount"] == "100000" and p0["recipient"] == BOB
    assert p0["start_time"] == unix_iso(BASE_UNIX)
    assert [
        p["proposal_id"] for p in (await api.json("/api/proposals?status=executed"))["items"]
    ] == [1]
    assert [
        p["proposal_id"] for p in (await api.json(f"/api/proposals?proposer={ALICE}"))["items"]
    ] == [0]

    detail = await api.json("/api/proposals/0")
    assert detail["tallies"] == {"yes": "2", "no": "1", "abstain": "1", "total": "4", "voters": 3}
    assert detail["votes_truncated"] is False
    v = world["votes"][0]
    assert detail["votes"][0] == {
        "voter": BOB,
        "choice": "yes",
        "weight": "2",
        "ledger": v["ledger"],
        "tx_hash": v["tx_hash"],
        "voted_at": iso(v["voted_at"]),
    }
    page = await api.json("/api/proposals/0/votes?limit=2&order=asc")
    assert [x["voter"] for x in page["items"]] == [BOB, CAROL]
    rest = await api.json(f"/api/proposals/0/votes?limit=2&order=asc&cursor={page['next_cursor']}")
    assert [x["voter"] for x in rest["items"]] == [DAVE] and rest["next_cursor"] is None
    assert [x["voter"] for x in (await api.json("/api/proposals/0/votes?choice=no"))["items"]] == [
        CAROL
    ]
    assert (await api.json("/api/proposals/1"))["votes"] == []
    assert (await api.json("/api/proposals/5/votes", 404))["error"]["code"] == "not_found"


# ------------------------------------------------------------------ raw events


async def test_events_log(api: Api, world: dict[str, Any]) -> None:
    everything = await api.json("/api/events?limit=200")
    assert len(everything["items"]) > 20
    ids = [e["id"] for e in everything["items"]]
    assert ids == sorted(ids, reverse=True)
    mine = await api.json(f"/api/events?contract={GOV}&type=vote&order=asc")
    assert [e["id"] for e in mine["items"]] == [v["event_id"] for v in world["votes"]]
    e0 = mine["items"][0]
    assert e0["contract_id"] == GOV and e0["type"] == "vote" and e0["recognised"] is True
    assert e0["ledger_closed_at"] == iso(ledger_time(e0["ledger"]))


# ------------------------------------------------------------------ CSV


async def test_csv_exports(api: Api, world: dict[str, Any]) -> None:
    for url, count, first_col in (
        ("/api/streams", 5, "stream_id"),
        (f"/api/streams?recipient={ALICE}", 2, "stream_id"),
        ("/api/vesting", 3, "schedule_id"),
        ("/api/proposals?status=active", 1, "proposal_id"),
        (f"/api/treasury/{TREASURY}/events", 9, "id"),
        (f"/api/treasury/{TREASURY}/events?type=deposit", 3, "id"),
    ):
        response = await api.get(url, headers={"Accept": "text/csv"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0][0] == first_col
        assert len(rows) == count + 1, (url, rows)
    stream_csv = await api.get(
        f"/api/streams?recipient={ALICE}&order=asc", headers={"Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(stream_csv.text)))
    assert rows[0]["total_amount"] == "3000000" and rows[0]["recipient"] == ALICE
    assert rows[0]["start_time"] == unix_iso(BASE_UNIX)


async def test_csv_export_walks_batches(api: Api, world: dict[str, Any], monkeypatch: Any) -> None:
    from api_factories import Factory

    from orbitpay.api import csv_export

    monkeypatch.setattr(csv_export, "BATCH", 3)
    async with api.engine.begin() as conn:
        f = Factory(conn, ledger=world["last_ledger"] + 1)
        for i in range(10, 21):
            await f.stream(
                PAYROLL,
                i,
                sender=ADMIN,
                recipient=account(i),
                token=USDC,
                total=100,
                start=BASE_UNIX,
                end=BASE_UNIX + 100,
            )
    response = await api.get("/api/streams?order=asc", headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 16
    keys = [(r["contract_id"], r["stream_id"]) for r in rows]
    assert len(set(keys)) == 16


# ------------------------------------------------------------------ analytics


async def test_payroll_analytics(api: Api, world: dict[str, Any]) -> None:
    api.clock.now = BASE_UNIX + 500
    start = ledger_time(0)
    url = f"/api/analytics/payroll?from={iso(start)}&to=2026-01-01T03:00:00Z&interval=hour"
    body = await api.json(url)
    assert body["range"] == {
        "from": "2026-01-01T00:00:00Z",
        "to": "2026-01-01T03:00:00Z",
        "interval": "hour",
        "as_of": unix_iso(BASE_UNIX + 500),
    }
    totals = {t["token"]: t for t in body["by_token"]}
    assert totals[USDC]["total_disbursed"] == "502500"
    assert totals[XLM]["total_disbursed"] == "7000"
    assert totals[USDC]["active_streams"] == 3 and totals[XLM]["active_streams"] == 0
    assert body["active_streams"] == 3
    # Flowing at t=500: stream 0 (3_000_000 over 3000 s), stream 1 (1_000_003 over 1000 s),
    # payroll-2's stream 0 (999 over 999 s).
    burn = 3_000_000 * 86400 // 3000 + 1_000_003 * 86400 // 1000 + 999 * 86400 // 999
    assert totals[USDC]["burn_rate_per_day"] == str(burn)
    assert {"token": USDC, "amount": str(burn)} in body["burn_rate_per_day"]
    series = {(s["name"], s["token"]): s["points"] for s in body["series"]}
    usdc = series[("disbursed", USDC)]
    assert [p["t"] for p in usdc] == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ]
    assert [p["v"] for p in usdc] == ["502500", "0", "0"]  # all claims are in the first hour
    assert [p["v"] for p in series[("disbursed", XLM)]] == ["7000", "0", "0"]
    scoped = await api.json(f"{url}&contract={PAYROLL2}")
    assert scoped["active_streams"] == 1
    assert scoped["total_disbursed"] == [{"token": USDC, "amount": "0"}]


async def test_treasury_analytics_balance_over_time(api: Api, world: dict[str, Any]) -> None:
    # Every treasury event of the world lands in the first 10 minutes: 10-minute-wide
    # hourly buckets would hide the order, so check a day of hours and a week of days.
    body = await api.json(
        f"/api/analytics/treasury?contract={TREASURY}&from=2025-12-31T22:00:00Z"
        "&to=2026-01-01T02:00:00Z&interval=hour"
    )
    series = {(s["name"], s["token"]): [p["v"] for p in s["points"]] for s in body["series"]}
    assert series[("deposits", USDC)] == ["0", "0", "7000000", "0"]
    assert series[("withdrawals", USDC)] == ["0", "0", "1500000", "0"]
    assert series[("balance", USDC)] == ["0", "0", "5500000", "5500000"]
    assert series[("balance", XLM)] == ["0", "0", "1000", "1000"]
    assert {b["token"]: b["balance"] for b in body["balances"]} == {USDC: "5500000", XLM: "1000"}
    # The opening balance before `from` is carried into the series.
    later = await api.json(
        "/api/analytics/treasury?from=2026-01-02T00:00:00Z&to=2026-01-04T00:00:00Z"
    )
    later_series = {(s["name"], s["token"]): [p["v"] for p in s["points"]] for s in later["series"]}
    assert later_series[("balance", USDC)] == ["5500000", "5500000"]
    assert later_series[("deposits", USDC)] == ["0", "0"]


async def test_vesting_analytics(api: Api, world: dict[str, Any]) -> None:
    api.clock.now = BASE_UNIX + 1500
    body = await api.json(
        "/api/analytics/vesting?from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&interval=hour"
    )
    tokens = {t["token"]: t for t in body["by_token"]}
    # USDC: schedule 0 (1_200_000, vested 450_000 at t=1500) + revoked 1 (400_000, all vested).
    assert tokens[USDC] == {
        "token": USDC,
        "schedules": 2,
        "total_value": "1600000",
        "vested": "850000",
        "unvested": "750000",
        "claimed": "100000",
    }
    assert tokens[XLM]["vested"] == "500" and tokens[XLM]["unvested"] == "0"
    assert body["upcoming_cliffs"] == []
    api.clock.now = BASE_UNIX + 10
    early = await api.json(
        "/api/analytics/vesting?from=2026-01-01T00:00:00Z&to=2026-01-01T02:00:00Z&interval=hour"
    )
    assert [c["schedule_id"] for c in early["upcoming_cliffs"]] == [0]
    assert early["upcoming_cliffs"][0]["cliff_time"] == unix_iso(BASE_UNIX + 1000)
    series = {(s["name"], s["token"]): [p["v"] for p in s["points"]] for s in early["series"]}
    # Vested at each bucket's end (01:00 = t+3600, 02:00 = t+7200), with the formula.
    v0_at = [
        vesting_vested(1_200_000, 300_000, BASE_UNIX, 1000, 4000, BASE_UNIX + h * 3600)
        for h in (1, 2)
    ]
    assert series[("vested", USDC)] == [str(v + 400_000) for v in v0_at]
    assert series[("cliffs", USDC)] == ["300000", "0"]
    assert series[("cliffs", XLM)] == ["0", "0"]  # a zero cliff amount still counts as 0


async def test_analytics_ranges(api: Api, world: dict[str, Any]) -> None:
    for path in ("payroll", "treasury", "vesting"):
        body = await api.json(f"/api/analytics/{path}")
        assert body["range"]["interval"] == "day"
        for s in body["series"]:
            assert len(s["points"]) in (30, 31)
    too_many = await api.json(
        "/api/analytics/payroll?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=hour",
        422,
    )
    assert too_many["error"]["details"]["max_buckets"] == 2000
    backwards = await api.json(
        "/api/analytics/payroll?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 422
    )
    assert "before" in backwards["error"]["message"]
    week = await api.json(
        "/api/analytics/payroll?from=2026-01-01T00:00:00Z&to=2026-01-20T00:00:00Z&interval=week"
    )
    # 2026-01-01 is a Thursday: weeks start on the Monday before.
    assert week["series"][0]["points"][0]["t"] == "2025-12-29T00:00:00Z"
    assert len(week["series"][0]["points"]) == 4  # Dec 29, Jan 5, 12, 19
    assert (
        await api.get("/api/analytics/payroll?from=0001-01-01T00:00:00Z&interval=week")
    ).status_code == 422
    assert (await api.get("/api/analytics/payroll?to=0001-01-01T00:00:00Z")).status_code == 422
    assert (await api.get("/api/analytics/vesting?to=9999-12-31T23:00:00Z")).status_code == 200


async def test_events_decoded_json(api: Api, world: dict[str, Any]) -> None:
    body = await api.json(f"/api/events?contract={GOV}&type=vote&limit=1")
    event = body["items"][0]
    assert event["topics"] == ["vote"] and event["topic_symbols"] == ["vote"]
    assert event["value"] is None and event["topics_xdr"] == ["AAAADwAAAAR2b3Rl"]


async def test_payroll_rollups_follow_claims_exactly(api: Api, world: dict[str, Any]) -> None:
    """Whole hours come from the trigger-kept rollup, the partial last hour from the claims;
    inserts and deletes (cascading from events) keep the rollup equal to the claims."""
    from sqlalchemy import text

    claims = world["stream_claims"]
    cut = claims[1]["claimed_at"]  # exclusive `to` in the middle of the first hour
    url = f"/api/analytics/payroll?from=2026-01-01T00:00:00Z&to={iso(cut)}&interval=hour"
    body = await api.json(url)
    series = {(s["name"], s["token"]): [p["v"] for p in s["points"]] for s in body["series"]}
    before_cut = [c for c in claims if c["claimed_at"] < cut]
    assert series[("disbursed", USDC)] == [
        str(sum(c["amount"] for c in before_cut if c["token"] == USDC))
    ]
    assert series[("disbursed", XLM)] == [
        str(sum(c["amount"] for c in before_cut if c["token"] == XLM))
    ]

    async with api.engine.begin() as conn:
        await conn.execute(text("DELETE FROM events WHERE id = :id"), {"id": claims[0]["event_id"]})
        rollup = (
            await conn.execute(text("SELECT token, disbursed FROM payroll_totals ORDER BY token"))
        ).all()
        hourly = (
            await conn.execute(
                text("SELECT token, sum(disbursed) FROM payroll_hourly GROUP BY 1 ORDER BY 1")
            )
        ).all()
        truth = (
            await conn.execute(
                text("SELECT token, sum(amount) FROM stream_claims GROUP BY 1 ORDER BY 1")
            )
        ).all()
    assert [tuple(r) for r in rollup] == [tuple(r) for r in truth] == [tuple(r) for r in hourly]
    await api.app.state.resources.cache.invalidate("analytics")
    after = await api.json("/api/analytics/payroll")
    assert {t["token"]: t["amount"] for t in after["total_disbursed"]}[USDC] == "2500"


async def test_analytics_filtered_by_contract(api: Api, world: dict[str, Any]) -> None:
    """The contract filter is the statements' last parameter, present or not."""
    span = "from=2025-12-31T00:00:00Z&to=2026-01-03T00:00:00Z&interval=hour"

    async def get(path: str, contract: str | None = None) -> dict[str, Any]:
        suffix = f"&contract={contract}" if contract else ""
        body: dict[str, Any] = await api.json(f"/api/analytics/{path}?{span}{suffix}")
        body.pop("contract_id", None)
        return body

    assert await get("vesting", VESTING) == await get("vesting")
    assert await get("treasury", TREASURY) == await get("treasury")
    for path in ("vesting", "treasury"):
        other = await get(path, GOV)
        assert other["series"] == []
    everything, first, second = (
        await get("payroll"),
        await get("payroll", PAYROLL),
        await get("payroll", PAYROLL2),
    )
    assert everything["active_streams"] == first["active_streams"] + second["active_streams"]

    def disbursed(body: dict[str, Any]) -> dict[str, int]:
        return {t["token"]: int(t["amount"]) for t in body["total_disbursed"]}

    def series_total(body: dict[str, Any]) -> int:
        return sum(int(p["v"]) for s in body["series"] for p in s["points"])

    both = disbursed(first)
    for token, amount in disbursed(second).items():
        both[token] = both.get(token, 0) + amount
    assert disbursed(everything) == both and sum(both.values()) > 0
    assert series_total(everything) == series_total(first) + series_total(second) > 0
    nothing = await get("payroll", GOV)
    assert nothing["total_disbursed"] == [] and nothing["series"] == []
