"""Databases for the end-to-end tests: made, migrated, filled in this process, dropped.

The process-level tests (``orbitpay index``/``backfill`` killed and rerun)
compare their tables with a reference database filled in this process, so
they share how a database is made and filled. Each test runs its own event
loop per call (``asyncio.run``) because the tests themselves are synchronous:
they drive subprocesses and wait on them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orbitpay.db.engine import create_engine
from orbitpay.db.migrate import upgrade
from tests.conftest import create_database
from tests.e2e.test_indexer_helpers import register_devnet_orgs


def with_engine(url: str, fn: Any) -> Any:
    """``await fn(engine)`` on a fresh small engine for ``url``, disposed afterwards."""

    async def go() -> Any:
        engine = create_engine(url, pool_size=2)
        try:
            return await fn(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def new_database(made: list[str], prefix: str) -> str:
    """A new migrated database named after ``prefix``, recorded in ``made`` to be dropped."""
    url = create_database(prefix)
    upgrade(url)
    made.append(url)
    return url


def index_in_process(db: str, rpc_url: str, chain: Any, **settings: Any) -> None:
    """Register the devnet's organizations and index ``db`` up to the RPC's latest ledger."""
    from orbitpay.config import load_settings
    from orbitpay.indexer.service import index_until_latest

    async def go(engine: Any) -> None:
        await register_devnet_orgs(engine, chain)
        s = load_settings(database_url=db, rpc_url=rpc_url, **settings)
        await index_until_latest(s, engine, rpc_url, progress=False)

    with_engine(db, go)
