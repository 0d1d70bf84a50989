"""The enums and the database's CHECK constraints allow exactly the same values.

The initial migration keeps frozen copies of the constraints (migrations are
history), while ``db/schema.py`` builds them from ``orbitpay.enums``. Alembic's
schema comparison ignores CHECK constraints, so these tests read them back from
PostgreSQL: from a migrated database, and from one built from the metadata.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from enum import StrEnum

import pytest
from sqlalchemy import text

from orbitpay.db.admin import create_database, drop_database
from orbitpay.db.engine import create_engine
from orbitpay.db.schema import metadata
from orbitpay.enums import (
    ApiKeyScope,
    BackfillState,
    ClaimKind,
    ContractKind,
    CoverageSource,
    Origin,
    ProposalStatus,
    ScheduleStatus,
    StreamStatus,
    TreasuryEventType,
    VoteChoice,
    WithdrawalStatus,
)

# Every enum-guarded column: (table, column) -> its enum.
GUARDED: dict[tuple[str, str], type[StrEnum]] = {
    ("contracts", "kind"): ContractKind,
    ("treasury_events", "type"): TreasuryEventType,
    ("withdrawals", "status"): WithdrawalStatus,
    ("streams", "status"): StreamStatus,
    ("stream_claims", "kind"): ClaimKind,
    ("vesting_schedules", "status"): ScheduleStatus,
    ("proposals", "status"): ProposalStatus,
    ("votes", "choice"): VoteChoice,
    ("api_keys", "scope"): ApiKeyScope,
    ("coverage", "source"): CoverageSource,
    ("backfill_ranges", "state"): BackfillState,
    **{
        (table, "origin"): Origin
        for table in (
            "withdrawals",
            "streams",
            "vesting_schedules",
            "proposals",
            "governance_members",
        )
    },
}

# PostgreSQL's text of ``col IN ('a', 'b')``: ``CHECK ((col = ANY (ARRAY['a'::text, ...])))``.
_ANY = re.compile(r"^CHECK \(\((\w+) = ANY \(ARRAY\[(.*)\]\)\)\)$")
_ITEM = re.compile(r"'((?:[^']|'')*)'::text")


def _checks(url: str) -> dict[tuple[str, str], str]:
    """Every CHECK constraint of the public schema: (table, name) -> PostgreSQL's definition."""

    async def run() -> dict[tuple[str, str], str]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
                        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
                        " WHERE c.contype = 'c' AND n.nspname = 'public'"
                    )
                )
                return {(table, name): definition for table, name, definition in rows}
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _allowed(definition: str) -> tuple[str, list[str]] | None:
    """``(column, values in order)`` of an ``IN`` check, None for any other check."""
    match = _ANY.match(definition)
    if match is None:
        return None
    values = [v.replace("''", "'") for v in _ITEM.findall(match.group(2))]
    return match.group(1), values


@pytest.fixture(scope="module")
def migrated_checks(database_url: str) -> dict[tuple[str, str], str]:
    return _checks(database_url)


@pytest.fixture(scope="module")
def metadata_checks(postgres_available: None) -> Iterator[dict[tuple[str, str], str]]:
    """The CHECKs PostgreSQL makes of ``db/schema.py`` itself (``create_all``, no migration)."""
    url = create_database("orbitpay_metadata")

    async def build() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
        finally:
            await engine.dispose()

    try:
        asyncio.run(build())
        yield _checks(url)
    finally:
        drop_database(url)


def test_every_enum_equals_its_migrated_check(
    migrated_checks: dict[tuple[str, str], str],
) -> None:
    found: dict[tuple[str, str], list[str]] = {}
    for (table, _name), definition in migrated_checks.items():
        parsed = _allowed(definition)
        if parsed is not None:
            found[(table, parsed[0])] = parsed[1]
    # Every value-set CHECK is an enum's, and each holds the enum's values in its order.
    assert found == {key: [m.value for m in enum] for key, enum in GUARDED.items()}


def test_migration_and_schema_build_the_same_checks(
    migrated_checks: dict[tuple[str, str], str],
    metadata_checks: dict[tuple[str, str], str],
) -> None:
    assert migrated_checks == metadata_checks
    # Not vacuous: the value sets, the two amount invariants and the ledger ranges of
    # coverage and backfill_ranges are all there.
    assert len(migrated_checks) == len(GUARDED) + 4


def test_value_parser_reads_quotes_and_skips_other_checks() -> None:
    definition = "CHECK ((kind = ANY (ARRAY['a'::text, 'it''s'::text])))"
    assert _allowed(definition) == ("kind", ["a", "it's"])
    assert _allowed("CHECK ((claimed_amount <= total_amount))") is None
