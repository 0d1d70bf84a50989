"""Event decoders: random valid events round-trip; anything else is stored raw, never fatal."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import StrKey

from orbitpay.contracts import governance as gov
from orbitpay.contracts import payroll as pay
from orbitpay.contracts import treasury as tre
from orbitpay.contracts import vesting as ves
from orbitpay.contracts.base import ContractEvent
from orbitpay.contracts.registry import REGISTRY, decode_event, named_args
from orbitpay.enums import ProposalStatus
from orbitpay.stellar import scval as sv

accounts = st.binary(min_size=32, max_size=32).map(StrKey.encode_ed25519_public_key)
contracts_ = st.binary(min_size=32, max_size=32).map(StrKey.encode_contract)
addresses = st.one_of(accounts, contracts_)
u32s = st.integers(0, 2**32 - 1)
u64s = st.integers(0, 2**64 - 1)
i128s = st.integers(-(2**127), 2**127 - 1)
u128s = st.integers(0, 2**128 - 1)

EVENT_ARGS: dict[type[ContractEvent], tuple[st.SearchStrategy[object], ...]] = {
    tre.Initialized: (addresses,),
    tre.Deposited: (
        addresses,
        i128s,
    ),
    tre.WithdrawalCreated: (
        addresses,
        u32s,
    ),
    tre.WithdrawalApproved: (
        addresses,
        u32s,
    ),
    tre.WithdrawalExecuted: (
        addresses,
        i128s,
    ),
    tre.SignerAdded: (addresses,),
    tre.SignerRemoved: (addresses,),
    tre.ThresholdUpdated: (u32s,),
    pay.Initialized: (addresses,),
    pay.StreamCreated: (
        addresses,
        u32s,
    ),
    pay.BatchCreated: (
        addresses,
        st.lists(u32s, max_size=8).map(tuple),
    ),
    pay.StreamClaimed: (
        addresses,
        i128s,
    ),
    pay.StreamCancelled: (
        addresses,
        u32s,
    ),
    ves.Initialized: (addresses,),
    ves.ScheduleCreated: (
        addresses,
        addresses,
        i128s,
        u64s,
        u64s,
    ),
    ves.ScheduleClaimed: (
        addresses,
        u32s,
        i128s,
    ),
    ves.ScheduleFullyClaimed: (u32s,),
    ves.ScheduleRevoked: (
        addresses,
        u32s,
        i128s,
    ),
    gov.Initialized: (addresses,),
    gov.ProposalCreated: (
        addresses,
        u32s,
    ),
    gov.Voted: (
        addresses,
        u32s,
    ),
    gov.Finalized: (st.sampled_from(list(ProposalStatus)),),
    gov.ProposalExecuted: (u32s,),
    gov.ProposalCancelled: (
        addresses,
        u32s,
    ),
    gov.MemberAdded: (addresses,),
    gov.MemberRemoved: (addresses,),
    gov.WeightSet: (
        addresses,
        u128s,
    ),
}
EVENTS = [st.builds(cls, *args) for cls, args in EVENT_ARGS.items()]


def _xdr(event: ContractEvent) -> tuple[list[str], str]:
    topics, value = event.encode()
    return [sv.to_b64(t) for t in topics], sv.to_b64(value)


@settings(max_examples=400, deadline=None)
@given(st.one_of(*EVENTS))
def test_every_valid_event_round_trips(event: ContractEvent) -> None:
    topics, value = _xdr(event)
    decoded = decode_event(event.kind, topics, value)
    assert decoded.recognised, decoded.error
    assert decoded.event == event
    assert decoded.type == event.symbol
    assert decoded.topic_symbols[0] == event.symbol


def test_every_registered_symbol_has_a_strategy() -> None:
    covered = {(cls.kind, cls.symbol) for cls in EVENT_ARGS}
    assert covered == set(REGISTRY)


@settings(max_examples=200, deadline=None)
@given(st.one_of(*EVENTS), st.sampled_from(["treasury", "payroll", "vesting", "governance"]))
def test_events_of_another_kind_are_not_misread(event: ContractEvent, kind: str) -> None:
    topics, value = _xdr(event)
    decoded = decode_event(kind, topics, value)
    if (kind, event.symbol) not in REGISTRY:
        assert not decoded.recognised
        assert decoded.reason == "unknown"


def test_newer_treasury_schema_is_stored_raw_not_fatal() -> None:
    topics = [
        sv.to_b64(sv.symbol("TreasuryDeposit")),
        sv.to_b64(sv.address(StrKey.encode_ed25519_public_key(bytes(32)))),
    ]
    decoded = decode_event("treasury", topics, sv.to_b64(sv.i128(5)))
    assert not decoded.recognised
    assert decoded.reason == "unknown"
    assert decoded.type == "TreasuryDeposit"
    assert decoded.value == 5  # the raw value is still kept, decoded generically
    assert "TreasuryDeposit" in (decoded.error or "")


def test_wrong_shapes_are_malformed() -> None:
    who = sv.address(StrKey.encode_ed25519_public_key(bytes(32)))
    # claim with a u32 instead of i128
    d = decode_event(
        "payroll", [sv.to_b64(sv.symbol("claim")), sv.to_b64(who)], sv.to_b64(sv.u32(1))
    )
    assert not d.recognised and d.reason == "malformed"
    # deposit without the `from` topic
    d = decode_event("treasury", [sv.to_b64(sv.symbol("deposit"))], sv.to_b64(sv.i128(1)))
    assert not d.recognised and d.reason == "malformed"
    # v_create with a two-element value
    d = decode_event(
        "vesting",
        [sv.to_b64(sv.symbol("v_create")), sv.to_b64(who), sv.to_b64(who)],
        sv.to_b64(sv.vec([sv.i128(1), sv.u64(2)])),
    )
    assert not d.recognised and d.reason == "malformed"
    # finalize with an unknown status
    d = decode_event(
        "governance", [sv.to_b64(sv.symbol("finalize"))], sv.to_b64(sv.enum_unit("Maybe"))
    )
    assert not d.recognised and d.reason == "malformed"


@given(st.binary(max_size=64))
def test_garbage_xdr_never_raises(blob: bytes) -> None:
    text = base64.b64encode(blob).decode()
    decoded = decode_event("treasury", [text], text)
    assert not decoded.recognised or decoded.event is not None


def test_first_topic_not_a_symbol_is_unknown() -> None:
    d = decode_event("payroll", [sv.to_b64(sv.u32(3))], sv.to_b64(sv.u32(3)))
    assert not d.recognised and d.reason == "unknown" and d.type is None


def test_named_args_checks_arity() -> None:
    assert named_args("payroll", "claim", ["G", 3]) == {"recipient": "G", "stream_id": 3}
    assert named_args("payroll", "claim", ["G"]) is None
    assert named_args("payroll", "nope", []) is None
