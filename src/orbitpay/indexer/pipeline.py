"""The indexing loop: fetch -> decode -> enrich -> project -> commit, one page at a time.

Contracts are polled in groups of at most 25 (5 ``getEvents`` filters of 5
contract ids each); each group has its own cursor row in ``indexer_cursors``.
A group is caught up by paging ``getEvents`` from its stored cursor (or from
``ORBITPAY_START_LEDGER`` / the RPC's ``oldestLedger``) until a page that is
not full reaches the latest ledger; empty pages are normal (one call scans
at most 10,000 ledgers) and never end the catch-up.

Lockstep: all groups page forward together. Each round hands over, for every
group, its events up to the lowest point every group has fetched to, so the
pages of a round cover the same stretch of chain and one ``getTransactions``
sweep serves the thin events of all groups (instead of each group's sweep
also downloading the other groups' transactions). See :meth:`Indexer._produce`.

Pipelining: a producer task fetches round N+1, decodes it and fetches its
transactions while the consumer projects and commits round N (a queue of two
rounds keeps memory flat). Each page commits its rows and its cursor in one
transaction; the cursor row is locked and compared first, so two writers can
never both apply a page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.config import ConfigError, Settings
from orbitpay.contracts.registry import decode_event
from orbitpay.indexer import store
from orbitpay.indexer.model import ContractInfo, Item
from orbitpay.indexer.progress import Progress
from orbitpay.indexer.project import apply_page, needs, needs_transaction, resolve
from orbitpay.indexer.txfetch import TxFetcher, TxRef
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import (
    BATCH_SECONDS,
    DISCREPANCIES,
    EVENTS_INDEXED,
    EVENTS_UNRECOGNISED,
    INDEXER_GAPS,
    INDEXER_LAG_LEDGERS,
    INDEXER_LAG_SECONDS,
    INDEXER_LAST_LEDGER,
    INDEXER_LAST_SUCCESS,
    INDEXER_LATEST_LEDGER,
)
from orbitpay.orgs import all_contracts
from orbitpay.stellar.rpc import (
    MAX_CONTRACT_IDS_PER_FILTER,
    MAX_FILTERS,
    EventPage,
    RawEvent,
    RpcClient,
    RpcError,
    cursor_ledger,
    filters_for,
    toid_parts,
)

log = get_logger(__name__)

GROUP_SIZE = MAX_FILTERS * MAX_CONTRACT_IDS_PER_FILTER
DEFAULT_PAGE_LIMIT = 2000
STATUS_EVERY_SECONDS = 2.0
# The producer (decoding) and the committer share one event loop: decoding a round of
# pages in one go (~0.1 s) would leave PostgreSQL idle, waiting for the committer's next
# statement. Yielding every this many events keeps both busy (bench/ingest.py: ~10 %).
YIELD_EVERY = 100
# Pages of different groups committing at once (each holds a pooled connection).
COMMIT_CONCURRENCY = 4


class GapError(Exception):
    """The stored cursor is older than the RPC's retention window and the policy is ``stop``."""


def is_db_outage(exc: BaseException) -> bool:
    """Connection-level database failures (pause and resume), not bugs."""
    import asyncpg

    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return True
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(
        exc,
        asyncpg.exceptions.PostgresConnectionError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.AdminShutdownError
        | asyncpg.exceptions.InterfaceError,
    ):
        return True
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and cause is not None and cause is not exc:
        return is_db_outage(cause)
    return False


@dataclass
class Group:
    """Contracts paged together (one ``getEvents`` request covers them all)."""

    name: str
    contracts: dict[str, ContractInfo]

    @property
    def ids(self) -> list[str]:
        return sorted(self.contracts)


def plan_groups(contracts: list[ContractInfo], cursors: list[dict[str, Any]]) -> list[Group]:
    """Keep existing cursor groups; put new contracts into new groups of at most 25.

    A group's name is stable (``g-<first contract id>``) so re-planning after
    a restart finds the same cursor rows.
    """
    by_id = {c.contract_id: c for c in contracts}
    groups: list[Group] = []
    assigned: set[str] = set()
    for cur in cursors:
        members = {cid: by_id[cid] for cid in cur.get("contract_ids") or [] if cid in by_id}
        members = {cid: c for cid, c in members.items() if cid not in assigned}
        if members:
            groups.append(Group(cur["name"], members))
            assigned.update(members)
    fresh = sorted(cid for cid in by_id if cid not in assigned)
    taken = {g.name for g in groups} | {c["name"] for c in cursors}
    for i in range(0, len(fresh), GROUP_SIZE):
        chunk = fresh[i : i + GROUP_SIZE]
        name = f"g-{chunk[0]}"
        n = 1
        while name in taken:
            n += 1
            name = f"g-{chunk[0]}-{n}"
        taken.add(name)
        groups.append(Group(name, {cid: by_id[cid] for cid in chunk}))
    return groups


@dataclass
class Prepared:
    """One group's page, ready to commit.

    ``cursor``/``scanned_to`` are where the commit leaves the group: the page's own
    when all of its events are in ``items``; when the page was cut at the common
    frontier (lockstep), the last kept event's id (what a smaller ``limit`` would
    have returned as the cursor) and the ledger before the first event left over.
    """

    page: EventPage
    items: list[Item]
    fetch_seconds: float = 0.0
    group: Group | None = None
    cursor: str = ""
    scanned_to: int = 0
    events: list[RawEvent] = field(default_factory=list)


@dataclass
class SyncResult:
    events: int = 0
    pages: int = 0
    last_ledger: int | None = None
    latest_ledger: int | None = None
    groups: int = 0
    stats: dict[str, float] = field(default_factory=dict)


def _closed_at(page: EventPage, scanned_to: int, events: list[RawEvent]) -> datetime | None:
    if scanned_to >= page.latest_ledger and page.latest_ledger_close_time is not None:
        return page.latest_ledger_close_time
    if events:
        return max(e.ledger_closed_at for e in events)
    return None


_END = (1 << 62, 0)  # a frontier past every event: the group is caught up


def _position(event_id: str) -> tuple[int, int]:
    """An event id (``<TOID>-<index>``) -> its chain position, comparable across contracts."""
    head, _, tail = event_id.partition("-")
    if not head.isdigit() or not tail.isdigit():
        raise RpcError("getEvents", 0, f"unexpected event id {event_id!r}")
    return int(head), int(tail)


@dataclass
class _Lane:
    """One group's place in the lockstep walk."""

    group: Group
    cursor: str | None  # where the next getEvents request starts
    start_ledger: int
    buffer: list[RawEvent] = field(default_factory=list)  # fetched, not yet handed over
    page: EventPage | None = None  # the page the buffer came from
    frontier: tuple[int, int] = (0, 0)  # every event of the group up to here is fetched
    done: bool = False  # caught up (or stopped): no more requests


class Indexer:
    """Catches registered contracts up to the RPC's latest ledger, page by page."""

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
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.rpc = rpc
        self.cache = cache
        self.page_limit = page_limit
        self.progress = progress
        self.fetcher = TxFetcher(rpc)
        self.on_page = on_page
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
        """Catch every group up to the RPC's latest ledger once (all groups in lockstep)."""
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
            health = await self.rpc.get_health()
            oldest = int(health.oldest_ledger or 1)
            for group in groups:
                await self._ensure_cursor(group, oldest, int(health.latest_ledger or oldest))
            if stop is None or not stop.is_set():
                result = await self.catch_up_all(groups, stop)
        INDEXER_LAST_SUCCESS.set(time.time())
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

    async def _start_point(self, group: Group) -> tuple[str | None, str | None, int, int, Any]:
        """(request cursor, stored cursor, start ledger, previous last_ledger, health).

        The request cursor may be None while one is stored (it left the retention
        window); the first commit must still expect the stored one.
        """
        health = await self.rpc.get_health()
        oldest = int(health.oldest_ledger or 1)
        latest = int(health.latest_ledger or oldest)
        cur = await self._ensure_cursor(group, oldest, latest)
        next_ledger = int(cur["last_ledger"]) + 1
        if next_ledger < oldest:
            await self._gap(group, cur, next_ledger, oldest, latest)
            return None, None, oldest, oldest - 1, health
        stored = str(cur["cursor"]) if cur["cursor"] else None
        if stored:
            at = cursor_ledger(stored)
            if at is None or at >= oldest:
                return stored, stored, next_ledger, int(cur["last_ledger"]), health
            # The cursor's ledger (fully scanned) just left the retention window: a real
            # RPC rejects it (-32600), so resume from the next ledger, which is retained.
        return None, stored, next_ledger, int(cur["last_ledger"]), health

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
                    {
                        "source": "gap",
                        "contract_id": None,
                        "entity": "cursor",
                        "entity_id": group.name,
                        "field": "last_ledger",
                        "indexed_value": str(cur["last_ledger"]),
                        "chain_value": str(oldest),
                        "ledger": oldest,
                        "message": f"gap: ledgers {gap_from}-{gap_to} skipped, resumed at the "
                        f"RPC's oldest ledger {oldest} (ORBITPAY_GAP_POLICY=resume)",
                        "details": {"contracts": group.ids, "gap_from": gap_from, "gap_to": gap_to},
                        "corrected": False,
                    }
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

    async def catch_up(self, group: Group, stop: asyncio.Event | None = None) -> SyncResult:
        return await self.catch_up_all([group], stop)

    async def catch_up_all(
        self, groups: list[Group], stop: asyncio.Event | None = None
    ) -> SyncResult:
        """Page every group forward together, committing each group's pages in order.

        The groups walk the chain in lockstep (see :meth:`_produce`) so that one
        ``getTransactions`` sweep serves the thin events of all of them.
        """
        lanes: list[_Lane] = []
        last: dict[str, int] = {}
        expect: dict[str, str | None] = {}  # the stored cursor each group's next commit expects
        health: Any = None
        for group in groups:
            cursor, stored, start_ledger, last_ledger, health = await self._start_point(group)
            lanes.append(_Lane(group, cursor, start_ledger))
            last[group.name] = last_ledger
            expect[group.name] = stored
        result = SyncResult(
            last_ledger=min(last.values()), latest_ledger=health.latest_ledger, groups=len(groups)
        )
        await self.report(
            force=True,
            rpc_status="ok",
            rpc_error=None,
            rpc_latest_ledger=health.latest_ledger,
            rpc_oldest_ledger=health.oldest_ledger,
        )
        if self.progress is not None:
            name = groups[0].name if len(groups) == 1 else f"{len(groups)} groups"
            low = min(last.values())
            self.progress.start(name, low, int(health.latest_ledger or low))
        queue: asyncio.Queue[list[Prepared] | BaseException | None] = asyncio.Queue(maxsize=2)
        producer = asyncio.create_task(self._produce(lanes, queue, stop))
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
                    assert prepared.group is not None
                    last[prepared.group.name] = prepared.scanned_to
                    result.pages += 1
                    result.events += len(prepared.events)
                    result.latest_ledger = prepared.page.latest_ledger
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
        """Commit a round: at most one page per group, each with its cursor in one transaction.

        Groups share no contract, so their pages commit side by side on separate
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

    async def _fetch_page(self, lane: _Lane) -> EventPage:
        return await self.rpc.get_events(
            filters_for(lane.group.ids),
            cursor=lane.cursor,
            start_ledger=None if lane.cursor else lane.start_ledger,
            limit=self.page_limit,
        )

    async def _produce(
        self,
        lanes: list[_Lane],
        queue: asyncio.Queue[list[Prepared] | BaseException | None],
        stop: asyncio.Event | None,
    ) -> None:
        """Fetch, cut, decode and enrich rounds of pages, one round ahead of the commits.

        Lockstep: each group's events are known up to its *frontier* (the last event
        of a full page, or the end of the scanned window). A round hands over, for
        every group, its fetched events up to the lowest frontier of all groups, so
        the pages of a round cover the same stretch of chain and their thin events
        share one transaction fetch. Events past that point stay buffered for the
        next round (only a group whose buffer is drained requests its next page), so
        nothing is fetched twice and nothing is skipped: a cut page commits the id
        of its last kept event as its cursor (what a smaller ``limit`` would have
        returned) and the ledger before its first left-over event as scanned.
        """
        multi = len(lanes) > 1
        # The next pages are requested while the current round's transactions are
        # fetched (their cursors are known once the round is cut).
        ahead: dict[str, asyncio.Task[EventPage]] = {}
        try:
            while True:
                t0 = time.perf_counter()
                todo = [ln for ln in lanes if ln.page is None and not ln.done]
                if todo:
                    pages = await asyncio.gather(
                        *(ahead.pop(ln.group.name, None) or self._fetch_page(ln) for ln in todo)
                    )
                    stopping = stop is not None and stop.is_set()
                    for ln, page in zip(todo, pages, strict=True):
                        caught_up = not page.full and page.scanned_to >= page.latest_ledger
                        stuck = not page.cursor or page.cursor == ln.cursor
                        ln.page = page
                        ln.buffer = page.events
                        ln.cursor = page.cursor
                        if caught_up or stuck or stopping:
                            ln.done = True
                            ln.frontier = _END
                        elif not multi:
                            ln.frontier = (0, 0)
                        elif page.full:
                            ln.frontier = _position(page.events[-1].id)
                        else:
                            ln.frontier = ((page.scanned_to + 1) << 32, -1)
                active = [ln for ln in lanes if ln.page is not None]
                if not active:
                    break
                common = min(ln.frontier for ln in active)
                batch: list[Prepared] = []
                for ln in active:
                    page = ln.page
                    assert page is not None
                    keep, rest = ln.buffer, []
                    if ln.frontier > common:
                        cut = len(keep)
                        for i, ev in enumerate(keep):
                            if _position(ev.id) > common:
                                cut = i
                                break
                        keep, rest = keep[:cut], keep[cut:]
                    if rest:
                        if not keep:
                            continue  # nothing of this group before the common frontier
                        ln.buffer = rest
                        cursor, scanned_to = keep[-1].id, rest[0].ledger - 1
                    else:
                        ln.buffer = []
                        ln.page = None
                        cursor, scanned_to = page.cursor, page.scanned_to
                    batch.append(
                        Prepared(
                            page=page,
                            items=[],
                            group=ln.group,
                            cursor=cursor,
                            scanned_to=scanned_to,
                            events=keep,
                        )
                    )
                if stop is None or not stop.is_set():
                    for ln in lanes:
                        if ln.page is None and not ln.done:
                            ahead[ln.group.name] = asyncio.ensure_future(self._fetch_page(ln))
                await self._prepare(batch)
                elapsed = time.perf_counter() - t0
                for prepared in batch:
                    prepared.fetch_seconds = elapsed
                await queue.put(batch)
                if stop is not None and stop.is_set():
                    break
            await queue.put(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)
        finally:
            for task in ahead.values():
                task.cancel()
            for task in ahead.values():
                with suppress(asyncio.CancelledError, Exception):
                    await task

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
        refs: list[TxRef] = []
        thin: list[Item] = []
        for prepared in batch:
            for it in prepared.items:
                if needs_transaction(it) and it.raw.tx_hash:
                    thin.append(it)
                    order = it.raw.transaction_index
                    if order is None:
                        order = toid_parts(int(it.raw.id.split("-")[0]))[1]
                    refs.append(TxRef(it.raw.tx_hash, it.raw.ledger, order))
        if refs:
            txs, errors = await self.fetcher.fetch(refs)
            for it in thin:
                it.tx = txs.get(it.raw.tx_hash)
                it.tx_error = errors.get(it.raw.tx_hash)
        t2 = time.perf_counter()
        n = 0
        for prepared in batch:
            for it in prepared.items:
                resolve(it)
                n += 1
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        t3 = time.perf_counter()
        self.stats["decode"] += (t1 - t0) + (t3 - t2)
        self.stats["tx"] += t2 - t1

    async def _commit(self, group: Group, prepared: Prepared, expect: str | None) -> None:
        page = prepared.page
        t0 = time.perf_counter()
        scanned_to = prepared.scanned_to
        closed_at = _closed_at(page, scanned_to, prepared.events)
        async with self.engine.begin() as conn:
            await store.lock_cursor(conn, group.name, expect)
            done = await store.existing_event_ids(conn, [it.raw.id for it in prepared.items])
            items = [it for it in prepared.items if it.raw.id not in done]
            snap = await store.load_snapshot(conn, group.ids, needs(items))
            t1 = time.perf_counter()
            changes = apply_page(items, snap)
            t2 = time.perf_counter()
            await store.write_changes(conn, snap, changes)
            t3 = time.perf_counter()
            await store.save_cursor(
                conn,
                group.name,
                contract_ids=group.ids,
                cursor=prepared.cursor,
                last_ledger=scanned_to,
                last_ledger_closed_at=closed_at,
                latest_ledger=page.latest_ledger,
            )
            now = time.monotonic()
            if now - self._last_status >= STATUS_EVERY_SECONDS:
                self._last_status = now
                await store.write_status(
                    conn,
                    rpc_status="ok",
                    rpc_error=None,
                    rpc_latest_ledger=page.latest_ledger,
                    rpc_latest_ledger_closed_at=page.latest_ledger_close_time,
                    rpc_oldest_ledger=page.oldest_ledger,
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
            DISCREPANCIES.labels(d["source"], d["entity"]).inc()
            if d["source"] == "decode":
                log.warning("event_stored_raw", event_id=d["entity_id"], reason=d["message"])
            else:
                log.warning(
                    "discrepancy",
                    entity=d["entity"],
                    entity_id=d["entity_id"],
                    message=d["message"],
                )
        INDEXER_LAST_LEDGER.set(scanned_to)
        INDEXER_LATEST_LEDGER.set(page.latest_ledger)
        INDEXER_LAG_LEDGERS.set(max(0, page.latest_ledger - scanned_to))
        if closed_at is not None:
            INDEXER_LAG_SECONDS.set(max(0.0, (datetime.now(UTC) - closed_at).total_seconds()))
        if self.cache is not None and changes.namespaces:
            await self.cache.invalidate(*sorted(changes.namespaces))
        if self.progress is not None:
            self.progress.update(scanned_to, page.latest_ledger, len(prepared.events))
        if self.on_page is not None:
            self.on_page(prepared)


__all__ = [
    "GapError",
    "Group",
    "Indexer",
    "RpcError",
    "SyncResult",
    "is_db_outage",
    "plan_groups",
]
