"""Shared fixtures: a private PostgreSQL database per test run, Redis, the app.

Each run creates a uniquely named database, migrates it and drops it at the
end, so concurrent runs never see each other's data. When PostgreSQL or Redis
is unreachable the tests that need them are skipped on a laptop but *fail*
under ``CI=true``: a green CI must mean they ran.

Redis is shared by concurrent runs too, so every key a test writes lives under
this run's prefix (``redis_keyspace``: one sub-prefix per test, deleted when the
test ends), and the session ends by checking that no key of the run is left.
Tests whose subprocesses use the service's own key names get a private
``redis-server`` instead (``private_redis_url``), stopped with everything in it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
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
# Every Redis key this run writes starts with it (see redis_keyspace).
REDIS_PREFIX = f"orbitpay-test-{os.getpid()}-{secrets.token_hex(4)}"


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


def redis_keys(url: str, prefix: str) -> list[bytes]:
    """The keys under ``prefix`` on the Redis at ``url``."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()


def delete_redis_keys(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; how many there were."""
    import redis

    keys = redis_keys(url, prefix)
    if keys:
        client = redis.Redis.from_url(url)
        try:
            client.delete(*keys)
        finally:
            client.close()
    return len(keys)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The shared test Redis. At the end of the session no key of this run may remain:
    each test deletes its own (``redis_keyspace``); leftovers are deleted and reported."""
    require_service("Redis", REDIS_URL, 6379)
    yield REDIS_URL
    leftover = redis_keys(REDIS_URL, REDIS_PREFIX)
    delete_redis_keys(REDIS_URL, REDIS_PREFIX)
    assert not leftover, f"tests left {len(leftover)} Redis keys, e.g. {leftover[:5]}"


@pytest.fixture
def redis_keyspace(redis_url: str) -> Iterator[str]:
    """A key prefix private to this test (under the run's prefix), emptied when it ends."""
    prefix = f"{REDIS_PREFIX}:{secrets.token_hex(4)}"
    yield prefix
    delete_redis_keys(redis_url, prefix)
    assert not redis_keys(redis_url, prefix), f"keys under {prefix} reappeared"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def private_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``redis-server`` of this test alone (no persistence), stopped at its end: for
    tests whose subprocesses write the service's own key names, which no prefix reaches."""
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
