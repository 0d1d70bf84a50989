"""RPC methods over a pre-generated demo chain, checked with stellar-sdk's own models."""

from __future__ import annotations

from typing import Any

import pytest
from stellar_sdk import TransactionEnvelope, scval, xdr
from stellar_sdk.soroban_rpc import (
    GetEventsResponse,
    GetHealthResponse,
    GetLatestLedgerResponse,
    GetLedgerEntriesResponse,
    GetLedgersResponse,
    GetNetworkResponse,
    GetTransactionResponse,
    GetTransactionsResponse,
)

from orbitpay.devnet import xdr as dx
from orbitpay.devnet.chain import Chain
from orbitpay.devnet.rpc import RpcMethods, handle_request
from orbitpay.devnet.scenarios import build_chain
from orbitpay.stellar import scval as sv


@pytest.fixture(scope="module")
def chain() -> Chain:
    return build_chain("demo", seed=3)


@pytest.fixture(scope="module")
def rpc(chain: Chain) -> RpcMethods:
    return RpcMethods(chain)


def call(rpc: RpcMethods, method: str, params: Any = None) -> dict[str, Any]:
    return handle_request(rpc, {"jsonrpc": "2.0", "id": 7, "method": method, "params": params})


def ok(rpc: RpcMethods, method: str, params: Any = None) -> dict[str, Any]:
    resp = call(rpc, method, params)
    assert "error" not in resp, resp
    assert resp["id"] == 7
    return resp["result"]


def all_events(
    rpc: RpcMethods, start: int, limit: int, filters: list[dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], int, int]:
    res = ok(
        rpc,
        "getEvents",
        {"startLedger": start, "filters": filters or [], "pagination": {"limit": limit}},
    )
    events, pages, empty = list(res["events"]), 1, 0
    latest = res["latestLedger"]
    while True:
        ledger = int(res["cursor"].split("-")[0]) >> 32
        if not res["events"] and ledger >= latest:
            break
        res = ok(
            rpc,
            "getEvents",
            {"filters": filters or [], "pagination": {"cursor": res["cursor"], "limit": limit}},
        )
        GetEventsResponse.model_validate(res)
        pages += 1
        empty += not res["events"]
        events.extend(res["events"])
    return events, pages, empty


def test_simple_methods_parse(rpc: RpcMethods, chain: Chain) -> None:
    h = GetHealthResponse.model_validate(ok(rpc, "getHealth"))
    assert (
        h.status == "healthy"
        and h.latest_ledger == chain.latest_ledger
        and h.oldest_ledger == chain.genesis_ledger
    )
    n = GetNetworkResponse.model_validate(ok(rpc, "getNetwork"))
    assert n.passphrase == chain.network_passphrase and n.protocol_version == 23
    ll = GetLatestLedgerResponse.model_validate(ok(rpc, "getLatestLedger"))
    assert ll.sequence == chain.latest_ledger and ll.close_time == chain.close_time(
        chain.latest_ledger
    )
    assert xdr.LedgerHeader.from_xdr(ll.header_xdr).ledger_seq.uint32 == ll.sequence
    xdr.LedgerCloseMeta.from_xdr(ll.metadata_xdr)


def test_events_paginate_across_pages_with_empty_pages(rpc: RpcMethods, chain: Chain) -> None:
    events, pages, empty = all_events(rpc, chain.genesis_ledger, 40)
    assert len(events) == chain.event_count  # every event once, in order
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert empty > 0 and pages > (chain.latest_ledger - chain.genesis_ledger) // 10_000
    e = events[0]
    GetEventsResponse.model_validate(
        {
            "events": events[:3],
            "cursor": "x",
            "latestLedger": 1,
            "oldestLedger": 1,
            "latestLedgerCloseTime": "1",
            "oldestLedgerCloseTime": "1",
        }
    )
    ledger, tx, op, idx = dx.parse_event_id(e["id"])
    assert e["id"] == f"{(ledger << 32) | (tx << 12) | op:019d}-{idx:010d}"
    assert (ledger, tx, op) == (e["ledger"], e["transactionIndex"], e["operationIndex"])
    assert e["inSuccessfulContractCall"] is True and e["ledgerClosedAt"].endswith("Z")


def test_scan_window_is_10000_ledgers(rpc: RpcMethods, chain: Chain) -> None:
    start = (
        chain.genesis_ledger + 50_000
    )  # demo has quiet stretches; the window still caps the scan
    res = ok(rpc, "getEvents", {"startLedger": start, "pagination": {"limit": 10_000}})
    if len(res["events"]) < 10_000:
        assert (
            res["cursor"] == f"{((start + 9_999) << 32) | (0xFFFFF << 12) | 0xFFF:019d}-4294967295"
        )
    assert all(start <= ev["ledger"] < start + 10_000 for ev in res["events"])


def test_filters_contract_topics_and_wildcards(rpc: RpcMethods, chain: Chain) -> None:
    org = chain.organizations()[0]
    gov = org["contracts"]["governance"]
    vote_sym = sv.to_b64(sv.symbol("vote"))
    f = [{"type": "contract", "contractIds": [gov], "topics": [[vote_sym, "*"]]}]
    votes, _, _ = all_events(rpc, chain.genesis_ledger, 100, f)
    n_votes = len(
        chain.contracts[gov].history
        and [h for h in chain.contracts[gov].history if h["kind"] == "vote"]
    )
    assert len(votes) == n_votes > 0
    assert all(v["contractId"] == gov and v["topic"][0] == vote_sym for v in votes)
    # "**" matches any length; exact length without it
    fin = [{"contractIds": [gov], "topics": [[sv.to_b64(sv.symbol("finalize")), "**"]]}]
    finals, _, _ = all_events(rpc, chain.genesis_ledger, 100, fin)
    silent = [h for h in chain.contracts[gov].history if h["kind"] == "finalize" and h["silent"]]
    noisy = [h for h in chain.contracts[gov].history if h["kind"] == "finalize" and not h["silent"]]
    assert silent and len(finals) == len(noisy)  # silent finalize paths have no event
    none = [{"contractIds": [gov], "topics": [[sv.to_b64(sv.symbol("finalize")), "*"]]}]
    assert all_events(rpc, chain.genesis_ledger, 100, none)[0] == []


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"startLedger": 0}, "startLedger must be positive"),
        (
            {"startLedger": 2_000_001, "pagination": {"limit": 10_001}},
            "limit must not exceed 10000",
        ),
        ({"startLedger": 2_000_001, "filters": [{}] * 6}, "maximum 5 filters"),
        (
            {
                "startLedger": 2_000_001,
                "filters": [
                    {
                        "contractIds": ["CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE"]
                        * 6
                    }
                ],
            },
            "maximum 5 contract IDs",
        ),
        (
            {"startLedger": 2_000_001, "filters": [{"contractIds": ["GBAD"]}]},
            "contract ID 1 invalid",
        ),
        ({"startLedger": 2_000_001, "filters": [{"topics": [["*"]] * 6}]}, "maximum 5 topics"),
        ({"startLedger": 2_000_001, "filters": [{"topics": [["*"] * 5]}]}, "more than 4 segments"),
        (
            {"startLedger": 2_000_001, "filters": [{"topics": [["**", "*"]]}]},
            "only allowed as the last",
        ),
        ({"startLedger": 2_000_001, "filters": [{"type": "diagnostic"}]}, "type must be either"),
        (
            {"startLedger": 2_000_001, "pagination": {"cursor": "0000000000000000001-0000000000"}},
            "cannot both be set",
        ),
        ({"pagination": {"cursor": "nonsense"}}, "invalid event id"),
    ],
)
def test_invalid_params(rpc: RpcMethods, params: dict[str, Any], fragment: str) -> None:
    resp = call(rpc, "getEvents", params)
    assert resp["error"]["code"] == -32602 and fragment in resp["error"]["message"]


def test_out_of_window_start_ledger() -> None:
    c = build_chain("empty", ledgers=50, retention_ledgers=20)
    r = RpcMethods(c)
    assert ok(r, "getHealth")["oldestLedger"] == c.latest_ledger - 19
    for start in (c.oldest_ledger - 1, c.latest_ledger + 1):
        err = call(r, "getEvents", {"startLedger": start})["error"]
        assert err["code"] == -32600 and f"{c.oldest_ledger} - {c.latest_ledger}" in err["message"]
    assert ok(r, "getEvents", {"startLedger": c.oldest_ledger})["events"] == []


def test_retention_window_answers_as_stellar_rpc() -> None:
    """``--retention``: every method serves the last N ledgers with stellar-rpc's exact errors."""
    c = build_chain("demo", seed=3, retention_ledgers=200_000)
    r = RpcMethods(c)
    oldest, latest = c.latest_ledger - 199_999, c.latest_ledger
    health = ok(r, "getHealth")
    assert (health["oldestLedger"], health["latestLedger"]) == (oldest, latest)
    assert health["ledgerRetentionWindow"] == 200_000
    old = c.genesis_ledger
    assert call(r, "getEvents", {"startLedger": old})["error"] == {
        "code": -32600,
        "message": f"startLedger must be within the ledger range: {oldest} - {latest}",
    }
    assert call(r, "getTransactions", {"startLedger": old})["error"] == {
        "code": -32600,
        "message": f"start ledger ({old}) must be between the oldest ledger: {oldest} "
        f"and the latest ledger: {latest} for this rpc instance",
    }
    assert call(r, "getLedgers", {"startLedger": old})["error"] == {
        "code": -32600,
        "message": f"start ledger ({old}) must be between the oldest ledger: {oldest} "
        f"and the latest ledger: {latest} for this rpc instance",
    }
    early = next(t for t in c.txs.values() if t.ledger < oldest)
    late = next(t for t in c.txs.values() if t.ledger >= oldest)
    assert ok(r, "getTransaction", {"hash": early.hash})["status"] == "NOT_FOUND"
    assert ok(r, "getTransaction", {"hash": late.hash})["status"] in ("SUCCESS", "FAILED")
    served = ok(r, "getEvents", {"startLedger": oldest, "pagination": {"limit": 10_000}})
    assert served["events"] and all(e["ledger"] >= oldest for e in served["events"])
    txs = ok(r, "getTransactions", {"startLedger": oldest, "pagination": {"limit": 200}})
    assert txs["transactions"][0]["ledger"] >= oldest
    stale = str(dx.toid(early.ledger, 1, 0))
    assert call(r, "getTransactions", {"pagination": {"cursor": stale}})["error"] == {
        "code": -32602,
        "message": f"database does not contain metadata for ledger: {early.ledger}",
    }


def test_get_ledgers_serves_real_ledger_close_meta() -> None:
    c = build_chain("load", 1, organizations=1, events=120, retention_ledgers=10)
    r = RpcMethods(c)
    oldest, latest = c.oldest_ledger, c.latest_ledger
    page = ok(r, "getLedgers", {"startLedger": oldest, "pagination": {"limit": 4}})
    GetLedgersResponse.model_validate(page)
    assert [x["sequence"] for x in page["ledgers"]] == list(range(oldest, oldest + 4))
    assert page["cursor"] == str(oldest + 3) and page["oldestLedger"] == oldest
    rest = ok(r, "getLedgers", {"pagination": {"cursor": page["cursor"], "limit": 200}})
    assert [x["sequence"] for x in rest["ledgers"]] == list(range(oldest + 4, latest + 1))
    with_txs = 0
    for info in page["ledgers"] + rest["ledgers"]:
        meta = xdr.LedgerCloseMeta.from_xdr(info["metadataXdr"])
        assert meta.v == 2 and meta.v2 is not None
        entry = xdr.LedgerHeaderHistoryEntry.from_xdr(info["headerXdr"])
        assert (
            entry.header.ledger_seq.uint32
            == info["sequence"]
            == (meta.v2.ledger_header.header.ledger_seq.uint32)
        )
        assert entry.hash.hash.hex() == info["hash"]
        assert entry.header.scp_value.close_time.time_point.uint64 == int(info["ledgerCloseTime"])
        rec = c.ledgers.get(info["sequence"])
        hashes = [p.result.transaction_hash.hash.hex() for p in meta.v2.tx_processing]
        assert hashes == ([t.hash for t in rec.txs] if rec else [])
        with_txs += bool(hashes)
    assert with_txs > 0
    bad_cursor = call(r, "getLedgers", {"pagination": {"cursor": str(oldest - 5)}})["error"]
    assert bad_cursor == {
        "code": -32602,
        "message": f"cursor ('{oldest - 5}') must be between the oldest ledger: {oldest} "
        f"and the latest ledger: {latest} for this rpc instance",
    }
    too_many = call(r, "getLedgers", {"startLedger": oldest, "pagination": {"limit": 201}})
    assert too_many["error"] == {"code": -32600, "message": "limit must not exceed 200"}
    latest_info = ok(r, "getLatestLedger")
    assert xdr.LedgerHeader.from_xdr(latest_info["headerXdr"]).ledger_seq.uint32 == latest
    assert xdr.LedgerCloseMeta.from_xdr(latest_info["metadataXdr"]).v == 2


def test_jsonrpc_errors(rpc: RpcMethods) -> None:
    assert call(rpc, "nope")["error"]["code"] == -32601
    assert handle_request(rpc, {"id": 1})["error"]["code"] == -32600
    assert call(rpc, "getTransaction", {"hash": "ab"})["error"]["code"] == -32602
    assert call(rpc, "getLedgerEntries", {"keys": []})["error"]["code"] == -32602
    nf = ok(rpc, "getTransaction", {"hash": "00" * 32})
    assert GetTransactionResponse.model_validate(nf).status.value == "NOT_FOUND"


def _tx(rpc: RpcMethods, h: str) -> GetTransactionResponse:
    return GetTransactionResponse.model_validate(ok(rpc, "getTransaction", {"hash": h}))


def test_transaction_decodes_to_call_return_value_and_events(rpc: RpcMethods, chain: Chain) -> None:
    rec = next(r for r in chain.txs.values() if r.function == "create_stream" and r.success)
    tx = _tx(rpc, rec.hash)
    assert (
        tx.status.value == "SUCCESS"
        and tx.ledger == rec.ledger
        and tx.application_order == rec.order
    )
    env = TransactionEnvelope.from_xdr(tx.envelope_xdr, chain.network_passphrase)
    assert env.hash_hex() == rec.hash
    op = env.transaction.operations[0]
    fn = op.host_function.invoke_contract
    assert (
        scval.from_address(
            xdr.SCVal(xdr.SCValType.SCV_ADDRESS, address=fn.contract_address)
        ).address
        == rec.contract
    )
    assert fn.function_name.sc_symbol == b"create_stream"
    args = [sv.decode_scval(a) for a in fn.args]
    stream_id = sv.decode_scval(
        xdr.TransactionMeta.from_xdr(tx.result_meta_xdr).v4.soroban_meta.return_value
    )
    stored = chain.contracts[rec.contract].persistent[("Stream", stream_id)]
    assert args[1:] == [
        stored["recipient"],
        stored["token"],
        stored["total_amount"],
        stored["start_time"],
        stored["end_time"],
    ]
    assert (
        op.auth[0].credentials.type == xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT
    )
    contract_events = [xdr.ContractEvent.from_xdr(e) for e in tx.events.contract_events_xdr[0]]
    assert sv.decode_scval(contract_events[-1].body.v0.topics[0]) == "s_create"
    assert sv.decode_scval(contract_events[-1].body.v0.data) == stream_id
    assert (
        xdr.TransactionResult.from_xdr(tx.result_xdr).result.code
        == xdr.TransactionResultCode.txSUCCESS
    )


def test_router_call_is_in_auth_tree(rpc: RpcMethods, chain: Chain) -> None:
    rec = next(r for r in chain.txs.values() if r.function == "create_batch_streams")
    env = TransactionEnvelope.from_xdr(_tx(rpc, rec.hash).envelope_xdr, chain.network_passphrase)
    op = env.transaction.operations[0]
    assert (
        op.host_function.invoke_contract.function_name.sc_symbol == b"exec"
    )  # router at top level
    entry = op.auth[0]
    assert entry.credentials.type == xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS
    sub = entry.root_invocation.sub_invocations[0].function.contract_fn
    assert sub.function_name.sc_symbol == b"create_batch_streams"
    params = sv.decode_scval(sub.args[1])
    assert {"end_time", "recipient", "start_time", "token", "total_amount"} == set(params[0])


def test_failed_transaction(rpc: RpcMethods, chain: Chain) -> None:
    rec = next(r for r in chain.txs.values() if not r.success)
    tx = _tx(rpc, rec.hash)
    assert tx.status.value == "FAILED" and tx.diagnostic_events_xdr
    res = xdr.TransactionResult.from_xdr(tx.result_xdr)
    assert res.result.code == xdr.TransactionResultCode.txFAILED
    assert not any(e.tx_hash == rec.hash for r in chain.ledgers.values() for e in r.events)


def test_get_transactions_pages(rpc: RpcMethods, chain: Chain) -> None:
    res = GetTransactionsResponse.model_validate(
        ok(
            rpc,
            "getTransactions",
            {"startLedger": chain.genesis_ledger, "pagination": {"limit": 7}},
        )
    )
    assert len(res.transactions) == 7
    nxt = GetTransactionsResponse.model_validate(
        ok(rpc, "getTransactions", {"pagination": {"cursor": res.cursor, "limit": 7}})
    )
    assert nxt.transactions[0].transaction_hash not in {
        t.transaction_hash for t in res.transactions
    }
    order = [(t.ledger, t.application_order) for t in res.transactions + nxt.transactions]
    assert order == sorted(order)


def test_ledger_entries_decode_to_structs(rpc: RpcMethods, chain: Chain) -> None:
    org = chain.organizations()[0]
    vest = org["contracts"]["vesting"]
    keys = [
        dx.contract_data_key(vest, sv.enum_tuple("Schedule", sv.u32(2))),
        dx.contract_data_key(vest, dx.instance_key_scval()),
        dx.contract_data_key(vest, sv.enum_tuple("Schedule", sv.u32(999))),  # missing: omitted
    ]
    res = GetLedgerEntriesResponse.model_validate(
        ok(rpc, "getLedgerEntries", {"keys": [k.to_xdr() for k in keys]})
    )
    assert len(res.entries) == 2
    sched = sv.decode_scval(xdr.LedgerEntryData.from_xdr(res.entries[0].xdr).contract_data.val)
    stored = chain.contracts[vest].persistent[("Schedule", 2)]
    assert sched["status"] == [stored["status"]] and sched["total_amount"] == stored["total_amount"]
    assert sched["revoked_at"] == stored["revoked_at"]
    assert res.entries[0].last_modified_ledger == chain.contracts[vest].modified[("Schedule", 2)]
    inst = xdr.LedgerEntryData.from_xdr(res.entries[1].xdr).contract_data.val.instance
    storage = {sv.decode_scval(e.key)[0]: sv.decode_scval(e.val) for e in inst.storage.sc_map}
    assert storage == {
        "Admin": org["admin"],
        "ScheduleCount": chain.contracts[vest].instance["ScheduleCount"],
    }


def test_meta_v3_carries_return_value_and_events() -> None:
    c = build_chain("demo", seed=2, meta_version=3)
    rec = next(
        r
        for r in c.txs.values()
        if r.function == "claim"
        and r.success
        and r.contract in [o["contracts"]["payroll"] for o in c.organizations()]
    )
    meta = xdr.TransactionMeta.from_xdr(rec.meta_xdr)
    assert meta.v == 3
    amount = sv.decode_scval(meta.v3.soroban_meta.return_value)
    last = meta.v3.soroban_meta.events[-1].body.v0
    assert sv.decode_scval(last.topics[0]) == "claim" and sv.decode_scval(last.data) == amount > 0


def test_same_seed_same_chain() -> None:
    a, b = build_chain("demo", seed=5), build_chain("demo", seed=5)
    assert list(a.txs) == list(b.txs) and a.state_dump() == b.state_dump()
    assert list(build_chain("demo", seed=6).txs)[:50] != list(a.txs)[:50]
