"""Transactions as a real network carries them: fee bumps, auth trees, meta v3 and v4."""

from __future__ import annotations

from typing import Any

import pytest
from compat_kit import (
    account,
    address_auth,
    authorized,
    contract,
    contract_event,
    envelope,
    event_json,
    fn_call_diag,
    fn_return_diag,
    meta_v3,
    meta_v4,
    source_auth,
    tx_json,
)
from stellar_sdk import xdr

from orbitpay.contracts.registry import decode_event
from orbitpay.indexer.enrich import resolve
from orbitpay.indexer.model import ContractInfo, Item
from orbitpay.stellar import scval as sv
from orbitpay.stellar.fastxdr import Unsupported, envelope_calls_fast
from orbitpay.stellar.rpc import RawEvent, TxInfo
from orbitpay.stellar.tx import envelope_calls, parse_tx

VESTING = contract(3)
PAYROLL = contract(2)
ROUTER = contract(7)
TOKEN = contract(8)
GRANTOR, BENEFICIARY, RECIPIENT = account(4), account(5), account(6)
TX = "ab" * 32


def _schedule_args() -> list[xdr.SCVal]:
    return [
        sv.address(GRANTOR),
        sv.address(BENEFICIARY),
        sv.address(TOKEN),
        sv.i128(1_000_000_000),
        sv.u64(1_750_000_000),
        sv.u64(86_400),
        sv.i128(250_000_000),
        sv.u64(4 * 86_400),
        sv.symbol("advisor"),
        sv.boolean(True),
    ]


def _v_create_event() -> xdr.ContractEvent:
    return contract_event(
        VESTING,
        [sv.symbol("v_create"), sv.address(GRANTOR), sv.address(BENEFICIARY)],
        sv.vec([sv.i128(1_000_000_000), sv.u64(86_400), sv.u64(4 * 86_400)]),
    )


@pytest.mark.parametrize("fee_bump", [False, True])
def test_fee_bump_envelope_yields_the_inner_call(fee_bump: bool) -> None:
    root = authorized(VESTING, "create_schedule", _schedule_args())
    env = envelope(
        VESTING,
        "create_schedule",
        _schedule_args(),
        [address_auth(GRANTOR, root)],
        fee_bump_by=9 if fee_bump else None,
    )
    parsed = xdr.TransactionEnvelope.from_xdr(env)
    assert (parsed.type == xdr.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP) is fee_bump
    slow = envelope_calls(parsed)
    fast = envelope_calls_fast(env)
    assert [(c.contract, c.function, c.args, c.top_level) for c in slow][:1] == [
        (fast[0][0], fast[0][1], fast[0][2], True)
    ]
    ctx = parse_tx(TX, "SUCCESS", 10, env, meta_v3([_v_create_event()], sv.u32(4)))
    assert len(ctx.calls) == 1  # the auth root repeats the top-level call
    call = ctx.calls[0]
    assert (call.contract, call.function, call.top_level) == (VESTING, "create_schedule", True)
    assert call.args[8] == "advisor" and call.args[9] is True and call.args[3] == 1_000_000_000
    assert ctx.return_value == 4


def test_calls_through_another_contract_come_from_the_auth_tree() -> None:
    inner = authorized(PAYROLL, "claim", [sv.address(RECIPIENT), sv.u32(3)])
    root = authorized(ROUTER, "claim_all", [sv.address(RECIPIENT)], [inner])
    env = envelope(ROUTER, "claim_all", [sv.address(RECIPIENT)], [address_auth(RECIPIENT, root)])
    for calls in (
        envelope_calls(xdr.TransactionEnvelope.from_xdr(env)),
        parse_tx(TX, "SUCCESS", 10, env, "").calls,
    ):
        claim = [c for c in calls if c.contract == PAYROLL]
        assert len(claim) == 1
        assert claim[0].function == "claim" and claim[0].args == [RECIPIENT, 3]
        assert claim[0].top_level is False


def test_meta_v4_return_value_and_per_operation_events() -> None:
    ev = _v_create_event()
    other = contract_event(TOKEN, [sv.symbol("transfer")], sv.i128(5))
    env = envelope(VESTING, "create_schedule", _schedule_args())
    ctx = parse_tx(TX, "SUCCESS", 10, env, meta_v4([[other, ev]], sv.u32(11)))
    assert ctx.return_value == 11
    refs = ctx.contract_events()
    assert [(r.contract, r.topic0, r.op_index, r.index) for r in refs] == [
        (TOKEN, "transfer", 0, 0),
        (VESTING, "v_create", 0, 1),
    ]


def test_events_object_is_used_when_present_and_meta_when_absent() -> None:
    ev = _v_create_event()
    env = envelope(VESTING, "create_schedule", _schedule_args())
    meta = meta_v4([[ev]], sv.u32(2))
    with_events = TxInfo.from_json(
        tx_json(23, tx_hash=TX, ledger=9, order=1, envelope_xdr=env, meta_xdr=meta, events=[[ev]])
    )
    without = TxInfo.from_json(
        tx_json(23, tx_hash=TX, ledger=9, order=1, envelope_xdr=env, meta_xdr=meta)
    )
    assert with_events.contract_events_xdr is not None and without.contract_events_xdr is None
    for info in (with_events, without):
        ctx = parse_tx(
            info.hash,
            info.status,
            info.ledger,
            info.envelope_xdr,
            info.result_meta_xdr,
            info.contract_events_xdr,
        )
        assert [r.topic0 for r in ctx.contract_events()] == ["v_create"]
        assert ctx.return_value == 2


def test_failed_transaction_has_no_return_value() -> None:
    env = envelope(VESTING, "create_schedule", _schedule_args())
    meta = b64_meta_v4_failed()
    ctx = parse_tx(TX, "FAILED", 10, env, meta)
    assert not ctx.successful and ctx.return_value is None and not ctx.has_return_value


def b64_meta_v4_failed() -> str:
    return meta_v4([[]], None)


def test_fast_reader_refuses_what_it_does_not_know() -> None:
    with pytest.raises(Unsupported):
        envelope_calls_fast("AAAAAA==")


# ── several calls of one function in one transaction (through a router) ─────


def _two_claims(protocol: int, diagnostics: bool) -> tuple[list[Item], Any]:
    """A router claims streams 3 and 5 for one recipient: two claim events, same shape."""
    claims = [authorized(PAYROLL, "claim", [sv.address(RECIPIENT), sv.u32(sid)]) for sid in (3, 5)]
    root = authorized(ROUTER, "claim_both", [sv.address(RECIPIENT)], claims)
    env = envelope(ROUTER, "claim_both", [sv.address(RECIPIENT)], [source_auth(root)])
    evs = [
        contract_event(PAYROLL, [sv.symbol("claim"), sv.address(RECIPIENT)], sv.i128(amount))
        for amount in (70, 90)
    ]
    token_evs = [
        contract_event(TOKEN, [sv.symbol("transfer"), sv.address(PAYROLL)], sv.i128(a))
        for a in (70, 90)
    ]
    contract_events = [token_evs[0], evs[0], token_evs[1], evs[1]]
    diag = []
    if diagnostics:
        diag = [
            fn_call_diag(ROUTER, "claim_both"),
            fn_call_diag(PAYROLL, "claim"),
            fn_call_diag(TOKEN, "transfer"),
            xdr.DiagnosticEvent(True, token_evs[0]),
            fn_return_diag(TOKEN, "transfer"),
            xdr.DiagnosticEvent(True, evs[0]),
            fn_return_diag(PAYROLL, "claim"),
            fn_call_diag(PAYROLL, "claim"),
            fn_call_diag(TOKEN, "transfer"),
            xdr.DiagnosticEvent(True, token_evs[1]),
            fn_return_diag(TOKEN, "transfer"),
            xdr.DiagnosticEvent(True, evs[1]),
            fn_return_diag(PAYROLL, "claim"),
            fn_return_diag(ROUTER, "claim_both"),
        ]
    if protocol >= 23:
        meta = meta_v4([contract_events], sv.void())
        indices = [1, 3]
    else:
        meta = meta_v3(contract_events, sv.void(), diag)
        indices = [5, 11] if diagnostics else [1, 3]
    ctx = parse_tx(TX, "SUCCESS", 50, env, meta)
    info = ContractInfo(PAYROLL, "payroll", 1)
    items = []
    for ev, idx in zip(evs, indices, strict=True):
        assert ev.body.v0 is not None
        raw = RawEvent.from_json(
            event_json(
                protocol,
                ledger=50,
                tx=1,
                op=0,
                index=idx,
                contract_id=PAYROLL,
                topics=list(ev.body.v0.topics),
                value=ev.body.v0.data,
                tx_hash=TX,
            )
        )
        decoded = decode_event("payroll", raw.topic_xdr, raw.value_xdr)
        assert decoded.event is not None
        items.append(Item(raw=raw, contract=info, decoded=decoded, tx=ctx))
    return items, ctx


@pytest.mark.parametrize(("protocol", "diagnostics"), [(22, False), (22, True), (23, False)])
def test_nth_event_is_matched_to_nth_call(protocol: int, diagnostics: bool) -> None:
    items, _ = _two_claims(protocol, diagnostics)
    for it in items:
        resolve(it)
        assert it.problem is None, it.problem
    assert [it.call.stream_id for it in items] == [3, 5]  # type: ignore[union-attr]
    assert all(it.call_top_level is False for it in items)
