"""Rows encoded by PostgreSQL (``api/rowjson.py``) say exactly what the Python encoder says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from conftest import seed_world
from orbitpay.api.common import ListSpec, fetch_rows
from orbitpay.api.routers import events, proposals, streams, treasury, vesting
from orbitpay.api.rowjson import _plain_string, iso_utc_sql, unix_iso_sql
from orbitpay.api.schemas import StreamStatus, _time_text

SPECS: list[ListSpec] = [
    streams.SPEC,
    treasury.EVENTS_SPEC,
    treasury.WITHDRAWALS_SPEC,
    vesting.SPEC,
    proposals.SPEC,
    proposals.VOTES_SPEC,
    events.SPEC,
]


def _dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def pg(clean_engine: AsyncEngine) -> Any:
    conn = await asyncpg.connect(_dsn(clean_engine))
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        yield conn
    finally:
        await conn.close()


def test_enum_columns_go_in_bare_other_strings_escaped() -> None:
    """Status columns (``StrEnum`` fields, CHECK-constrained to plain words) skip
    ``to_json``; an enum with a value that would need escaping does not."""
    sql = str(streams.SPEC.row_json)
    assert "streams.status" in sql and "to_json(streams.status)" not in sql
    assert "to_json(streams.sender)" in sql

    class Odd(StrEnum):
        PLAIN = "plain"
        QUOTED = 'say "hi"'

    assert _plain_string(StreamStatus) and _plain_string(StreamStatus | None)
    assert not _plain_string(Odd) and not _plain_string(str)


def test_every_list_is_encoded_by_the_database() -> None:
    """A list whose model gained a field without a column would silently fall back."""
    for spec in SPECS:
        assert spec.row_json is not None, spec.endpoint


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.endpoint)
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_lists_match_the_python_encoder(
    clean_engine: AsyncEngine, pg: Any, spec: ListSpec, order: str
) -> None:
    await seed_world(clean_engine)
    typed = await fetch_rows(pg, spec, {}, order, None, 1000)
    as_json = await fetch_rows(pg, spec, {}, order, None, 1000, as_json=True)
    assert typed, f"the seeded world has no {spec.endpoint}"
    assert [json.loads(r[-1]) for r in as_json] == [spec.encoder(r) for r in typed]
    # The sort key travels beside the JSON (the next page's cursor is made from it).
    assert [list(r[:-1]) for r in as_json] == [spec.keyset.key_of(r) for r in typed]


moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(tzinfo=UTC))
seconds = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-62_135_596_800 - 10, 253_402_300_799 + 10),
    st.sampled_from([0, -1, 1, 86_399, 951_782_400, 4_102_444_800]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=moments)
async def test_timestamps_match(pg: Any, moment: datetime) -> None:
    text = await pg.fetchval(f"SELECT {iso_utc_sql('$1::timestamptz')}", moment)
    assert text == _time_text(moment)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=seconds)
async def test_unix_seconds_match(pg: Any, value: int) -> None:
    text = await pg.fetchval(f"SELECT {unix_iso_sql('$1::bigint')}", value)
    assert text == _time_text(value)


def test_a_field_without_a_column_is_refused() -> None:
    """A list model gaining a computed field must select it, not silently drop it."""
    from orbitpay.api.rowjson import row_json_sql
    from orbitpay.api.schemas import Stream

    columns = [c for c in streams.COLUMNS if c.key != "created_at"]
    with pytest.raises(ValueError, match=r"Stream\.created_at"):
        row_json_sql(Stream, columns)


HOSTILE = 'quote " backslash \\ tab \t newline \n bell \x07 del \x7f é ✓ 😀 </script>'


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.endpoint)
async def test_free_text_and_nulls_are_escaped(
    clean_engine: AsyncEngine, pg: Any, spec: ListSpec
) -> None:
    """Strings a contract chose (titles, memos, types) and NULLs in every nullable column.

    Only ``Literal`` enum fields go into the JSON unescaped; everything else from
    the chain must come out as the same string, and a NULL as ``null``.
    """
    await seed_world(clean_engine)
    table = spec.columns[0].table
    for column in table.columns:
        if column.nullable and column.key in spec.model.model_fields:
            await pg.execute(f"UPDATE {table.name} SET {column.name} = NULL")
    for column in table.columns:
        if str(column.type) == "TEXT" and column.key in ("title", "memo", "type", "decode_error"):
            if not _constrained(column):
                await pg.execute(f"UPDATE {table.name} SET {column.name} = $1", HOSTILE)
    typed = await fetch_rows(pg, spec, {}, "asc", None, 1000)
    as_json = await fetch_rows(pg, spec, {}, "asc", None, 1000, as_json=True)
    assert [json.loads(r[-1]) for r in as_json] == [spec.encoder(r) for r in typed]


def _constrained(column: Any) -> bool:
    """An enum-like column (CHECK-constrained to fixed words): it cannot hold free text."""
    return any(column.name in str(getattr(c, "sqltext", "")) for c in column.table.constraints)
