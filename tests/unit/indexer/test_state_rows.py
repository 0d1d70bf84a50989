"""Storage values -> rows: each entity encoded as the contracts store it, decoded back.

The encodings are the devnet contracts' (``encode_value``: ``#[contracttype]``
structs as soroban-sdk writes them), so these tests check the decoders against
the real wire shape, for any values hypothesis can think of.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import Keypair, StrKey

from orbitpay.devnet.contracts.governance import GovernanceContract
from orbitpay.devnet.contracts.payroll import PayrollContract
from orbitpay.devnet.contracts.treasury import TreasuryContract
from orbitpay.devnet.contracts.vesting import VestingContract
from orbitpay.indexer import state_rows
from orbitpay.indexer.state_rows import BIGINT_MAX, MAX_TIME, StateError
from orbitpay.stellar import scval as sv
from orbitpay.stellar.ledger import archived, unit_variant

U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
I128 = st.integers(-(2**127), 2**127 - 1)
U128 = st.integers(0, 2**128 - 1)
SYMBOL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=9)
ACCOUNT = st.binary(min_size=32, max_size=32).map(StrKey.encode_ed25519_public_key)
CONTRACT = st.binary(min_size=32, max_size=32).map(StrKey.encode_contract)
ADDRESS = ACCOUNT | CONTRACT
MAX_SECONDS = int(MAX_TIME.timestamp())


def _at(seconds: int) -> datetime:
    return MAX_TIME if seconds > MAX_SECONDS else datetime.fromtimestamp(seconds, UTC)


def _roundtrip(contract: Any, key: tuple[Any, ...], value: dict[str, Any]) -> Any:
    """Encode as the contract stores it, then decode as ``getLedgerEntries`` is read."""
    encoded = contract.encode_value(key, value)
    return sv.decode_scval(sv.from_b64(sv.to_b64(encoded)))


@given(
    wid=U32,
    who=st.lists(ADDRESS, min_size=3, max_size=3),
    amount=I128,
    memo=SYMBOL,
    approvals=st.lists(ADDRESS, max_size=5),
    status=st.sampled_from(["Pending", "Approved", "Executed", "Cancelled"]),
    created=U64,
)
def test_withdrawal(
    wid: int,
    who: list[str],
    amount: int,
    memo: str,
    approvals: list[str],
    status: str,
    created: int,
) -> None:
    w = {
        "id": wid,
        "proposer": who[0],
        "token": who[1],
        "recipient": who[2],
        "amount": amount,
        "memo": memo,
        "approvals": approvals,
        "status": status,
        "created_at": created,
    }
    got = state_rows.withdrawal(_roundtrip(TreasuryContract("C", b""), ("Withdrawal", wid), w), wid)
    assert got.row == {
        "withdrawal_id": wid,
        "proposer": who[0],
        "token": who[1],
        "recipient": who[2],
        "amount": amount,
        "memo": memo,
        "status": status.lower(),
        "created_at": _at(created),
    }
    assert got.approvals == approvals
    assert got.clamped == ({"created_at": created} if created > MAX_SECONDS else {})
    assert state_rows.created_at("withdrawal", got.row) == _at(created)


@given(
    sid=U32,
    who=st.lists(ADDRESS, min_size=3, max_size=3),
    total=I128,
    claimed=I128,
    times=st.lists(U64, min_size=3, max_size=3),
    rate=I128,
    status=st.sampled_from(["Active", "Paused", "Cancelled", "Completed"]),
)
def test_stream(
    sid: int, who: list[str], total: int, claimed: int, times: list[int], rate: int, status: str
) -> None:
    s = {
        "id": sid,
        "sender": who[0],
        "recipient": who[1],
        "token": who[2],
        "total_amount": total,
        "claimed_amount": claimed,
        "start_time": times[0],
        "end_time": times[1],
        "last_claim_time": times[2],
        "status": status,
        "rate_per_second": rate,
    }
    got = state_rows.stream(_roundtrip(PayrollContract("C", b""), ("Stream", sid), s), sid)
    row = got.row
    assert (row["sender"], row["recipient"], row["token"]) == tuple(who)
    assert (row["total_amount"], row["claimed_amount"], row["rate_per_second"]) == (
        total,
        claimed,
        rate,
    )
    assert row["status"] == status.lower()
    # a cancel paid the recipient what was owed and refunded the rest to the sender
    assert row["refunded_amount"] == (total - claimed if status == "Cancelled" else 0)
    names = ("start_time", "end_time", "last_claim_time")
    for name, t in zip(names, times, strict=True):
        assert row[name] == min(t, BIGINT_MAX)
    assert got.clamped == {n: t for n, t in zip(names, times, strict=True) if t > BIGINT_MAX}
    assert state_rows.created_at("stream", row) is None


@given(
    sid=U32,
    who=st.lists(ADDRESS, min_size=3, max_size=3),
    amounts=st.lists(I128, min_size=3, max_size=3),
    start=st.integers(0, 2**40),
    cliff=st.integers(0, 2**30),
    duration=st.integers(1, 2**30),
    label=SYMBOL,
    revocable=st.booleans(),
    status=st.sampled_from(["Active", "Revoked", "FullyClaimed"]),
    revoked=st.none() | U64,
)
def test_schedule(
    sid: int,
    who: list[str],
    amounts: list[int],
    start: int,
    cliff: int,
    duration: int,
    label: str,
    revocable: bool,
    status: str,
    revoked: int | None,
) -> None:
    s = {
        "id": sid,
        "grantor": who[0],
        "beneficiary": who[1],
        "token": who[2],
        "total_amount": amounts[0],
        "claimed_amount": amounts[1],
        "start_time": start,
        "cliff_duration": cliff,
        "cliff_amount": amounts[2],
        "total_duration": duration,
        "label": label,
        "status": status,
        "revocable": revocable,
        "revoked_at": revoked,
    }
    got = state_rows.schedule(_roundtrip(VestingContract("C", b""), ("Schedule", sid), s), sid)
    assert got.row == {
        "schedule_id": sid,
        "grantor": who[0],
        "beneficiary": who[1],
        "token": who[2],
        "total_amount": amounts[0],
        "original_total_amount": amounts[0],
        "claimed_amount": amounts[1],
        "start_time": start,
        "cliff_duration": cliff,
        "cliff_time": start + cliff,
        "cliff_amount": amounts[2],
        "total_duration": duration,
        "end_time": start + duration,
        "label": label,
        "revocable": revocable,
        "status": {"FullyClaimed": "fully_claimed"}.get(status, status.lower()),
        "revoked_at": None if revoked is None else _at(revoked),
    }
    big = revoked is not None and revoked > MAX_SECONDS
    assert got.clamped == ({"revoked_at": revoked} if big else {})


@given(
    pid=U32,
    who=st.lists(ADDRESS, min_size=3, max_size=3),
    amount=I128,
    tallies=st.lists(U128, min_size=3, max_size=3),
    title=SYMBOL,
    start=st.integers(0, 2**40),
    window=st.integers(0, 2**30),
    status=st.sampled_from(["Active", "Approved", "Rejected", "Executed", "Cancelled", "Expired"]),
)
def test_proposal(
    pid: int,
    who: list[str],
    amount: int,
    tallies: list[int],
    title: str,
    start: int,
    window: int,
    status: str,
) -> None:
    voter = Keypair.from_raw_ed25519_seed(bytes(32)).public_key
    p = {
        "id": pid,
        "proposer": who[0],
        "title": title,
        "token": who[1],
        "amount": amount,
        "recipient": who[2],
        "yes_votes": tallies[0],
        "no_votes": tallies[1],
        "abstain_votes": tallies[2],
        "votes": [{"voter": voter, "choice": "Yes", "timestamp": start}],
        "status": status,
        "start_time": start,
        "end_time": start + window,
    }
    got = state_rows.proposal(_roundtrip(GovernanceContract("C", b""), ("Proposal", pid), p), pid)
    assert got.row == {
        "proposal_id": pid,
        "proposer": who[0],
        "title": title,
        "token": who[1],
        "amount": amount,
        "recipient": who[2],
        "status": status.lower(),
        "yes_votes": tallies[0],
        "no_votes": tallies[1],
        "abstain_votes": tallies[2],
        "start_time": start,
        "end_time": start + window,
    }
    # create_proposal sets start_time to the ledger time: the exact creation time
    assert state_rows.created_at("proposal", got.row) == _at(start)


def _stream_value() -> dict[str, Any]:
    a = Keypair.from_raw_ed25519_seed(bytes(32)).public_key
    s = {
        "id": 4,
        "sender": a,
        "recipient": a,
        "token": a,
        "total_amount": 10,
        "claimed_amount": 0,
        "start_time": 1,
        "end_time": 2,
        "last_claim_time": 1,
        "status": "Active",
        "rate_per_second": 10,
    }
    decoded: dict[str, Any] = _roundtrip(PayrollContract("C", b""), ("Stream", 4), s)
    return decoded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": ["Frozen"]}, "status"),
        ({"status": "Active"}, "unit enum"),
        ({"claimed_amount": "10"}, "claimed_amount"),
        ({"claimed_amount": True}, "claimed_amount"),
        ({"sender": 5}, "sender"),
        ({"id": 5}, "holds id 5"),
    ],
)
def test_malformed_values_are_refused(change: dict[str, Any], message: str) -> None:
    value = _stream_value() | change
    with pytest.raises(StateError, match=message):
        state_rows.stream(value, 4)


def test_missing_field_and_non_struct_are_refused() -> None:
    value = _stream_value()
    del value["end_time"]
    with pytest.raises(StateError, match="end_time"):
        state_rows.stream(value, 4)
    with pytest.raises(StateError, match="struct"):
        state_rows.stream([1, 2], 4)


def test_archived_and_unit_variant() -> None:
    assert archived(99, 100) and not archived(100, 100) and not archived(None, 100)
    assert unit_variant(["FullyClaimed"]) == "fully_claimed"
    assert unit_variant("Active") == "active"
    assert unit_variant(["A", "B"]) is None and unit_variant(3) is None
