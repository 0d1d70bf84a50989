"""The list pages' fast row encoder says exactly what the pydantic models say."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from orbitpay.api.schemas import (
    Event,
    Proposal,
    Schedule,
    Stream,
    TreasuryEvent,
    Vote,
    Withdrawal,
    row_encoder,
)

amounts = st.one_of(st.integers(0, 2**127), st.integers(0, 10**30).map(Decimal))
unix = st.integers(0, 2**63 - 1)
moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)
text = st.text(min_size=1, max_size=60)


@given(
    st.fixed_dictionaries(
        {
            "stream_id": st.integers(0, 2**32),
            "contract_id": text,
            "sender": text,
            "recipient": text,
            "token": text,
            "total_amount": amounts,
            "claimed_amount": amounts,
            "start_time": unix,
            "end_time": unix,
            "status": st.sampled_from(["active", "paused", "cancelled", "completed"]),
            "created_ledger": st.integers(0, 2**31),
            "created_tx_hash": text,
            "created_at": moments,
        }
    )
)
def test_stream(row: dict[str, object]) -> None:
    assert row_encoder(Stream)(row) == Stream.model_validate(row).model_dump(mode="json")


@given(
    st.fixed_dictionaries(
        {
            "id": text,
            "contract_id": text,
            "type": st.sampled_from(["deposit", "withdrawal_executed", "unknown"]),
            "address": st.none() | text,
            "amount": st.none() | amounts,
            "token": st.none() | text,
            "withdrawal_id": st.none() | st.integers(0, 2**32),
            "ledger": st.integers(0, 2**31),
            "tx_hash": text,
            "timestamp": moments,
        }
    )
)
def test_treasury_event(row: dict[str, object]) -> None:
    encoded = row_encoder(TreasuryEvent)(row)
    assert encoded == TreasuryEvent.model_validate(row).model_dump(mode="json")


def test_every_list_model_maps_amounts_and_times() -> None:
    for model, amount_field, time_field in (
        (Schedule, "cliff_amount", "revoked_at"),
        (Proposal, "yes_votes", "end_time"),
        (Vote, "weight", "voted_at"),
        (Withdrawal, "amount", "executed_at"),
        (Event, None, "ledger_closed_at"),
    ):
        row = {name: None for name in model.model_fields}
        if amount_field:
            row[amount_field] = Decimal(12)
        row[time_field] = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        out = row_encoder(model)(row)
        if amount_field:
            assert out[amount_field] == "12"
        assert out[time_field] == "2026-01-02T03:04:05Z"
