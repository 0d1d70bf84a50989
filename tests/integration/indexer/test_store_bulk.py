"""The indexer's bulk writes store every value exactly, whichever JSON encoder carries it.

Rows normally travel as one orjson-encoded JSON document; values orjson refuses
(integers beyond 64 bits: large amounts) fall back to the stdlib encoder. A NUL
character, which PostgreSQL's text and jsonb cannot hold (a contract String may
carry one), is stored as U+FFFD instead of failing the page forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.db.schema import events, streams
from orbitpay.enums import DiscrepancyEntity, DiscrepancySource, StreamStatus
from orbitpay.indexer import store
from orbitpay.indexer.model import Discrepancy, EventRow, StreamRow

CLOSED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _stream(stream_id: int, total: int, claimed: int, **extra: Any) -> StreamRow:
    values: dict[str, Any] = {
        "contract_id": "C" + "A" * 55,
        "stream_id": stream_id,
        "sender": "G" + "B" * 55,
        "recipient": "G" + "C" * 55,
        "token": "C" + "D" * 55,
        "total_amount": total,
        "claimed_amount": claimed,
        "refunded_amount": 0,
        "rate_per_second": None,
        "start_time": 1_700_000_000,
        "end_time": 1_800_000_000,
        "last_claim_time": None,
        "status": StreamStatus.ACTIVE,
        "batch": False,
        "cancelled_at": None,
        "created_ledger": 100 + stream_id,
        "created_tx_hash": f"{stream_id:064x}",
        "created_at": CLOSED,
        "last_ledger": 100 + stream_id,
        **extra,
    }
    return StreamRow(**values)


def _event(n: int, **extra: Any) -> EventRow:
    values: dict[str, Any] = {
        "id": f"{(1000 + n) << 32:019d}-{n:010d}",
        "contract_id": "C" + "A" * 55,
        "ledger": 1000 + n,
        "ledger_closed_at": CLOSED,
        "tx_hash": f"{n:064x}",
        "transaction_index": 1,
        "operation_index": 0,
        "event_type": "contract",
        "type": "deposit",
        "topic_symbols": ["deposit"],
        "topics": ["deposit"],
        "value": {"amount": "1"},
        "topics_xdr": ["AAAADwAAAAdkZXBvc2l0AA=="],
        "value_xdr": "AAAAAQ==",
        "recognised": True,
        "in_successful_contract_call": True,
        "decode_error": None,
        **extra,
    }
    return EventRow(**values)


async def _write(engine: AsyncEngine, table: Any, rows: list[Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT 1"))  # SQLAlchemy sends BEGIN with the first statement
        pg = await store.driver(conn)
        await store._insert_ignore(pg, table, rows)


@pytest.mark.parametrize(
    "total",
    [1, 2**63 - 1, 2**64, 2**127 - 1],
    ids=["small", "int64-max", "beyond-64-bits", "i128-max"],
)
async def test_amounts_round_trip(clean_engine: AsyncEngine, total: int) -> None:
    rows = [_stream(1, total, total - 1), _stream(2, 5, 0)]
    await _write(clean_engine, streams, rows)
    async with clean_engine.connect() as conn:
        got = (
            await conn.execute(
                select(
                    streams.c.stream_id, streams.c.total_amount, streams.c.claimed_amount
                ).order_by(streams.c.stream_id)
            )
        ).all()
    assert [(r[0], int(r[1]), int(r[2])) for r in got] == [(1, total, total - 1), (2, 5, 0)]


async def test_times_keys_and_text_round_trip(clean_engine: AsyncEngine) -> None:
    naive = datetime(2026, 3, 1, 12, 0, 0)  # naive means UTC, as asyncpg writes it
    plus_two = datetime(2026, 3, 1, 14, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    rows = [
        _event(1, ledger_closed_at=naive, value={1: "int key", "big": 2**100}),
        _event(2, ledger_closed_at=plus_two, decode_error='ünïcode "quoted" \\ text'),
        _event(3, decode_error="a NUL \x00 inside", value={"title": "x\x00y", "s": "\\u0000"}),
    ]
    await _write(clean_engine, events, rows)
    async with clean_engine.connect() as conn:
        got = {
            r.id: r
            for r in (
                await conn.execute(
                    select(
                        events.c.id,
                        events.c.ledger_closed_at,
                        events.c.value,
                        events.c.decode_error,
                    )
                )
            ).all()
        }
    first, second, third = (got[r.id] for r in rows)
    assert first.ledger_closed_at == CLOSED
    assert first.value == {"1": "int key", "big": 2**100}  # as json.dumps writes int keys
    assert second.ledger_closed_at == datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert second.decode_error == 'ünïcode "quoted" \\ text'
    # NUL -> U+FFFD, in text and inside jsonb; a literal backslash + "u0000" is kept.
    assert third.decode_error == "a NUL \ufffd inside"
    assert third.value == {"title": "x\ufffdy", "s": "\\u0000"}


async def test_nul_in_an_amountless_fallback_row(clean_engine: AsyncEngine) -> None:
    """The stdlib path (a value beyond 64 bits) replaces NUL the same way."""
    rows = [_event(4, value={"big": 2**100, "s": "a\x00b"}, decode_error="c\x00d")]
    await _write(clean_engine, events, rows)
    async with clean_engine.connect() as conn:
        row = (await conn.execute(select(events.c.value, events.c.decode_error))).one()
    assert row.value == {"big": 2**100, "s": "a\ufffdb"}
    assert row.decode_error == "c\ufffdd"


async def test_discrepancies_and_status_store_nul_as_replacement(clean_engine: AsyncEngine) -> None:
    """Rows written outside the bulk paths (reconciliation, /health status) too."""
    from orbitpay.db.schema import discrepancies, indexer_status

    async with clean_engine.begin() as conn:
        await store.add_discrepancies(
            conn,
            [
                Discrepancy.of(
                    DiscrepancySource.RECONCILE,
                    DiscrepancyEntity.PROPOSAL,
                    "title differs: 'a\x00b'",
                    contract_id="C" + "A" * 55,
                    entity_id=1,
                    details={"chain": {"title": "a\x00b"}, "tags": ["x\x00"]},
                    corrected=True,
                )
            ],
        )
        await store.write_status(conn, rpc_status="error", rpc_error="bad \x00 body")
    async with clean_engine.connect() as conn:
        row = (await conn.execute(select(discrepancies.c.message, discrepancies.c.details))).one()
        status = (await conn.execute(select(indexer_status.c.rpc_error))).scalar_one()
    assert row.message == "title differs: 'a\ufffdb'"
    assert row.details == {"chain": {"title": "a\ufffdb"}, "tags": ["x\ufffd"]}
    assert status == "bad \ufffd body"
