"""The real indexer, as its own process without Redis, invalidates an API's in-process cache.

``orbitpay index --once`` (no ``ORBITPAY_REDIS_URL``) indexes a devnet into a fresh
database while this process holds an API-style cache gated on a
:class:`~orbitpay.notify.ChangeListener`. Before the fix the indexer had no cache at
all without Redis, and such an API answered from values up to a TTL old; now each
page's commit carries a NOTIFY and the cached value is recomputed at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from tests.conftest import create_database, drop_database
from tests.e2e.helpers import ORBITPAY, clean_env

from orbitpay.cache import TTL_TREASURY_BALANCE, Cache, MemoryBackend
from orbitpay.db.migrate import upgrade
from orbitpay.devnet.server import start_background_devnet
from orbitpay.notify import ChangeListener, plain_dsn

BOUND_SECONDS = 1.0


@pytest.fixture
def fresh_database(postgres_available: None) -> Iterator[str]:
    url = create_database("orbitpay_notify")
    upgrade(url)
    yield url
    drop_database(url)


async def test_a_standalone_indexer_without_redis_invalidates_the_api_cache(
    tmp_path: Path, fresh_database: str
) -> None:
    dsn = plain_dsn(fresh_database)
    cache = Cache(MemoryBackend())
    listener = ChangeListener(dsn, cache)
    await listener.start()
    conn = await asyncpg.connect(dsn)
    computed = 0

    async def events_indexed() -> int:
        """An API-style read of the indexed events, through the cache (60 s TTL)."""

        async def compute() -> int:
            nonlocal computed
            computed += 1
            return int(await conn.fetchval("SELECT count(*) FROM events"))

        return int(await cache.get_or_set("events", "count", TTL_TREASURY_BALANCE, compute))

    try:
        assert listener.live
        assert await events_indexed() == 0
        assert await events_indexed() == 0 and computed == 1  # cached
        with start_background_devnet("demo", seed=5, live=False) as devnet:
            org = devnet.chain.organizations()[0]
            env = clean_env(
                ORBITPAY_DATABASE_URL=fresh_database,
                ORBITPAY_RPC_URL=devnet.url,
                ORBITPAY_ORG_NAME=org["name"],
                **{
                    f"ORBITPAY_{kind.upper()}_CONTRACT_ID": cid
                    for kind, cid in org["contracts"].items()
                },
            )
            env.pop("ORBITPAY_REDIS_URL", None)  # the point: no Redis anywhere
            proc = await asyncio.create_subprocess_exec(
                *ORBITPAY,
                "index",
                "--once",
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
        exited = time.monotonic()
        truth = int(await conn.fetchval("SELECT count(*) FROM events"))
        assert truth > 0, "the indexer indexed nothing"
        seen = await events_indexed()
        while seen != truth and time.monotonic() - exited < BOUND_SECONDS:
            await asyncio.sleep(0.01)
            seen = await events_indexed()
        assert seen == truth, f"the API cache still says {seen} events, the database {truth}"
        assert listener.received >= 1
        # Listening all along (no reconnect, so no new epoch): the NOTIFY invalidated it.
        assert listener.live and listener.connections == 1
    finally:
        await conn.close()
        await listener.close()
