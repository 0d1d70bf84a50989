"""A reconciliation that corrects rows tells the read caches, with and without Redis.

Pages announce what they change; reconciliation and bootstrap write outside
them. Without an announcement, a status only ledger state shows (a silent
``finalize``, a missed claim) would be corrected in the table and still served
from the cache until its TTL.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.e2e.test_indexer_helpers import register_devnet_orgs

from orbitpay.cache import Cache, MemoryBackend, create_cache
from orbitpay.config import load_settings
from orbitpay.db.schema import streams
from orbitpay.devnet.server import DevnetHandle
from orbitpay.indexer.service import index_until_latest, reconcile_once
from orbitpay.notify import ChangeListener, plain_dsn


class Counted:
    """A cached read in the ``streams`` namespace that counts its computations."""

    def __init__(self, cache: Cache) -> None:
        self.cache, self.computed = cache, 0

    async def __call__(self) -> Any:
        async def compute() -> int:
            self.computed += 1
            return self.computed

        return await self.cache.get_or_set("streams", "probe", 300, compute)


async def _break_one_stream(eng: AsyncEngine, demo: DevnetHandle) -> None:
    chain = demo.chain
    payroll = chain.organizations()[0]["contracts"]["payroll"]
    sid, row = next(
        (sid, s)
        for (name, sid), s in sorted(chain.contracts[payroll].persistent.items(), key=str)
        if name == "Stream" and s["claimed_amount"] > 10
    )
    async with eng.begin() as conn:
        await conn.execute(
            update(streams)
            .where(streams.c.contract_id == payroll, streams.c.stream_id == sid)
            .values(status="active", claimed_amount=row["claimed_amount"] - 1, last_ledger=1)
        )


async def test_corrections_invalidate_listening_and_redis_caches(
    eng: AsyncEngine, database_url: str, demo: DevnetHandle, private_redis_url: str
) -> None:
    await register_devnet_orgs(eng, demo.chain)
    settings = load_settings(
        database_url=database_url, rpc_url=demo.url, redis_url=private_redis_url
    )
    await index_until_latest(settings, eng, demo.url, progress=False, reconcile_after=False)

    local = Cache(MemoryBackend())  # an API without Redis: told over LISTEN/NOTIFY
    listener = ChangeListener(plain_dsn(database_url), local, keepalive=0.2, probe_timeout=5.0)
    shared = create_cache(private_redis_url)  # API workers sharing the indexer's Redis
    await listener.start()
    try:
        assert listener.live
        reads = [Counted(local), Counted(shared)]
        for read in reads:
            assert await read() == 1 and await read() == 1  # cached

        async def seen(want: int) -> list[int]:
            for _ in range(100):  # the notification arrives within a second
                if await reads[0]() == want:
                    break
                await asyncio.sleep(0.01)
            return [await read() for read in reads]

        # The catch-up ran without its reconciliation: the demo's silently rejected
        # proposals (a finalize without quorum emits nothing) are corrected now.
        report = await reconcile_once(settings, eng, demo.url)
        assert report.corrected > 0
        assert await seen(2) == [2, 2]

        # Nothing left to correct: nothing announced, both serve the cached value.
        report = await reconcile_once(settings, eng, demo.url)
        assert report.corrected == 0 and report.inserted == 0
        await asyncio.sleep(0.5)
        assert [await read() for read in reads] == [2, 2]

        await _break_one_stream(eng, demo)
        report = await reconcile_once(settings, eng, demo.url)
        assert report.corrected > 0
        assert await seen(3) == [3, 3]
    finally:
        await listener.close()
        await local.close()
        await shared.close()
