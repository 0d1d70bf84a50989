"""Shared fixtures: a private PostgreSQL database per test run, Redis, the app.

Each run creates a uniquely named database, migrates it and drops it at the
end, so concurrent runs never see each other's data. When PostgreSQL or Redis
is unreachable the tests that need them are skipped on a laptop but *fail*
under ``CI=true``: a green CI must mean they ran.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.db.admin import admin_url, create_database, drop_database
from orbitpay.db.engine import create_engine
from orbitpay.db.schema import metadata

ADMIN_URL = admin_url()
__all__ = ["create_database", "drop_database"]  # re-exported for the e2e tests
REDIS_URL = os.environ.get("ORBITPAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    """Skip locally, fail in CI, when a service the test needs is down."""
    if not _reachable(url, default_port):
        skip_or_fail(f"{name} is not reachable at {url}")


def skip_or_fail(message: str) -> NoReturn:
    """Skip on a laptop, fail under ``CI=true``: a part the test needs is missing."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: service tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_available() -> None:
    require_service("PostgreSQL", ADMIN_URL, 5432)


@pytest.fixture(scope="session")
def empty_database_url(postgres_available: None) -> Iterator[str]:
    """A fresh database with no tables (for migration tests)."""
    url = create_database("orbitpay_empty")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def database_url(postgres_available: None) -> Iterator[str]:
    """A migrated database private to this test run."""
    from orbitpay.db.migrate import upgrade

    url = create_database()
    upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url, pool_size=5)
    yield eng
    await eng.dispose()


async def truncate_all(engine: AsyncEngine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def clean_engine(engine: AsyncEngine) -> AsyncEngine:
    """The run's engine with every table emptied before the test."""
    await truncate_all(engine)
    return engine


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", REDIS_URL, 6379)
    return REDIS_URL
