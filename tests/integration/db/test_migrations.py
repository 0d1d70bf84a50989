"""Migrations on real PostgreSQL: up, down, up again, and the schema they build."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from orbitpay.db import migrate
from orbitpay.db.engine import create_engine
from orbitpay.db.schema import metadata


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _diff(url: str) -> list[object]:
    async def run() -> list[object]:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(
                        MigrationContext.configure(c, opts={"compare_type": True}), metadata
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    assert migrate.current_revision(url) is None
    migrate.upgrade(url)
    expected = {t.name for t in metadata.sorted_tables}
    assert expected <= _tables(url)
    head = migrate.current_revision(url)
    assert head is not None
    assert _diff(url) == [], "migrations and db/schema.py disagree"

    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    assert _tables(url) & expected == set()

    migrate.upgrade(url)
    assert migrate.current_revision(url) == head
    assert expected <= _tables(url)
