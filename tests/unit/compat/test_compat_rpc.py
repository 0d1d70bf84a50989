"""The RPC client against real stellar-rpc answer shapes (protocol 22 and 23+) and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from compat_kit import (
    CLOSE_TIME,
    account,
    contract,
    event_id,
    event_json,
    events_result,
    max_cursor,
    tx_json,
)

from orbitpay.retry import Backoff
from orbitpay.stellar import scval as sv
from orbitpay.stellar.rpc import (
    EventPage,
    RawEvent,
    RpcClient,
    RpcError,
    RpcUnavailable,
    TxInfo,
    filters_for,
)

TREASURY = contract(1)
OTHER = contract(9)
TX = "9a" * 32


class Script:
    """An httpx transport answering (status, headers, body) in turn; it records the requests."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        status, headers, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, headers=headers, content=content)


def ok(result: Any) -> tuple[int, dict[str, str], Any]:
    return 200, {}, {"jsonrpc": "2.0", "id": 1, "result": result}


def err(code: int, message: str, status: int = 200) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}


def client(script: Script, retries: int = 3) -> RpcClient:
    return RpcClient(
        "http://rpc.invalid",
        retry=Backoff(max_retries=retries, base_delay=0.001, max_delay=0.002),
        transport=httpx.MockTransport(script),
    )


def _deposit(protocol: int, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "protocol": protocol,
        "ledger": 356,
        "tx": 2,
        "op": 0,
        "index": 1,
        "contract_id": TREASURY,
        "topics": [sv.symbol("deposit"), sv.address(account(3))],
        "value": sv.i128(5_000_000),
        "tx_hash": TX,
    }
    base.update(kw)
    return event_json(**base)


# ── getEvents ────────────────────────────────────────────────────────────────


def test_protocol_22_event_shape() -> None:
    item = _deposit(22, index=2)
    assert "pagingToken" in item and "operationIndex" not in item
    ev = RawEvent.from_json(item)
    assert ev.id == event_id(356, 2, 0, 2)
    assert (ev.ledger, ev.transaction_index, ev.operation_index) == (356, 2, 0)
    assert ev.legacy_ids is True
    assert ev.in_successful_contract_call is True
    assert ev.ledger_closed_at == datetime.fromtimestamp(CLOSE_TIME + 5 * 356, UTC)
    assert ev.is_contract_event


def test_protocol_23_event_shape() -> None:
    item = _deposit(23, tx=7, op=0, index=0)
    assert "pagingToken" not in item and "inSuccessfulContractCall" not in item
    ev = RawEvent.from_json(item)
    assert (ev.transaction_index, ev.operation_index) == (7, 0)
    assert ev.legacy_ids is False
    assert ev.in_successful_contract_call is True  # absent since protocol 23


def test_diagnostic_and_system_events_are_not_contract_events() -> None:
    diag = RawEvent.from_json(
        _deposit(22, type_="diagnostic", contract_id="", topics=[sv.symbol("fn_call")])
    )
    assert not diag.is_contract_event and diag.contract_id == ""
    system = RawEvent.from_json(_deposit(23, type_="system"))
    assert not system.is_contract_event
    failed = RawEvent.from_json(_deposit(22, successful=False))
    assert failed.in_successful_contract_call is False


async def test_get_events_requests_contract_type_and_parses_string_times() -> None:
    events = [
        _deposit(22, index=0, type_="diagnostic", contract_id="", topics=[sv.symbol("fn_call")]),
        _deposit(22, index=1),
        _deposit(22, index=3, contract_id=OTHER),  # not asked for
    ]
    script = Script([ok(events_result(events, latest=562, oldest=10, cursor=max_cursor(562)))])
    async with client(script) as rpc:
        page = await rpc.get_events(filters_for([TREASURY]), start_ledger=300, limit=100)
    body = script.requests[0]
    assert body["method"] == "getEvents"
    assert body["params"]["startLedger"] == 300
    assert body["params"]["filters"] == [{"type": "contract", "contractIds": [TREASURY]}]
    assert page.latest_ledger == 562 and page.oldest_ledger == 10
    assert page.latest_ledger_close_time == datetime.fromtimestamp(CLOSE_TIME + 5 * 562, UTC)
    assert len(page.events) == 3 and not page.full
    assert page.scanned_to == 562
    assert [e.is_contract_event and e.contract_id == TREASURY for e in page.events] == [
        False,
        True,
        False,
    ]


async def test_get_events_paging_by_cursor_sends_no_start_ledger() -> None:
    script = Script([ok(events_result([], latest=20_000, oldest=10, cursor=max_cursor(10_009)))])
    async with client(script) as rpc:
        page = await rpc.get_events(filters_for([TREASURY]), cursor=event_id(9, 1, 0, 0), limit=5)
    params = script.requests[0]["params"]
    assert "startLedger" not in params and params["pagination"]["cursor"] == event_id(9, 1, 0, 0)
    # An empty page whose window ends early: scanned to the window end, not to latest.
    assert page.events == [] and page.scanned_to == 10_009
    assert page.scanned_to < page.latest_ledger


def test_full_page_is_scanned_only_before_its_last_ledger() -> None:
    events = [RawEvent.from_json(_deposit(23, ledger=400 + i, tx=1, index=0)) for i in range(3)]
    page = EventPage(events, events[-1].id, 900, 1, None, limit=3)
    assert page.full and page.scanned_to == 401


def test_protocol_22_response_without_close_times_or_oldest() -> None:
    raw = {"events": [_deposit(22)], "latestLedger": 562, "cursor": event_id(356, 2, 0, 1)}
    assert RawEvent.from_json(raw["events"][0]).ledger == 356


# ── getTransaction(s) ────────────────────────────────────────────────────────


def test_created_at_is_a_string_in_get_transaction_and_a_number_in_get_transactions() -> None:
    one = tx_json(22, tx_hash=TX, ledger=5, order=1, envelope_xdr="", meta_xdr="")
    listed = tx_json(22, tx_hash=TX, ledger=5, order=1, envelope_xdr="", meta_xdr="", for_list=True)
    assert isinstance(one["createdAt"], str) and isinstance(listed["createdAt"], int)
    a, b = TxInfo.from_json(one, TX), TxInfo.from_json(listed)
    assert a.created_at == b.created_at == datetime.fromtimestamp(CLOSE_TIME + 25, UTC)
    assert a.contract_events_xdr is None  # protocol 22: no events object


async def test_not_found_transaction_is_an_answer_not_an_error() -> None:
    answer = {
        "status": "NOT_FOUND",
        "latestLedger": 900,
        "latestLedgerCloseTime": "1750004500",
        "oldestLedger": 800,
        "oldestLedgerCloseTime": "1750004000",
    }
    async with client(Script([ok(answer)])) as rpc:
        info = await rpc.get_transaction(TX)
    assert info.status == "NOT_FOUND" and info.hash == TX and info.envelope_xdr == ""


async def test_get_ledger_entries_with_null_or_absent_entries() -> None:
    script = Script([ok({"entries": None, "latestLedger": 77}), ok({"latestLedger": 78})])
    async with client(script) as rpc:
        first = await rpc.get_ledger_entries(["AAAABg=="])
        second = await rpc.get_ledger_entries(["AAAABg=="])
    assert first.entries == [] and first.latest_ledger == 77
    assert second.entries == [] and second.latest_ledger == 78


async def test_ledger_entry_without_live_until() -> None:
    entry = {"key": "k", "xdr": "x", "lastModifiedLedgerSeq": 12}
    async with client(Script([ok({"entries": [entry], "latestLedger": 80})])) as rpc:
        got = await rpc.get_ledger_entries(["k"])
    assert got.entries[0].live_until_ledger is None and got.entries[0].last_modified_ledger == 12


# ── errors ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (-32600, "startLedger must be within the ledger range: 1000 - 121959"),
        (-32602, "invalid parameters: limit must not exceed 10000"),
        (-32601, "method not found"),
    ],
)
async def test_request_errors_are_raised_at_once(code: int, message: str) -> None:
    script = Script([err(code, message)])
    async with client(script) as rpc:
        with pytest.raises(RpcError) as info:
            await rpc.get_events(filters_for([TREASURY]), start_ledger=5)
    assert info.value.code == code and len(script.requests) == 1


async def test_internal_errors_and_overload_are_retried() -> None:
    script = Script(
        [
            err(-32603, "database is locked"),
            (503, {"Retry-After": "0"}, b"upstream unavailable"),
            (429, {"Retry-After": "0"}, b"Too Many Requests"),
            (200, {"content-type": "text/html"}, b"<html>bad gateway</html>"),
            (200, {}, {"unexpected": True}),
            ok({"sequence": 42, "protocolVersion": 23, "id": "ab"}),
        ]
    )
    async with client(script, retries=6) as rpc:
        latest = await rpc.get_latest_ledger()
    assert latest.sequence == 42 and len(script.requests) == 6


async def test_retries_are_bounded() -> None:
    script = Script([(503, {}, b"down")])
    async with client(script, retries=2) as rpc:
        with pytest.raises(RpcUnavailable):
            await rpc.get_health()
    assert len(script.requests) == 3
