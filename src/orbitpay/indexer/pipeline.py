"""The indexing loop, orchestration only: source -> decode -> enrich -> project -> store.

Contracts are indexed in groups of at most 25 (:mod:`.sources.groups`); each
group has its own cursor row in ``indexer_cursors``, holding the group's
resumable :class:`~.sources.Position`. A source (:mod:`.sources`; today the
RPC's ``getEvents``, :class:`~.sources.RpcSource`) yields rounds of batches,
at most one per group, covering the same stretch of chain, so that one
transaction fetch serves a whole round. This module starts each group at its
stored position (or ``ORBITPAY_START_LEDGER`` / the source's oldest ledger;
a position older than that is a gap, handled by ``ORBITPAY_GAP_POLICY``),
then moves the rounds through the stages.

Pipelining: a producer task takes round N+1 from the source, decodes it and
enriches it while the consumer projects and commits round N (a queue of two
rounds keeps memory flat). Each batch commits its rows and its group's
position in one transaction; the cursor row is locked and compared first, so
two writers can never both apply a batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay import notify
from orbitpay.config import ConfigError, Settings
from orbitpay.contracts.registry import decode_event
from orbitpay.db.errors import is_connection_error as is_db_outage
from orbitpay.enums import CoverageSource, DiscrepancyEntity, DiscrepancySource, Origin
from orbitpay.indexer import coverage, store
from orbitpay.indexer.bootstrap import bootstrap_entities
from orbitpay.indexer.enrich import enrich
from orbitpay.indexer.model import ContractInfo, Discrepancy, Item, Key
from orbitpay.indexer.progress import Progress
from orbitpay.indexer.project import apply_page, needs, unindexed
from orbitpay.indexer.project.silent import add_needs, apply_silent, latest_by_entity
from orbitpay.indexer.sources import (
    DEFAULT_PAGE_LIMIT,
    Batch,
    ChainHead,
    Group,
    Position,
    RpcSource,
    Source,
    plan_groups,
)
from orbitpay.indexer.sources.archive import ArchiveBatch, ArchiveSource
from orbitpay.indexer.txfetch import TxFetcher
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import (
    BATCH_SECONDS,
    CHAIN,
    DISCREPANCIES,
    EVENTS_INDEXED,
    EVENTS_UNRECOGNISED,
    INDEXER_GAPS,
)
from orbitpay.orgs import all_contracts
from orbitpay.security.redact import redact_url
from orbitpay.stellar.datalake import DataLake
from orbitpay.stellar.rpc import RawEvent, RpcClient, RpcError

log = get_logger(__name__)

STATUS_EVERY_SECONDS = 2.0
# The producer (decoding) and the committer share one event loop: decoding a round of
# batches in one go (~0.1 s) would leave PostgreSQL idle, waiting for the committer's next
# statement. Yielding every this many events keeps both busy (bench/ingest.py: ~10 %).
YIELD_EVERY = 100
# Batches of different groups committing at once (each holds a pooled connection).
COMMIT_CONCURRENCY = 4
# How far past the RPC's oldest ledger the archive is read before getEvents takes over:
# the window slides (one ledger every ~5 s) while the lake is read.
HANDOVER_MARGIN = 720


class _Unindexed(Exception):
    """A batch's events refer to entities that are not indexed (by entity: keys)."""

    def __init__(self, entities: dict[str, set[Key]]) -> None:
        super().__init__(", ".join(f"{e} {sorted(k)}" for e, k in entities.items()))
        self.entities = entities


class GapError(Exception):
    """A stored position is older than the source's oldest ledger and the policy is ``stop``.

    For the RPC source: older than its retention window.
    """


@dataclass(slots=True)
class Prepared:
    """One group's batch on its way through the stages, with its items once decoded.

    The commit stores the items' rows and the batch's position (``cursor``,
    ``scanned_to``: where the group resumes) in one transaction.
    """

    batch: Batch
    items: list[Item] = field(default_factory=list)
    fetch_seconds: float = 0.0

    @property
    def group(self) -> Group:
        return self.batch.group

    @property
    def events(self) -> list[RawEvent]:
        return self.batch.events

    @property
    def head(self) -> ChainHead:
        return self.batch.head

    @property
    def cursor(self) -> str | None:
        return self.batch.position.cursor

    @property
    def scanned_to(self) -> int:
        return self.batch.position.scanned_to


@dataclass
class SyncResult:
    events: int = 0
    pages: int = 0
    last_ledger: int | None = None
    latest_ledger: int | None = None
    groups: int = 0
    stats: dict[str, float] = field(default_factory=dict)


class Indexer:
    """Catches registered contracts up to the source's latest ledger, round by round.

    ``source`` defaults to the RPC's ``getEvents`` (:class:`~.sources.RpcSource`
    with ``page_limit``); ``rpc`` also serves transaction context and the
    network check.
    """

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        rpc: RpcClient,
        *,
        cache: Any = None,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        progress: Progress | None = None,
        on_page: Callable[[Prepared], None] | None = None,
        source: Source | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.rpc = rpc
        self.cache = cache
        self.source: Source = source or RpcSource(rpc, page_limit=page_limit)
        self.progress = progress
        self.fetcher = TxFetcher(rpc)
        self.on_page = on_page
        # An event about an entity that is not indexed reads it from ledger state first.
        self.bootstrap_unindexed = True
        # The ledger data lake for what is older than the source's oldest ledger.
        self.archive = settings.archive_url
        self._datalake: DataLake | None = None
        self._last_status = 0.0
        self.stats: dict[str, float] = {"decode": 0.0, "tx": 0.0, "db": 0.0, "events": 0}

    # ── set-up checks ──────────────────────────────────────────────────────────

    async def check_network(self) -> None:
        expected = self.settings.network_passphrase
        if not expected:
            return
        network = await self.rpc.get_network()
        if network.passphrase != expected:
            raise ConfigError(
                "invalid configuration: ORBITPAY_NETWORK_PASSPHRASE: "
                f"{expected!r} does not match the RPC's network {network.passphrase!r}"
            )

    async def groups(self) -> list[Group]:
        async with self.engine.connect() as conn:
            refs = await all_contracts(conn)
            cursors = await store.all_cursors(conn)
        infos = [ContractInfo(r.contract_id, r.kind, r.organization_id) for r in refs]
        return plan_groups(infos, cursors)

    # ── status ──────────────────────────────────────────────────────────────────

    async def report(self, *, force: bool = False, **values: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last_status < STATUS_EVERY_SECONDS:
            return
        self._last_status = now
        async with self.engine.begin() as conn:
            await store.write_status(conn, **values)

    # ── catching up ─────────────────────────────────────────────────────────────

    async def sync(self, stop: asyncio.Event | None = None) -> SyncResult:
        """Catch every group up to the source's latest ledger once (all groups in lockstep)."""
        result = SyncResult()
        groups = await self.groups()
        if not groups:
            log.warning(
                "no_contracts_registered",
                note="register an organization (orbitpay org add, or ORBITPAY_*_CONTRACT_ID)",
            )
        if groups:
            # Every group gets its cursor row first, so /health's lag (the minimum over
            # cursors) covers contracts whose turn has not come yet.
            head = await self.source.head()
            CHAIN.rpc_latest(head.latest_ledger, head.latest_ledger_close_time)
            oldest = head.oldest_ledger or 1
            for group in groups:
                await self._ensure_cursor(group, oldest, head.latest_ledger)
            if stop is None or not stop.is_set():
                result = await self.catch_up_all(groups, stop)
        async with self.engine.connect() as conn:  # the history gauges, whatever was committed
            coverage.publish(await coverage.read(conn))
        CHAIN.succeeded()
        return result

    async def _ensure_cursor(self, group: Group, oldest: int, latest: int) -> dict[str, Any]:
        """The group's cursor row, created (before its first page) when missing."""
        async with self.engine.begin() as conn:
            cur = await store.read_cursor(conn, group.name)
            if cur is None:
                first = self.settings.start_ledger or oldest
                await store.save_cursor(
                    conn,
                    group.name,
                    contract_ids=group.ids,
                    cursor=None,
                    last_ledger=first - 1,
                    last_ledger_closed_at=None,
                    latest_ledger=latest,
                )
                cur = {"cursor": None, "last_ledger": first - 1}
            elif sorted(cur.get("contract_ids") or []) != group.ids:
                await store.save_cursor(
                    conn,
                    group.name,
                    contract_ids=group.ids,
                    cursor=cur["cursor"],
                    last_ledger=cur["last_ledger"],
                    last_ledger_closed_at=None,
                    latest_ledger=latest,
                )
        return cur

    async def _start(self, group: Group, head: ChainHead) -> tuple[Position, str | None]:
        """Where the group resumes, and the stored cursor its first commit expects.

        A stored position older than the source's oldest ledger is a gap
        (:meth:`_gap`); after a ``resume`` the group starts at the oldest ledger.
        """
        oldest = head.oldest_ledger or 1
        cur = await self._ensure_cursor(group, oldest, head.latest_ledger)
        next_ledger = int(cur["last_ledger"]) + 1
        if next_ledger < oldest:
            await self._gap(group, cur, next_ledger, oldest, head.latest_ledger)
            return Position(None, oldest - 1), None
        stored = str(cur["cursor"]) if cur["cursor"] else None
        return Position(stored, int(cur["last_ledger"])), stored

    async def _gap(
        self, group: Group, cur: dict[str, Any], gap_from: int, oldest: int, latest: int
    ) -> None:
        INDEXER_GAPS.inc()
        gap_to = oldest - 1
        log.error(
            "indexer_gap",
            group=group.name,
            gap_from=gap_from,
            gap_to=gap_to,
            policy=self.settings.gap_policy,
            note="the stored cursor is older than the RPC's retention window",
        )
        await self.report(
            force=True,
            rpc_status="ok",
            rpc_error=None,
            rpc_latest_ledger=latest,
            rpc_oldest_ledger=oldest,
            gap_from_ledger=gap_from,
            gap_to_ledger=gap_to,
        )
        if self.settings.gap_policy == "stop":
            raise GapError(
                f"ledgers {gap_from}-{gap_to} of group {group.name} are no longer served "
                f"by the RPC "
                f"(oldest ledger {oldest}); ORBITPAY_GAP_POLICY=stop"
            )
        async with self.engine.begin() as conn:
            await store.add_discrepancies(
                conn,
                [
                    Discrepancy.of(
                        DiscrepancySource.GAP,
                        DiscrepancyEntity.CURSOR,
                        f"gap: ledgers {gap_from}-{gap_to} skipped, resumed at the "
                        f"RPC's oldest ledger {oldest} (ORBITPAY_GAP_POLICY=resume)",
                        entity_id=group.name,
                        field="last_ledger",
                        indexed=cur["last_ledger"],
                        chain=oldest,
                        ledger=oldest,
                        details={"contracts": group.ids, "gap_from": gap_from, "gap_to": gap_to},
                    )
                ],
            )
            await store.save_cursor(
                conn,
                group.name,
                contract_ids=group.ids,
                cursor=None,
                last_ledger=oldest - 1,
                last_ledger_closed_at=None,
                latest_ledger=latest,
                expect_cursor=cur["cursor"],
            )
        DISCREPANCIES.labels("gap", "cursor").inc()

    async def catch_up_all(
        self, groups: list[Group], stop: asyncio.Event | None = None
    ) -> SyncResult:
        """Move every group forward together, committing each group's batches in order.

        The source hands over rounds whose batches cover the same stretch of chain
        for every group, so that one enrichment pass (one ``getTransactions``
        sweep) serves the thin events of all of them.

        With an archive (``ORBITPAY_ARCHIVE_URL``), groups whose position is older
        than the source's oldest ledger first read the lake up to a little past it
        (:meth:`_from_archive`), then continue here with the same cursor rows.
        """
        head = await self.source.head()
        if self.archive is not None:
            if await self._from_archive(groups, head, stop):
                head = await self.source.head()
            if stop is not None and stop.is_set():
                return SyncResult(latest_ledger=head.latest_ledger, groups=len(groups))
        return await self._catch_up(groups, self.source, head, stop)

    async def _from_archive(
        self, groups: list[Group], head: ChainHead, stop: asyncio.Event | None
    ) -> bool:
        """Read the lake for the groups behind ``head.oldest_ledger``; False if none was.

        The target is ``HANDOVER_MARGIN`` ledgers past the oldest one the source
        serves, so the window's slow slide while the lake is read leaves no gap;
        if the window moved past the target anyway, the lake is read again.
        """
        read = False
        for _ in range(8):
            oldest = head.oldest_ledger or 1
            behind: list[Group] = []
            async with self.engine.connect() as conn:
                for group in groups:
                    cur = await store.read_cursor(conn, group.name)
                    if cur is not None and int(cur["last_ledger"]) + 1 < oldest:
                        behind.append(group)
            if not behind:
                return read
            target = min(head.latest_ledger, oldest + HANDOVER_MARGIN)
            lake = await self._lake()
            source = ArchiveSource(lake, until=target, gap_policy=self.settings.gap_policy)
            log.info("archive_catch_up", groups=len(behind), until=target, url=redact_url(lake.url))
            await self._catch_up(behind, source, await source.head(), stop)
            await self._record_archive_gaps(source)
            read = True
            if stop is not None and stop.is_set():
                return read
            head = await self.source.head()
        return read

    async def _lake(self) -> DataLake:
        """The configured lake, opened once (its passphrase checked against the network's)."""
        if self._datalake is None:
            assert self.archive is not None
            passphrase = self.settings.network_passphrase
            if not passphrase:
                passphrase = (await self.rpc.get_network()).passphrase
            lake = DataLake(self.archive, network_passphrase=passphrase)
            try:
                await lake.open()
            except BaseException:
                await lake.close()
                raise
            self._datalake = lake
        return self._datalake

    async def close(self) -> None:
        """Release the lake's connections (the RPC client belongs to the caller)."""
        if self._datalake is not None:
            await self._datalake.close()
            self._datalake = None

    async def _record_archive_gaps(self, source: ArchiveSource) -> None:
        """Holes in the lake passed over with ``ORBITPAY_GAP_POLICY=resume``: recorded."""
        for gap in source.gaps:
            INDEXER_GAPS.inc()
            DISCREPANCIES.labels("gap", "cursor").inc()
            log.error("archive_gap", gap_from=gap.first_ledger, gap_to=gap.last_ledger, key=gap.key)
            async with self.engine.begin() as conn:
                await store.add_discrepancies(
                    conn,
                    [
                        Discrepancy.of(
                            DiscrepancySource.GAP,
                            DiscrepancyEntity.CURSOR,
                            f"gap: {gap}; skipped (ORBITPAY_GAP_POLICY=resume)",
                            entity_id="archive",
                            field="last_ledger",
                            ledger=gap.first_ledger,
                            details={
                                "gap_from": gap.first_ledger,
                                "gap_to": gap.last_ledger,
                                "key": gap.key,
                            },
                        )
                    ],
                )
        source.gaps.clear()

    async def _catch_up(
        self,
        groups: list[Group],
        source: Source,
        head: ChainHead,
        stop: asyncio.Event | None = None,
    ) -> SyncResult:
        """One source's rounds for ``groups`` up to ``head``, committed in order."""
        starts: list[tuple[Group, Position]] = []
        last: dict[str, int] = {}
        expect: dict[str, str | None] = {}  # the stored cursor each group's next commit expects
        for group in groups:
            position, stored = await self._start(group, head)
            starts.append((group, position))
            last[group.name] = position.scanned_to
            expect[group.name] = stored
        result = SyncResult(
            last_ledger=min(last.values()), latest_ledger=head.latest_ledger, groups=len(groups)
        )
        await self.report(
            force=True,
            rpc_status="ok",
            rpc_error=None,
            rpc_latest_ledger=head.latest_ledger,
            rpc_oldest_ledger=head.oldest_ledger,
        )
        if self.progress is not None:
            name = groups[0].name if len(groups) == 1 else f"{len(groups)} groups"
            self.progress.start(name, min(last.values()), head.latest_ledger)
        queue: asyncio.Queue[list[Prepared] | BaseException | None] = asyncio.Queue(maxsize=2)
        producer = asyncio.create_task(self._produce(source, starts, head, queue, stop))
        try:
            while True:
                t_wait = time.perf_counter()
                batch = await queue.get()
                self.stats["wait"] = self.stats.get("wait", 0.0) + time.perf_counter() - t_wait
                if batch is None:
                    break
                if isinstance(batch, BaseException):
                    raise batch
                await self._commit_round(batch, expect)
                for prepared in batch:
                    last[prepared.group.name] = prepared.scanned_to
                    result.pages += 1
                    result.events += len(prepared.events)
                    result.latest_ledger = prepared.head.latest_ledger
                result.last_ledger = min(last.values())
        finally:
            if not producer.done():
                producer.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await producer
            if self.progress is not None:
                self.progress.stop()
        return result

    async def _commit_round(self, batch: list[Prepared], expect: dict[str, str | None]) -> None:
        """Commit a round: at most one batch per group, each with its cursor in one transaction.

        Groups share no contract, so their batches commit side by side on separate
        connections (at most ``COMMIT_CONCURRENCY``, leaving the shared pool to the API):
        PostgreSQL works on some while the event loop prepares the next round
        (bench/ingest.py: ~15 % faster). A failure cancels the others (rolled back) and
        is raised as itself.
        """
        if len(batch) == 1:
            await self._commit_one(batch[0], expect)
            return
        slots = asyncio.Semaphore(COMMIT_CONCURRENCY)

        async def one(prepared: Prepared) -> None:
            async with slots:
                await self._commit_one(prepared, expect)

        try:
            async with asyncio.TaskGroup() as tasks:
                for prepared in batch:
                    tasks.create_task(one(prepared))
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None

    async def _commit_one(self, prepared: Prepared, expect: dict[str, str | None]) -> None:
        group = prepared.group
        assert group is not None
        await self._commit(group, prepared, expect[group.name])
        expect[group.name] = prepared.cursor

    async def _produce(
        self,
        source: Source,
        starts: list[tuple[Group, Position]],
        head: ChainHead,
        queue: asyncio.Queue[list[Prepared] | BaseException | None],
        stop: asyncio.Event | None,
    ) -> None:
        """Take rounds from the source, decode and enrich them, one round ahead of the commits.

        The source requests its next pages while a round is enriched here; closing
        it (on the way out, also when cancelled) cancels what is still in flight.
        """
        try:
            async with aclosing(source.rounds(starts, head=head, stop=stop)) as rounds:
                t0 = time.perf_counter()
                async for batches in rounds:
                    batch = [Prepared(b) for b in batches]
                    await self._prepare(batch)
                    elapsed = time.perf_counter() - t0
                    for prepared in batch:
                        prepared.fetch_seconds = elapsed
                    await queue.put(batch)
                    if stop is not None and stop.is_set():
                        break
                    t0 = time.perf_counter()
            await queue.put(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)

    async def _prepare(self, batch: list[Prepared]) -> None:
        """Decode a round's events, fetch their transactions (one fetch), resolve calls."""
        t0 = time.perf_counter()
        for prepared in batch:
            assert prepared.group is not None
            contracts = prepared.group.contracts
            items = prepared.items
            for n, raw in enumerate(prepared.events, 1):
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the committer send its next statement
                if raw.type != "contract":  # system/diagnostic (a protocol-22 RPC may add them)
                    continue
                info = contracts.get(raw.contract_id)
                if info is None:  # not ours (a filter the RPC widened?): nothing to project
                    log.warning(
                        "event_from_unknown_contract", event_id=raw.id, contract=raw.contract_id
                    )
                    continue
                decoded = decode_event(info.kind, raw.topic_xdr, raw.value_xdr)
                items.append(Item(raw=raw, contract=info, decoded=decoded))
        t1 = time.perf_counter()
        known = {h: tx for prepared in batch for h, tx in prepared.batch.txs.items()}
        items = [it for prepared in batch for it in prepared.items]
        times = await enrich(items, self.fetcher, known)
        self.stats["decode"] += (t1 - t0) + times.resolve
        self.stats["tx"] += times.fetch

    async def _commit(self, group: Group, prepared: Prepared, expect: str | None) -> None:
        try:
            await self._commit_once(group, prepared, expect, bootstrap=True)
        except _Unindexed as absent:
            # Read the entities from ledger state (its own transactions), then commit the
            # batch again: its projection now finds them.
            await self._bootstrap_unindexed(group, absent.entities)
            await self._commit_once(group, prepared, expect, bootstrap=False)

    async def _bootstrap_unindexed(self, group: Group, entities: dict[str, set[Key]]) -> None:
        """Bootstrap entities an event refers to that are not indexed (unsettled ones too:
        the projection leaves a row's state alone for events up to its ``state_ledger``)."""
        for entity, keys in sorted(entities.items()):
            by_contract: dict[str, list[int]] = {}
            for cid, eid in keys:
                by_contract.setdefault(cid, []).append(eid)
            for cid, ids in sorted(by_contract.items()):
                try:
                    await bootstrap_entities(
                        self.engine,
                        self.rpc,
                        group.contracts[cid],
                        entity,
                        ids,
                        include_unsettled=True,
                        start_ledger=self.settings.start_ledger,
                    )
                except RpcError as exc:  # the projection records them as not indexed
                    log.warning("bootstrap_skipped", contract=cid, entity=entity, error=str(exc))

    async def _commit_once(
        self, group: Group, prepared: Prepared, expect: str | None, *, bootstrap: bool
    ) -> None:
        head = prepared.head
        t0 = time.perf_counter()
        scanned_to = prepared.scanned_to
        closed_at = prepared.batch.closed_at
        async with self.engine.begin() as conn:
            await store.lock_cursor(conn, group.name, expect)
            done = await store.existing_event_ids(conn, [it.raw.id for it in prepared.items])
            items = [it for it in prepared.items if it.raw.id not in done]
            need = needs(items)
            silent = {}
            if isinstance(prepared.batch, ArchiveBatch):
                silent = latest_by_entity(prepared.batch.storage_changes)
                add_needs(need, silent)
            snap = await store.load_snapshot(conn, group.ids, need)
            if bootstrap and self.bootstrap_unindexed:
                absent = unindexed(items, snap, need)
                if absent:
                    raise _Unindexed(absent)  # rolls this transaction back
            t1 = time.perf_counter()
            changes = apply_page(items, snap)
            if silent:
                apply_silent(snap, changes, silent)
            t2 = time.perf_counter()
            await store.write_changes(conn, snap, changes)
            if prepared.batch.source == CoverageSource.ARCHIVE:
                await store.mark_origin(
                    conn, changes, Origin.ARCHIVE, prepared.batch.first_ledger, scanned_to + 1
                )
            t3 = time.perf_counter()
            await store.save_cursor(
                conn,
                group.name,
                contract_ids=group.ids,
                cursor=prepared.cursor,
                last_ledger=scanned_to,
                last_ledger_closed_at=closed_at,
                latest_ledger=head.latest_ledger,
            )
            # The range is indexed iff its rows are: recorded in their transaction.
            await coverage.record(
                conn, group.ids, prepared.batch.source, prepared.batch.first_ledger, scanned_to
            )
            if changes.changed:  # delivered at this commit: API caches without our Redis
                await notify.publish(conn, changes.changed)
            now = time.monotonic()
            if now - self._last_status >= STATUS_EVERY_SECONDS:
                self._last_status = now
                coverage.publish(await coverage.read(conn, group.ids))
                await store.write_status(
                    conn,
                    rpc_status="ok",
                    rpc_error=None,
                    rpc_latest_ledger=head.latest_ledger,
                    rpc_latest_ledger_closed_at=head.latest_ledger_close_time,
                    rpc_oldest_ledger=head.oldest_ledger,
                )
            t4 = time.perf_counter()
        elapsed = time.perf_counter() - t0
        self.stats["db"] += elapsed
        for name, seconds in (
            ("db_read", t1 - t0),
            ("db_apply", t2 - t1),
            ("db_write", t3 - t2),
            ("db_end", elapsed - (t4 - t0)),
        ):
            self.stats[name] = self.stats.get(name, 0.0) + seconds
        self.stats["events"] += len(items)
        BATCH_SECONDS.observe(elapsed)
        for (kind, type_), n in changes.indexed.items():
            EVENTS_INDEXED.labels(kind, type_).inc(n)
        for (kind, reason), n in changes.unrecognised.items():
            EVENTS_UNRECOGNISED.labels(kind, reason).inc(n)
        for d in changes.discrepancies:
            DISCREPANCIES.labels(d.source, d.entity).inc()
            if d.source == DiscrepancySource.DECODE:
                log.warning("event_stored_raw", event_id=d.entity_id, reason=d.message)
            else:
                log.warning(
                    "discrepancy", entity=d.entity, entity_id=d.entity_id, message=d.message
                )
        # The lag is computed from these when Prometheus scrapes (observability.lag).
        CHAIN.rpc_latest(head.latest_ledger, head.latest_ledger_close_time)
        CHAIN.indexed(group.name, scanned_to, closed_at)
        if self.cache is not None and changes.changed:
            await self.cache.invalidate_changed(changes.changed)
        if self.progress is not None:
            self.progress.update(scanned_to, head.latest_ledger, len(prepared.events))
        if self.on_page is not None:
            self.on_page(prepared)


__all__ = [
    "COMMIT_CONCURRENCY",
    "YIELD_EVERY",
    "GapError",
    "Indexer",
    "Prepared",
    "SyncResult",
    "is_db_outage",
]
