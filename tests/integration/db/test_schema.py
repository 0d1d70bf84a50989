"""Schema guarantees on real PostgreSQL: exact i128 money, uniqueness, checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.db.schema import events, organizations, streams

I128_MAX = 2**127 - 1
I128_MIN = -(2**127)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _stream(stream_id: int, total: int, claimed: int = 0) -> dict[str, object]:
    return {
        "contract_id": "CSTREAMS",
        "stream_id": stream_id,
        "sender": "GSENDER",
        "recipient": "GRECIPIENT",
        "token": "CTOKEN",
        "total_amount": total,
        "claimed_amount": claimed,
        "start_time": 1,
        "end_time": 2,
        "status": "active",
        "created_ledger": 10,
        "created_tx_hash": "ab" * 32,
        "created_at": NOW,
        "last_ledger": 10,
    }


def _event(event_id: str) -> dict[str, object]:
    return {
        "id": event_id,
        "contract_id": "CX",
        "ledger": 5,
        "ledger_closed_at": NOW,
        "tx_hash": "cd" * 32,
        "topics_xdr": ["AAAADwAAAAdkZXBvc2l0AA=="],
        "value_xdr": "AAAAAQ==",
        "recognised": True,
        "in_successful_contract_call": True,
    }


async def test_numeric_holds_i128_bounds_exactly(clean_engine: AsyncEngine) -> None:
    async with clean_engine.begin() as conn:
        await conn.execute(
            insert(streams), [_stream(1, I128_MAX, I128_MIN), _stream(2, 0, I128_MIN)]
        )
        rows = (
            await conn.execute(
                select(streams.c.total_amount, streams.c.claimed_amount).order_by(
                    streams.c.stream_id
                )
            )
        ).all()
    assert int(rows[0].total_amount) == I128_MAX
    assert int(rows[0].claimed_amount) == I128_MIN
    assert int(rows[1].claimed_amount) == I128_MIN


async def test_money_beyond_39_digits_is_rejected(clean_engine: AsyncEngine) -> None:
    with pytest.raises(Exception, match="numeric field overflow"):
        async with clean_engine.begin() as conn:
            await conn.execute(insert(streams), [_stream(1, 10**39)])


async def test_on_chain_ids_are_unique_per_contract(clean_engine: AsyncEngine) -> None:
    async with clean_engine.begin() as conn:
        await conn.execute(insert(streams), [_stream(1, 5)])
        other = _stream(1, 5) | {"contract_id": "COTHER"}
        await conn.execute(insert(streams), [other])  # same id, other contract: fine
    with pytest.raises(IntegrityError):
        async with clean_engine.begin() as conn:
            await conn.execute(insert(streams), [_stream(1, 7)])


async def test_event_ids_and_org_names_are_unique(clean_engine: AsyncEngine) -> None:
    async with clean_engine.begin() as conn:
        await conn.execute(insert(events), [_event("0000000000000000001-0000000000")])
        await conn.execute(insert(organizations).values(name="acme"))
    with pytest.raises(IntegrityError):
        async with clean_engine.begin() as conn:
            await conn.execute(insert(events), [_event("0000000000000000001-0000000000")])
    with pytest.raises(IntegrityError):
        async with clean_engine.begin() as conn:
            await conn.execute(insert(organizations).values(name="acme"))


async def test_status_and_claimed_checks(clean_engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with clean_engine.begin() as conn:
            await conn.execute(insert(streams), [_stream(1, 5) | {"status": "Active"}])
    with pytest.raises(IntegrityError):
        async with clean_engine.begin() as conn:
            await conn.execute(insert(streams), [_stream(2, 5, claimed=6)])
