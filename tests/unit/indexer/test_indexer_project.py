"""Projection rules as pure functions: (events + transaction context, rows) -> rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stellar_sdk import StrKey

from orbitpay.contracts import governance as gov
from orbitpay.contracts import payroll as pay
from orbitpay.contracts import treasury as tre
from orbitpay.contracts import vesting as ves
from orbitpay.contracts.base import ContractEvent
from orbitpay.contracts.registry import decode_event
from orbitpay.indexer.enrich import needs_transaction, resolve
from orbitpay.indexer.model import ContractInfo, Item, OrganizationRow, Snapshot
from orbitpay.indexer.project import apply_page, needs
from orbitpay.stellar import scval as sv
from orbitpay.stellar.rpc import RawEvent
from orbitpay.stellar.tx import Call, TxContext

C_PAY = StrKey.encode_contract(b"\x01" * 32)
C_TRE = StrKey.encode_contract(b"\x02" * 32)
C_VES = StrKey.encode_contract(b"\x03" * 32)
C_GOV = StrKey.encode_contract(b"\x04" * 32)
ROUTER = StrKey.encode_contract(b"\x05" * 32)
A, B, C, D = (StrKey.encode_ed25519_public_key(bytes([i]) * 32) for i in range(10, 14))
TOKEN = StrKey.encode_contract(b"\x06" * 32)
KINDS = {C_PAY: "payroll", C_TRE: "treasury", C_VES: "vesting", C_GOV: "governance"}
T0 = 1_767_225_600


class Chain:
    """Builds items as the pipeline would: raw event + decoding + transaction context."""

    def __init__(self) -> None:
        self.ledger = 100
        self.tx = 0

    def item(
        self,
        contract: str,
        event: ContractEvent,
        calls: list[Call] | None = None,
        *,
        ledger: int | None = None,
        at: int | None = None,
        ok: bool = True,
        in_success: bool = True,
        return_value: Any = None,
        index: int = 0,
    ) -> Item:
        self.tx += 1
        ledger = ledger if ledger is not None else self.ledger
        topics, value = event.encode()
        raw = RawEvent(
            id=f"{(ledger << 32) | (self.tx << 12):019d}-{index:010d}",
            type="contract",
            ledger=ledger,
            ledger_closed_at=datetime.fromtimestamp(at if at is not None else T0 + ledger * 5, UTC),
            contract_id=contract,
            topic_xdr=[sv.to_b64(t) for t in topics],
            value_xdr=sv.to_b64(value),
            in_successful_contract_call=in_success,
            tx_hash=f"{self.tx:064x}",
            transaction_index=self.tx,
            operation_index=0,
        )
        kind = KINDS[contract]
        it = Item(
            raw=raw,
            contract=ContractInfo(contract, kind, 1),
            decoded=decode_event(kind, raw.topic_xdr, raw.value_xdr),
        )
        if needs_transaction(it):
            it.tx = TxContext(hash=raw.tx_hash, successful=ok, ledger=ledger, calls=calls or [])
            if return_value is not None:
                it.tx._return_value = return_value
        resolve(it)
        return it


def top(contract: str, fn: str, *args: Any) -> Call:
    return Call(contract, fn, list(args), True)


def nested(contract: str, fn: str, *args: Any) -> Call:
    return Call(contract, fn, list(args), False)


def run(items: list[Item], snap: Snapshot | None = None) -> tuple[Snapshot, Any]:
    snap = snap or Snapshot()
    snap.organizations.setdefault(1, OrganizationRow(1, None))
    return snap, apply_page(items, snap)


def payroll_with_stream(
    ch: Chain, total: int = 1000, start: int = 1000, end: int = 2000
) -> list[Item]:
    return [
        ch.item(C_PAY, pay.Initialized(A), [top(C_PAY, "initialize", A)]),
        ch.item(
            C_PAY,
            pay.StreamCreated(A, 0),
            [top(C_PAY, "create_stream", A, B, TOKEN, total, start, end)],
        ),
    ]


def test_stream_created_from_call_and_claim_resolves_stream_id() -> None:
    ch = Chain()
    items = payroll_with_stream(ch)
    items.append(ch.item(C_PAY, pay.StreamClaimed(B, 300), [top(C_PAY, "claim", B, 0)], at=1300))
    snap, out = run(items)
    s = snap.streams[(C_PAY, 0)]
    assert (s.recipient, s.token, s.total_amount) == (B, TOKEN, 1000)
    assert s.claimed_amount == 300 and s.status == "active"
    assert s.last_claim_time == 1300 and s.rate_per_second == 1
    assert [c.stream_id for c in out.stream_claims] == [0]
    assert out.stream_claims[0].kind == "claim" and out.stream_claims[0].amount == 300
    assert snap.contracts[C_PAY].admin == A
    assert snap.organizations[1].admin == A  # set from init when unset
    assert not out.discrepancies


def test_claim_reaching_total_completes_stream() -> None:
    ch = Chain()
    items = payroll_with_stream(ch)
    items.append(ch.item(C_PAY, pay.StreamClaimed(B, 1000), [top(C_PAY, "claim", B, 0)], at=2500))
    snap, _ = run(items)
    assert snap.streams[(C_PAY, 0)].status == "completed"
    assert snap.streams[(C_PAY, 0)].last_claim_time == 2000  # min(now, end)


def test_cancel_pays_recipient_what_was_owed() -> None:
    ch = Chain()
    items = payroll_with_stream(ch)
    items.append(ch.item(C_PAY, pay.StreamClaimed(B, 100), [top(C_PAY, "claim", B, 0)], at=1100))
    items.append(ch.item(C_PAY, pay.StreamCancelled(A, 0), at=1400))
    snap, out = run(items)
    s = snap.streams[(C_PAY, 0)]
    assert s.status == "cancelled"
    assert s.claimed_amount == 400  # 100 claimed + 300 owed at t=1400
    assert s.refunded_amount == 600
    cancel = [c for c in out.stream_claims if c.kind == "cancel"]
    assert len(cancel) == 1 and cancel[0].amount == 300


def test_batch_create_takes_fields_from_the_call() -> None:
    ch = Chain()
    params = [
        {"recipient": B, "token": TOKEN, "total_amount": 10, "start_time": 5, "end_time": 15},
        {"recipient": C, "token": TOKEN, "total_amount": 20, "start_time": 5, "end_time": 25},
    ]
    it = ch.item(
        C_PAY, pay.BatchCreated(A, (3, 4)), [top(C_PAY, "create_batch_streams", A, params)]
    )
    snap, _ = run([it])
    assert snap.streams[(C_PAY, 3)].recipient == B
    assert snap.streams[(C_PAY, 4)].total_amount == 20
    assert snap.streams[(C_PAY, 4)].batch is True


def test_call_through_a_router_is_found_in_the_auth_tree() -> None:
    ch = Chain()
    items = payroll_with_stream(ch)
    calls = [top(ROUTER, "exec", B, C_PAY, "claim", [B, 0]), nested(C_PAY, "claim", B, 0)]
    items.append(ch.item(C_PAY, pay.StreamClaimed(B, 50), calls, at=1100))
    snap, out = run(items)
    assert snap.streams[(C_PAY, 0)].claimed_amount == 50
    assert not out.discrepancies


def test_unresolvable_claim_is_a_discrepancy_not_a_guess() -> None:
    ch = Chain()
    items = payroll_with_stream(ch)
    # the transaction's claim call names another recipient: it cannot be this event's call
    items.append(ch.item(C_PAY, pay.StreamClaimed(B, 50), [top(C_PAY, "claim", C, 0)]))
    snap, out = run(items)
    assert snap.streams[(C_PAY, 0)].claimed_amount == 0
    assert len(out.stream_claims) == 0
    assert any(d.source == "enrich" and "no claim call" in d.message for d in out.discrepancies)
    assert len(out.events) == 3  # the event itself is still stored


def test_two_identical_calls_without_ordering_info_are_not_guessed() -> None:
    ch = Chain()
    payroll_with_stream(ch)
    calls = [nested(C_PAY, "claim", B, 0), nested(C_PAY, "claim", B, 1)]
    it = ch.item(C_PAY, pay.StreamClaimed(B, 5), calls)
    assert it.problem is not None and "cannot tell" in it.problem


def test_failed_call_changes_nothing_but_is_stored() -> None:
    ch = Chain()
    items = payroll_with_stream(ch)
    items.append(ch.item(C_PAY, pay.StreamCancelled(A, 0), in_success=False))
    items.append(ch.item(C_PAY, pay.StreamClaimed(B, 5), [top(C_PAY, "claim", B, 0)], ok=False))
    snap, out = run(items)
    assert snap.streams[(C_PAY, 0)].status == "active"
    assert snap.streams[(C_PAY, 0)].claimed_amount == 0
    assert len(out.events) == 4
    assert not out.stream_claims


def test_older_event_never_overwrites_newer_state() -> None:
    ch = Chain()
    snap, _ = run(payroll_with_stream(ch))
    snap.streams[(C_PAY, 0)].last_ledger = 500
    late = ch.item(C_PAY, pay.StreamClaimed(B, 10), [top(C_PAY, "claim", B, 0)], ledger=400)
    _, out = run([late], snap)
    assert snap.streams[(C_PAY, 0)].claimed_amount == 0
    assert snap.streams[(C_PAY, 0)].last_ledger == 500
    assert any("older than the row" in d.message for d in out.discrepancies)


def test_withdrawal_is_approved_when_approvals_reach_threshold() -> None:
    ch = Chain()
    items = [
        ch.item(C_TRE, tre.Initialized(A), [top(C_TRE, "initialize", A, [A, B, C], 2)]),
        ch.item(
            C_TRE,
            tre.WithdrawalCreated(A, 0),
            [top(C_TRE, "create_withdrawal", A, TOKEN, D, 70, "rent")],
        ),
    ]
    snap, _out = run(items)
    assert snap.withdrawals[(C_TRE, 0)].status == "pending"  # the proposer's approval alone
    assert snap.approvals[(C_TRE, 0)] == {A}
    approve = ch.item(C_TRE, tre.WithdrawalApproved(B, 0))
    _, out2 = run([approve], snap)
    assert snap.withdrawals[(C_TRE, 0)].status == "approved"
    assert [a.signer for a in out2.approvals] == [B]
    execute = ch.item(
        C_TRE, tre.WithdrawalExecuted(D, 70), [top(C_TRE, "execute_withdrawal", C, 0)]
    )
    _, out3 = run([execute], snap)
    assert snap.withdrawals[(C_TRE, 0)].status == "executed"
    assert out3.treasury_events[0].token == TOKEN and out3.treasury_events[0].withdrawal_id == 0


def test_threshold_changes_are_tracked_from_events() -> None:
    ch = Chain()
    items = [
        ch.item(C_TRE, tre.Initialized(A), [top(C_TRE, "initialize", A, [A, B], 1)]),
        ch.item(C_TRE, tre.SignerAdded(C)),
        ch.item(C_TRE, tre.ThresholdUpdated(3)),
        ch.item(C_TRE, tre.SignerRemoved(B)),
    ]
    snap, out = run(items)
    assert snap.contracts[C_TRE].params.signers == [A, C]
    assert snap.contracts[C_TRE].params.threshold == 3
    assert [t.type for t in out.treasury_events] == [
        "initialized",
        "signer_added",
        "threshold_updated",
        "signer_removed",
    ]


def test_deposit_token_comes_from_the_call() -> None:
    ch = Chain()
    it = ch.item(C_TRE, tre.Deposited(A, 9), [top(C_TRE, "deposit", A, TOKEN, 9)])
    _, out = run([it])
    assert out.treasury_events[0].token == TOKEN and out.treasury_events[0].amount == 9


def test_unknown_treasury_event_is_raw_and_counted() -> None:
    ch = Chain()
    it = ch.item(C_TRE, tre.Deposited(A, 9))
    it.decoded = decode_event(
        "treasury", [sv.to_b64(sv.symbol("TreasuryDeposit"))], sv.to_b64(sv.i128(1))
    )
    _, out = run([it])
    assert out.events[0].recognised is False
    assert out.treasury_events[0].type == "unknown"
    assert out.unrecognised == {("treasury", "unknown"): 1}
    assert out.discrepancies[0].source == "decode"


def test_vote_weight_is_the_voters_weight_at_voting_time() -> None:
    ch = Chain()
    items = [
        ch.item(C_GOV, gov.Initialized(A), [top(C_GOV, "initialize", A, [A, B, C], 50, 100, 10)]),
        ch.item(
            C_GOV,
            gov.ProposalCreated(A, 0),
            [top(C_GOV, "create_proposal", A, "hire", TOKEN, 5, D)],
        ),
        ch.item(C_GOV, gov.WeightSet(B, 7)),
        ch.item(C_GOV, gov.Voted(B, 0), [top(C_GOV, "vote", B, 0, ["Yes"])]),
        ch.item(C_GOV, gov.WeightSet(B, 1)),  # later changes do not rewrite the vote
        ch.item(C_GOV, gov.Voted(C, 0), [top(C_GOV, "vote", C, 0, ["No"])]),
        ch.item(C_GOV, gov.Voted(A, 0), [top(C_GOV, "vote", A, 0, ["Abstain"])]),
    ]
    snap, out = run(items)
    p = snap.proposals[(C_GOV, 0)]
    assert (p.yes_votes, p.no_votes, p.abstain_votes) == (7, 1, 1)
    assert [(v.voter, v.choice, v.weight) for v in out.votes] == [
        (B, "yes", 7),
        (C, "no", 1),
        (A, "abstain", 1),
    ]
    assert p.end_time == p.start_time + 100
    assert snap.contracts[C_GOV].params.total_weight == 3 - 1 + 7 - 7 + 1


def test_finalize_takes_the_proposal_id_from_the_call() -> None:
    ch = Chain()
    items = [
        ch.item(C_GOV, gov.Initialized(A), [top(C_GOV, "initialize", A, [A], 50, 100, 10)]),
        ch.item(
            C_GOV, gov.ProposalCreated(A, 0), [top(C_GOV, "create_proposal", A, "x", TOKEN, 5, D)]
        ),
        ch.item(
            C_GOV, gov.ProposalCreated(A, 1), [top(C_GOV, "create_proposal", A, "y", TOKEN, 5, D)]
        ),
        ch.item(C_GOV, gov.Finalized("approved"), [top(C_GOV, "finalize", B, 1)]),
    ]
    snap, _ = run(items)
    assert snap.proposals[(C_GOV, 1)].status == "approved"
    assert snap.proposals[(C_GOV, 0)].status == "active"


def test_removed_member_keeps_weight_when_re_added() -> None:
    ch = Chain()
    items = [
        ch.item(C_GOV, gov.Initialized(A), [top(C_GOV, "initialize", A, [A, B], 50, 100, 10)]),
        ch.item(C_GOV, gov.WeightSet(B, 4)),
        ch.item(C_GOV, gov.MemberRemoved(B)),
    ]
    snap, _ = run(items)
    assert snap.members[(C_GOV, B)].active is False
    _, _ = run([ch.item(C_GOV, gov.MemberAdded(B))], snap)
    assert snap.members[(C_GOV, B)].active is True and snap.members[(C_GOV, B)].weight == 4


def _vesting(ch: Chain, *, via_router: bool = False, ret: Any = 0) -> list[Item]:
    args = (A, B, TOKEN, 1000, 100, 10, 100, 110, "grant", True)
    call = (
        nested(C_VES, "create_schedule", *args)
        if via_router
        else top(C_VES, "create_schedule", *args)
    )
    calls = [top(ROUTER, "exec", A), call] if via_router else [call]
    return [
        ch.item(C_VES, ves.Initialized(A), [top(C_VES, "initialize", A)]),
        ch.item(
            C_VES,
            ves.ScheduleCreated(A, B, 1000, 10, 110),
            calls,
            return_value=None if via_router else ret,
        ),
    ]


def test_schedule_id_comes_from_the_return_value() -> None:
    ch = Chain()
    snap, _ = run(_vesting(ch, ret=0))
    s = snap.schedules[(C_VES, 0)]
    assert (s.cliff_time, s.end_time, s.label, s.revocable) == (110, 210, "grant", True)


def test_schedule_id_through_a_router_uses_the_tracked_count() -> None:
    ch = Chain()
    snap, out = run(_vesting(ch, via_router=True))
    assert (C_VES, 0) in snap.schedules
    assert not out.discrepancies


def test_schedule_id_unknown_without_init_is_recorded() -> None:
    ch = Chain()
    items = _vesting(ch, via_router=True)[1:]
    snap, out = run(items)
    assert not snap.schedules
    assert any("schedule id unknown" in d.message for d in out.discrepancies)


def test_vesting_claim_fully_and_revoke() -> None:
    ch = Chain()
    items = _vesting(ch)
    items.append(ch.item(C_VES, ves.ScheduleClaimed(B, 0, 300)))
    snap, out = run(items)
    assert snap.schedules[(C_VES, 0)].claimed_amount == 300
    assert out.vesting_claims[0].token == TOKEN
    # revoke at t=160: vested = 100 + 900 * (60 - 10) // 100 = 550 -> unvested 450
    _, out = run([ch.item(C_VES, ves.ScheduleRevoked(A, 0, 450), at=160)], snap)
    s = snap.schedules[(C_VES, 0)]
    assert (s.status, s.total_amount, s.original_total_amount) == ("revoked", 550, 1000)
    assert s.revoked_at == datetime.fromtimestamp(160, UTC)
    assert not out.discrepancies


def test_revoke_amount_disagreeing_with_formula_is_recorded() -> None:
    ch = Chain()
    snap, _ = run(_vesting(ch))
    _, out = run([ch.item(C_VES, ves.ScheduleRevoked(A, 0, 1), at=160)], snap)
    assert snap.schedules[(C_VES, 0)].total_amount == 999
    assert any(d.field == "total_amount" for d in out.discrepancies)


def test_fully_claimed() -> None:
    ch = Chain()
    snap, _ = run(_vesting(ch))
    run([ch.item(C_VES, ves.ScheduleFullyClaimed(0))], snap)
    assert snap.schedules[(C_VES, 0)].status == "fully_claimed"


def test_needs_lists_rows_to_load() -> None:
    ch = Chain()
    items = [
        *payroll_with_stream(ch),
        ch.item(C_PAY, pay.StreamClaimed(B, 1), [top(C_PAY, "claim", B, 7)]),
        ch.item(C_GOV, gov.Voted(B, 2), [top(C_GOV, "vote", B, 2, ["No"])]),
    ]
    n = needs(items)
    assert (C_PAY, 7) in n.streams and (C_PAY, 0) in n.streams
    assert (C_GOV, 2) in n.proposals and (C_GOV, B) in n.members and (C_GOV, 2, B) in n.votes


def test_u64_beyond_bigint_is_clamped_with_a_discrepancy() -> None:
    ch = Chain()
    it = ch.item(
        C_PAY, pay.StreamCreated(A, 0), [top(C_PAY, "create_stream", A, B, TOKEN, 10, 1, 2**64 - 1)]
    )
    snap, out = run([it])
    assert snap.streams[(C_PAY, 0)].end_time == 2**63 - 1
    assert any(d.field == "end_time" for d in out.discrepancies)
