"""Creating and dropping whole databases on a PostgreSQL server.

Used by the test suite (one private database per run) and the benchmarks
(their own database, dropped afterwards), so both name, create and drop
databases the same way.
"""

from __future__ import annotations

import asyncio
import os
import secrets

from sqlalchemy import text
from sqlalchemy.engine import make_url

from orbitpay.db.engine import async_url, create_engine, with_database

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The maintenance connection: ``ORBITPAY_TEST_ADMIN_DATABASE_URL`` or local ``postgres``."""
    return os.environ.get("ORBITPAY_TEST_ADMIN_DATABASE_URL", DEFAULT_ADMIN_URL)


async def execute_admin(sql: str, url: str | None = None) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
    engine = create_engine(url or admin_url(), pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def create_database(prefix: str = "orbitpay_test", url: str | None = None) -> str:
    """Create an empty, uniquely named database and return its asyncpg URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(execute_admin(f'CREATE DATABASE "{name}"', url))
    return with_database(url or admin_url(), name)


def drop_database(database_url: str, url: str | None = None) -> None:
    """Drop the database ``database_url`` points at, closing its connections."""
    name = make_url(async_url(database_url)).database
    asyncio.run(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', url))
