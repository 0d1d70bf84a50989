"""``orbitpay backfill``: history older than the indexed range, read from the ledger data lake.

Ranges, not cursors. The live indexer owns the groups' cursor rows; a
backfill reads ledgers *below* them, so it keeps its own positions in
``backfill_ranges`` (migration 0004). :func:`plan` splits ``[since, until]``
into ranges of ``RANGE_LEDGERS``; any number of workers (processes, machines)
run :func:`work`, each claiming one range at a time with ``FOR UPDATE SKIP
LOCKED`` (a claim whose heartbeat is older than ``STALE_SECONDS`` is taken
over: its worker died). A range's batches commit with its ``next_ledger`` in
one transaction, after locking the range row and checking that this worker
still holds it, so a SIGKILL loses nothing and repeats nothing: a rerun
continues at ``next_ledger``, and events already stored are filtered out as
on the live path.

Exactly once with the cursor rows: ``until`` never passes the lowest cursor
of the contracts (what is above is the live indexer's), and the pages are
projected in history mode (:func:`orbitpay.indexer.project.apply_page`):
every history row (events, claims, votes, treasury events, approvals) is
written, while entity, contract and member rows whose state is newer than an
event keep it (bootstrapped rows only gain the creating transaction).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.config import Settings
from orbitpay.db.schema import backfill_ranges, contracts, indexer_cursors
from orbitpay.enums import Origin
from orbitpay.indexer import coverage, store
from orbitpay.indexer.model import ContractInfo
from orbitpay.indexer.pipeline import Indexer, Prepared
from orbitpay.indexer.project import apply_page, needs
from orbitpay.indexer.sources.archive import ArchiveSource
from orbitpay.indexer.sources.base import Position
from orbitpay.indexer.sources.groups import Group
from orbitpay.observability.logging import get_logger
from orbitpay.stellar.datalake import DataLake, Gap, ledger_at
from orbitpay.stellar.rpc import RpcClient

log = get_logger(__name__)

RANGE_LEDGERS = 50_000
# pg_advisory_xact_lock key serialising backfill commits ("orbitpay backfill" folded).
COMMIT_LOCK = 0x6F72_6269_6266
STALE_SECONDS = 60.0


class BackfillError(Exception):
    """The backfill cannot run as asked (nothing indexed yet, an empty range)."""


class ClaimLost(Exception):
    """Another worker took this range over (our heartbeat went stale)."""


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    from_ledger: int
    to_ledger: int
    contract_ids: list[str]
    next_ledger: int


Progress = Callable[[int, int], None]
"""Called with (ledgers done in this call, ledgers planned in total) after each commit."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def first_in_lake(lake: DataLake, hi: int) -> int:
    """The first ledger the lake holds at or below ``hi`` (pubnet's start at 2; a younger
    lake's by binary search over its objects, assuming it has no hole before ``hi``)."""
    config = await lake.open()
    lo = 2
    if not isinstance(await lake.fetch(lo), Gap):
        return lo
    left, right = config.batch_start(lo), config.batch_start(hi)  # left missing, right held
    if isinstance(await lake.fetch(right), Gap):
        raise BackfillError(f"the data lake holds no ledger at or below {hi}")
    while right - left > config.ledgers_per_batch:
        mid = config.batch_start(left + (right - left) // 2)
        if mid in (left, right):
            break
        if isinstance(await lake.fetch(mid), Gap):
            left = mid
        else:
            right = mid
    return right


async def resolve_since(lake: DataLake, since: str, until: int) -> int:
    """``--since``: a ledger number, or a date (ISO 8601; UTC when no offset is given)
    turned into the first ledger closed at or after it (binary search in the lake)."""
    if since.isdigit():
        return int(since)
    try:
        when = datetime.fromisoformat(since)
    except ValueError:
        raise BackfillError(f"--since {since!r} is neither a ledger nor a date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return await ledger_at(lake, when, await first_in_lake(lake, until), until)


async def registered(engine: AsyncEngine) -> list[ContractInfo]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(contracts.c.contract_id, contracts.c.kind, contracts.c.organization_id)
        )
        return [ContractInfo(r[0], r[1], r[2]) for r in rows]


async def lowest_cursor(engine: AsyncEngine, contract_ids: Sequence[str]) -> int | None:
    """The lowest ``last_ledger`` of the cursor rows covering these contracts (None: none)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(indexer_cursors.c.last_ledger).where(
                    indexer_cursors.c.contract_ids.overlap(list(contract_ids))
                )
            )
        ).all()
    return min((int(r[0]) for r in rows), default=None)


async def plan(
    engine: AsyncEngine,
    contract_ids: Sequence[str],
    since: int,
    until: int,
    *,
    size: int = RANGE_LEDGERS,
) -> int:
    """Insert the ranges of ``[since, until]`` (idempotent: planned ranges are kept)."""
    ids = sorted(contract_ids)
    rows = [
        {
            "from_ledger": lo,
            "to_ledger": min(until, lo + size - 1),
            "contract_ids": ids,
            "next_ledger": lo,
        }
        for lo in range(since, until + 1, size)
    ]
    if rows:
        async with engine.begin() as conn:
            await conn.execute(insert(backfill_ranges).values(rows).on_conflict_do_nothing())
    return len(rows)


async def claim(engine: AsyncEngine, worker: str, *, stale: float = STALE_SECONDS) -> Claim | None:
    """Claim the lowest open range (pending, or claimed with a stale heartbeat), or None."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                text(
                    "UPDATE backfill_ranges SET state = 'claimed', claimed_by = :w, "
                    "heartbeat_at = now() WHERE id = ("
                    "  SELECT id FROM backfill_ranges WHERE state = 'pending' OR "
                    "  (state = 'claimed' AND heartbeat_at < now() - make_interval(secs => :s))"
                    "  ORDER BY from_ledger, id LIMIT 1 FOR UPDATE SKIP LOCKED"
                    ") RETURNING id, from_ledger, to_ledger, contract_ids, next_ledger"
                ),
                {"w": worker, "s": stale},
            )
        ).first()
    if row is None:
        return None
    return Claim(int(row[0]), int(row[1]), int(row[2]), list(row[3]), int(row[4]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def release_dead(engine: AsyncEngine) -> list[int]:
    """Claims of this host's workers whose process is gone (SIGKILL): pending again now.

    A worker elsewhere is only known dead by its stale heartbeat; one on this host
    is known dead at once, so a killed backfill restarted here continues without
    waiting ``STALE_SECONDS``.
    """
    host = socket.gethostname()
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(backfill_ranges.c.id, backfill_ranges.c.claimed_by).where(
                    backfill_ranges.c.state == "claimed",
                    backfill_ranges.c.claimed_by.startswith(f"{host}:"),
                )
            )
        ).all()
        dead = []
        for range_id, by in rows:
            pid = by.rpartition(":")[2]
            if pid.isdigit() and not _alive(int(pid)):
                dead.append(int(range_id))
                await conn.execute(
                    backfill_ranges.update()
                    .where(backfill_ranges.c.id == range_id, backfill_ranges.c.claimed_by == by)
                    .values(state="pending", claimed_by=None)
                )
    if dead:
        log.info("backfill_released", ranges=dead, note="their worker process is gone")
    return dead


async def remaining(engine: AsyncEngine) -> int:
    """Ledgers not yet backfilled over every range (for the progress bar)."""
    async with engine.connect() as conn:
        value = await conn.scalar(
            text(
                "SELECT coalesce(sum(to_ledger - next_ledger + 1), 0) FROM backfill_ranges "
                "WHERE state <> 'done'"
            )
        )
    return int(value or 0)


class Backfiller:
    """One worker: claims ranges and reads them from the lake until none is left."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        rpc: RpcClient,
        lake: DataLake,
        *,
        worker: str | None = None,
        progress: Progress | None = None,
        stale: float = STALE_SECONDS,
        round_ledgers: int = 2_000,
    ) -> None:
        self.engine = engine
        self.lake = lake
        self.worker = worker or worker_name()
        self.progress = progress
        self.stale = stale
        self.round_ledgers = round_ledgers
        # The live pipeline's decode + enrich stages (Batch.txs: no getTransactions).
        self.stages = Indexer(settings, engine, rpc)
        self.ranges_done: list[int] = []
        self.ledgers = 0

    async def work(self, stop: asyncio.Event | None = None) -> int:
        """Claim and finish ranges until none is open; the number of ranges finished."""
        done = 0
        while stop is None or not stop.is_set():
            got = await claim(self.engine, self.worker, stale=self.stale)
            if got is None:
                break
            if await self.run(got, stop):
                done += 1
        return done

    async def run(self, got: Claim, stop: asyncio.Event | None = None) -> bool:
        """Read one claimed range from its ``next_ledger``; True when it is done."""
        infos = {c.contract_id: c for c in await registered(self.engine)}
        group = Group(f"backfill-{got.id}", {c: infos[c] for c in got.contract_ids if c in infos})
        if got.next_ledger > got.to_ledger:
            await self._finish(got.id)
            return True
        source = ArchiveSource(self.lake, until=got.to_ledger, round_ledgers=self.round_ledgers)
        head = await source.head()
        expect = got.next_ledger
        started = time.perf_counter()
        starts = [(group, Position(None, got.next_ledger - 1))]
        async with aclosing(source.rounds(starts, head=head, stop=stop)) as rounds:
            async for batches in rounds:
                prepared = [Prepared(b) for b in batches]
                await self.stages._prepare(prepared)
                for p in prepared:
                    await self._commit(got.id, p, expect)
                    self.ledgers += p.scanned_to + 1 - expect
                    if self.progress is not None:
                        self.progress(p.scanned_to + 1 - expect, 0)
                    expect = p.scanned_to + 1
                if stop is not None and stop.is_set():
                    break
        log.info(
            "backfill_range",
            range=got.id,
            ledgers=expect - got.next_ledger,
            seconds=round(time.perf_counter() - started, 3),
        )
        if expect > got.to_ledger:
            await self._finish(got.id)
            self.ranges_done.append(got.id)
            return True
        return False

    async def _lock(self, conn: Any, range_id: int, expect: int) -> None:
        row = (
            await conn.execute(
                select(backfill_ranges.c.claimed_by, backfill_ranges.c.next_ledger)
                .where(backfill_ranges.c.id == range_id)
                .with_for_update()
            )
        ).first()
        if row is None or row[0] != self.worker or int(row[1]) != expect:
            raise ClaimLost(f"backfill range {range_id} was taken over ({row})")

    async def _commit(self, range_id: int, prepared: Prepared, expect: int) -> None:
        """The batch's rows and the range's ``next_ledger`` in one transaction.

        Workers read and decode side by side but commit one at a time (a transaction
        advisory lock taken before the rows are read): two batches filling different
        unknown fields of one row (a stream's creating transaction here, its
        cancellation there) must not write back each other's stale copy. The contract
        row is only filled in (``coalesce``/``greatest``), never written whole, so a
        live indexer's parameters are never replaced by an old copy either.
        """
        group = prepared.group
        async with self.engine.begin() as conn:
            await self._lock(conn, range_id, expect)
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": COMMIT_LOCK})
            done = await store.existing_event_ids(conn, [it.raw.id for it in prepared.items])
            items = [it for it in prepared.items if it.raw.id not in done]
            snap = await store.load_snapshot(conn, group.ids, needs(items))
            changes = apply_page(items, snap, history=True)
            filled = sorted(changes.dirty_contracts)
            changes.dirty_contracts.clear()
            await store.write_changes(conn, snap, changes)
            await store.mark_origin(
                conn,
                changes,
                Origin.ARCHIVE,
                prepared.batch.first_ledger,
                prepared.batch.position.scanned_to + 1,
            )
            for a in changes.approvals:  # ledger-state approvals get their transaction
                await conn.execute(
                    text(
                        "UPDATE withdrawal_approvals SET ledger = :ledger, tx_hash = :tx, "
                        "approved_at = :at WHERE contract_id = :cid AND withdrawal_id = :wid "
                        "AND signer = :signer AND ledger = 0"
                    ),
                    {
                        "ledger": a.ledger,
                        "tx": a.tx_hash,
                        "at": a.approved_at,
                        "cid": a.contract_id,
                        "wid": a.withdrawal_id,
                        "signer": a.signer,
                    },
                )
            for cid in filled:
                row = snap.contracts[cid]
                await conn.execute(
                    text(
                        "UPDATE contracts SET admin = coalesce(admin, :admin), "
                        "initialized_ledger = coalesce(initialized_ledger, :init), "
                        "last_ledger = greatest(last_ledger, :last) WHERE contract_id = :cid"
                    ),
                    {
                        "admin": row.admin,
                        "init": row.initialized_ledger,
                        "last": row.last_ledger,
                        "cid": cid,
                    },
                )
            await conn.execute(
                backfill_ranges.update()
                .where(backfill_ranges.c.id == range_id)
                .values(next_ledger=prepared.scanned_to + 1, heartbeat_at=text("now()"))
            )
            # The history now indexed (indexer.coverage), in the rows' transaction.
            await coverage.record(
                conn,
                group.ids,
                prepared.batch.source,
                prepared.batch.first_ledger,
                prepared.scanned_to,
            )

    async def _finish(self, range_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                backfill_ranges.update()
                .where(
                    backfill_ranges.c.id == range_id, backfill_ranges.c.claimed_by == self.worker
                )
                .values(state="done", heartbeat_at=text("now()"))
            )


async def prepare_backfill(
    engine: AsyncEngine,
    lake: DataLake,
    since: str | None,
    until: int | None,
    start: int | None,
    rpc_oldest: int | None = None,
) -> tuple[int, int]:
    """Plan the ranges of ``[since, until]`` for every registered contract; (since, until).

    ``until`` never passes the lowest cursor of the contracts (what is above it
    is the live indexer's); it defaults to the ledger before the RPC's oldest
    (the RPC's window is indexed from getEvents already).
    """
    infos = await registered(engine)
    if not infos:
        raise BackfillError("no contracts registered (orbitpay org add)")
    ids = [c.contract_id for c in infos]
    top = await lowest_cursor(engine, ids)
    if top is None:
        raise BackfillError("nothing indexed yet: run `orbitpay index` first")
    if until is None:
        until = top if rpc_oldest is None else rpc_oldest - 1
    last = min(until, top)
    if since is None:
        if start is None:
            raise BackfillError("--since is required (or ORBITPAY_START_LEDGER)")
        first = start
    else:
        first = await resolve_since(lake, since, last)
    if first > last:
        raise BackfillError(f"nothing to backfill: ledgers {first}-{last}")
    await plan(engine, ids, first, last)
    return first, last


__all__ = [
    "RANGE_LEDGERS",
    "BackfillError",
    "Backfiller",
    "Claim",
    "ClaimLost",
    "claim",
    "lowest_cursor",
    "plan",
    "prepare_backfill",
    "release_dead",
    "remaining",
    "resolve_since",
]


async def _backfill_command(
    settings: Settings,
    url: str,
    since: str | None,
    until: int | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, int, int, float]:
    """(ranges finished by this worker, ledgers read, total planned, seconds)."""
    import signal
    from contextlib import suppress

    from orbitpay.db.engine import create_engine

    assert settings.rpc_url is not None and settings.archive_url is not None
    engine = create_engine(url, pool_size=2)
    rpc = RpcClient(settings.rpc_url, timeout=settings.rpc_timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        passphrase = settings.network_passphrase or (await rpc.get_network()).passphrase
        async with DataLake(settings.archive_url, network_passphrase=passphrase) as lake:
            health = await rpc.get_health()
            oldest = int(health.oldest_ledger) if health.oldest_ledger else None
            await prepare_backfill(engine, lake, since, until, settings.start_ledger, oldest)
            await release_dead(engine)
            total = await remaining(engine)
            if progress is not None:
                progress(0, total)
            worker = Backfiller(settings, engine, rpc, lake, progress=progress)
            t0 = time.perf_counter()
            ranges = await worker.work(stop)
            return ranges, worker.ledgers, total, time.perf_counter() - t0
    finally:
        await rpc.close()
        await engine.dispose()


def run_backfill_command(
    settings: Settings,
    url: str,
    *,
    since: str | None,
    until: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int, int, float]:
    """``orbitpay backfill``: plan, then work ranges until none is open (resumable)."""
    from orbitpay.runtime import run

    return run(_backfill_command(settings, url, since, until, progress))
