"""One active indexer per database: a session-level PostgreSQL advisory lock.

The lock lives on a dedicated connection held for as long as the indexer
runs; if that connection dies (database restart) the lock is gone too, so the
loop checks it before each round and re-acquires it (or becomes a standby).
A second instance waits, logging that it is a standby, and takes over as soon
as the first one's connection closes.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import suppress

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orbitpay.observability.logging import get_logger

log = get_logger(__name__)


def lock_key(name: str = "orbitpay-indexer") -> int:
    """A stable signed 64-bit key derived from ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    def __init__(self, engine: AsyncEngine, key: int | None = None, retry_seconds: float = 2.0):
        self.engine = engine
        self.key = lock_key() if key is None else key
        self.retry_seconds = retry_seconds
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    async def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = await self.engine.connect()
        try:
            ok = bool(await conn.scalar(select(func.pg_try_advisory_lock(self.key))))
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not ok:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def acquire(self, stop: asyncio.Event | None = None) -> bool:
        """Wait until the lock is ours (True) or ``stop`` is set (False)."""
        announced = False
        while True:
            if await self.try_acquire():
                if announced:
                    log.info("indexer_lock_acquired", note="standby taking over")
                return True
            if not announced:
                log.warning(
                    "indexer_standby",
                    note="another indexer holds the advisory lock; waiting as a standby",
                )
                announced = True
            if stop is None:
                await asyncio.sleep(self.retry_seconds)
            else:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.retry_seconds)
                if stop.is_set():
                    return False

    async def alive(self) -> bool:
        """True while the lock's connection still answers (and thus still holds the lock)."""
        if self._conn is None:
            return False
        try:
            await asyncio.wait_for(self._conn.execute(text("SELECT 1")), 5)
            await self._conn.commit()
            return True
        except Exception:
            await self._drop()
            return False

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.invalidate()
            with suppress(Exception):
                await conn.close()

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with suppress(Exception):
            await conn.execute(select(func.pg_advisory_unlock(self.key)))
            await conn.commit()
        with suppress(Exception):
            await conn.close()
