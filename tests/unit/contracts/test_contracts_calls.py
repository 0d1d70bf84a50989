"""Contract calls as typed records: built once from the decoded arguments, or rejected."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import StrKey

from orbitpay.contracts import governance as gov
from orbitpay.contracts import payroll as pay
from orbitpay.contracts import treasury as tre
from orbitpay.contracts import vesting as ves
from orbitpay.contracts.base import CallError
from orbitpay.contracts.registry import CALLS, EVENT_TYPES, FUNCTIONS, parse_call
from orbitpay.enums import VoteChoice

A, B = (StrKey.encode_ed25519_public_key(bytes([i]) * 32) for i in (10, 11))
TOKEN = StrKey.encode_contract(b"\x06" * 32)
U64 = st.integers(min_value=0, max_value=2**64 - 1)
I128 = st.integers(min_value=-(2**127), max_value=2**127 - 1)


def test_every_function_of_every_contract_has_a_record_named_like_its_signature() -> None:
    for kind, calls in CALLS.items():
        for name, record in calls.items():
            assert record.function == name
            assert FUNCTIONS[kind][name] == record.names
            field_names = tuple(f.name.rstrip("_") for f in fields(record))
            assert field_names == record.names  # ``from_`` for ``from``


def test_every_thin_event_names_a_call_of_its_own_contract() -> None:
    for (kind, _symbol), event in EVENT_TYPES.items():
        if event.call is not None:
            assert CALLS[kind][event.call.function] is event.call


@given(U64, U64, I128)
def test_create_stream_fields_come_from_the_arguments(start: int, end: int, total: int) -> None:
    call = parse_call("payroll", "create_stream", [A, B, TOKEN, total, start, end])
    assert call == pay.CreateStream(A, B, TOKEN, total, start, end)
    assert isinstance(call, pay.CreateStream)
    assert call.params == pay.StreamParams(B, TOKEN, total, start, end)


@pytest.mark.parametrize(
    ("kind", "function", "args", "reason"),
    [
        ("payroll", "claim", [A], "takes 2 arguments, got 1"),
        ("payroll", "claim", [A, "3"], "stream_id: expected an integer"),
        ("payroll", "claim", [A, True], "stream_id: expected an integer"),
        ("payroll", "claim", [7, 3], "recipient: expected an address"),
        ("payroll", "create_batch_streams", [A, {"x": 1}], "expected a vec"),
        (
            "payroll",
            "create_batch_streams",
            [A, [{"recipient": B, "token": TOKEN, "total_amount": 1, "start_time": 0}]],
            r"streams\[0\]: no field 'end_time'",
        ),
        ("treasury", "initialize", [A, [A, 5], 1], r"signers\[1\]: expected an address"),
        ("vesting", "create_schedule", [A, B, TOKEN, 1, 0, 0, 0, 1, "l", 1], "revocable"),
        ("governance", "vote", [A, 0, ["Maybe"]], "vote choice"),
        ("governance", "nope", [], "no function 'nope'"),
    ],
)
def test_misshapen_calls_are_rejected(
    kind: str, function: str, args: list[Any], reason: str
) -> None:
    with pytest.raises(CallError, match=reason):
        parse_call(kind, function, args)


def test_batch_streams_keep_extra_struct_keys_out() -> None:
    p = {"recipient": B, "token": TOKEN, "total_amount": 5, "start_time": 1, "end_time": 9}
    call = parse_call("payroll", "create_batch_streams", [A, [p, {**p, "memo": "x"}]])
    assert isinstance(call, pay.CreateBatchStreams)
    assert call.streams == (pay.StreamParams(B, TOKEN, 5, 1, 9),) * 2


@pytest.mark.parametrize(
    ("value", "choice"),
    [
        (["Yes"], VoteChoice.YES),
        ("No", VoteChoice.NO),
        (2, VoteChoice.ABSTAIN),
        (["yes"], None),
        (3, None),
        (True, None),
    ],
)
def test_vote_choice_as_decoded(value: Any, choice: VoteChoice | None) -> None:
    assert gov.vote_choice(value) == choice


def test_optional_labels_are_kept_only_when_text() -> None:
    w = parse_call("treasury", "create_withdrawal", [A, TOKEN, B, 5, None])
    s = parse_call("vesting", "create_schedule", [A, B, TOKEN, 9, 0, 1, 2, 3, b"\x00", True])
    assert isinstance(w, tre.CreateWithdrawal) and isinstance(s, ves.CreateSchedule)
    assert w.memo is None and s.label is None
    assert parse_call("treasury", "create_withdrawal", [A, TOKEN, B, 5, "rent"]) == (
        tre.CreateWithdrawal(A, TOKEN, B, 5, "rent")
    )
