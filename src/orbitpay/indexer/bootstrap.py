"""Current state from ledger state: every entity of a contract, read from its storage.

An RPC keeps about a week of events; an organization is months old. Whatever
was created before the first event in reach never appears in ``getEvents``,
yet its storage entry is on the ledger today. Bootstrap reads a contract's
instance entry (admin, signers, threshold, governance parameters, members,
and the counters that say which ids exist: ``ProposalCount`` for treasury
withdrawals, ``StreamCount``, ``ScheduleCount``, ``ProposalCount``) and then
every entity's persistent entry by id with ``getLedgerEntries`` (200 keys a
call), and writes the rows with the entry's exact fields.

When an entry may be written
----------------------------
An entry last modified at ledger ``M`` holds the effect of every event up to
the end of ``M``. The projection applies an event to a row unless the row's
``last_ledger`` is *newer* than the event, so a row stamped ``M`` would still
take an event of ledger ``M`` on top of a state that already contains it. An
entry is therefore written only when it is *settled*: ``M`` is at or below the
ledger through which the contract's events are indexed (its cursor's
``last_ledger``; for a contract never indexed, the ledger before the one
indexing will start from, ``ORBITPAY_START_LEDGER`` or the RPC's oldest).
Unsettled entries are ``deferred``: they settle once the indexer passes ``M``,
and the reconciliation after each catch-up writes them.

Every row written from an entry also gets ``state_ledger = M``: "this row
holds every event up to the end of ``M``". A projection that leaves the state
of such a row alone for events at or below ``state_ledger`` (still writing
their history rows) can take unsettled entries too: that is what
``include_unsettled=True`` of :func:`bootstrap_entities` is for (an event
referring to an entity that is not indexed); the report's ``state_ledgers``
gives each written entity's ``M``. Without that rule in the projection,
leave it False.

A row newer in our tables than the entry (``last_ledger > M``) is never
overwritten; updates are optimistic (``WHERE last_ledger = <seen>``) and
inserts ``ON CONFLICT DO NOTHING``, so a projection committing meanwhile wins.

Provenance
----------
Inserted rows get ``origin = 'ledger_state'``. Their creating transaction is
out of reach: ``created_ledger`` is 0 and ``created_tx_hash`` empty, which
sorts them before every row created from events in the API's newest-first
lists (in id order among themselves, which is creation order);
``created_at`` is exact where storage records it (a withdrawal's
``created_at``, a proposal's ``start_time``) and 1970-01-01 otherwise. A row
keeps the origin of whatever created it: when the projection or a later
reconciliation updates it, ``origin`` is left as is (it answers "where did
this row come from", not "who touched it last"). Votes are not bootstrapped
(a ``votes`` row is keyed by its event); approvals are, with the same
unknown-provenance values (ledger 0; the proposer's at the withdrawal's
creation time).

When it runs
------------
``orbitpay reconcile`` and the reconciliation after every catch-up
(:func:`orbitpay.indexer.reconcile.reconcile`) bootstrap every registered
contract; :func:`bootstrap_new_contracts` runs before each catch-up for the
contracts no cursor covers yet (their first start); :func:`bootstrap_entities`
is for an event that refers to an entity not indexed. A pass reads the ids
below the contract's counter that are missing from our tables or still open:
a row in a final status (executed, cancelled, completed, revoked, fully
claimed, rejected, expired) cannot change on chain and is not read again.

Archived entries
----------------
An entry absent from ``getLedgerEntries`` (evicted, or never stored) is
reported (a ``discrepancies`` row with source ``bootstrap``, a log line, the
``orbitpay_discrepancies_total`` counter) and never invented. An entry whose
``liveUntilLedgerSeq`` is below the latest ledger is archived: its value is
still the entity's exact state (an archived entry cannot change until it is
restored, and restoring keeps the value), so the row is written, and the
archival is reported the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.db.schema import (
    contracts,
    indexer_cursors,
    proposals,
    streams,
    vesting_schedules,
    withdrawal_approvals,
    withdrawals,
)
from orbitpay.enums import (
    ContractKind,
    Origin,
    ProposalStatus,
    ScheduleStatus,
    StreamStatus,
    WithdrawalStatus,
)
from orbitpay.indexer import instance_state, state_rows, store
from orbitpay.indexer.findings import (
    RECONCILE,
    BootstrapReport,
    Finding,
    discrepancy_row,
    record_finding,
    report_archived,
)
from orbitpay.indexer.model import ContractInfo
from orbitpay.indexer.state_rows import EntityState, StateError
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import DISCREPANCIES
from orbitpay.stellar.ledger import archived, decode_entry, instance_key, persistent_key
from orbitpay.stellar.rpc import (
    MAX_CONTRACT_IDS_PER_FILTER,
    MAX_FILTERS,
    LedgerEntry,
    RpcClient,
    RpcError,
    filters_for,
)

log = get_logger(__name__)

UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""``created_at`` of a bootstrapped row whose storage records no creation time."""
UNKNOWN_LEDGER = 0
"""``created_ledger`` (and an approval's ``ledger``) when the creating transaction is unknown."""


@dataclass(frozen=True)
class EntitySpec:
    """How one contract kind's entities are stored on chain and in our tables."""

    entity: str  # discrepancy entity name
    table: Table
    id_col: str
    variant: str  # the DataKey tuple variant holding one entity
    counter: str  # the instance key holding the next id
    decode: Callable[[Any, int], EntityState]
    open_statuses: tuple[str, ...]  # statuses the chain can still change
    compare: tuple[str, ...]  # columns compared with (and corrected from) the chain


ENTITIES: dict[str, EntitySpec] = {
    ContractKind.TREASURY: EntitySpec(
        "withdrawal",
        withdrawals,
        "withdrawal_id",
        "Withdrawal",
        "ProposalCount",
        state_rows.withdrawal,
        (WithdrawalStatus.PENDING, WithdrawalStatus.APPROVED),
        ("status", "proposer", "token", "recipient", "amount", "memo"),
    ),
    ContractKind.PAYROLL: EntitySpec(
        "stream",
        streams,
        "stream_id",
        "Stream",
        "StreamCount",
        state_rows.stream,
        (StreamStatus.ACTIVE, StreamStatus.PAUSED),
        (
            "status",
            "claimed_amount",
            "last_claim_time",
            "sender",
            "recipient",
            "token",
            "total_amount",
            "rate_per_second",
            "start_time",
            "end_time",
        ),
    ),
    ContractKind.VESTING: EntitySpec(
        "schedule",
        vesting_schedules,
        "schedule_id",
        "Schedule",
        "ScheduleCount",
        state_rows.schedule,
        (ScheduleStatus.ACTIVE,),
        (
            "status",
            "claimed_amount",
            "total_amount",
            "revoked_at",
            "grantor",
            "beneficiary",
            "token",
            "start_time",
            "cliff_duration",
            "cliff_amount",
            "total_duration",
            "label",
            "revocable",
        ),
    ),
    ContractKind.GOVERNANCE: EntitySpec(
        "proposal",
        proposals,
        "proposal_id",
        "Proposal",
        "ProposalCount",
        state_rows.proposal,
        (ProposalStatus.ACTIVE, ProposalStatus.APPROVED),
        (
            "status",
            "yes_votes",
            "no_votes",
            "abstain_votes",
            "end_time",
            "proposer",
            "title",
            "token",
            "amount",
            "recipient",
            "start_time",
        ),
    ),
}
SPEC_BY_ENTITY = {s.entity: s for s in ENTITIES.values()}


@dataclass
class LedgerRead:
    """Ledger entries read ahead of a pass, by base64 key, decoded once.

    ``requested``: every key asked for (a requested key without an entry is
    absent from the ledger); ``latest``: the RPC's latest ledger at the read.
    Reconciliation reads every contract's instance and entity entries in full
    200-key calls up front (:func:`read_ahead`), possibly while ingest runs;
    a pass then takes what it needs from here and fetches only keys not read.
    """

    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    requested: set[str] = field(default_factory=set)
    latest: int = 0
    _decoded: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)

    async def fetch(self, rpc: RpcClient, keys: Sequence[str]) -> None:
        """Read ``keys`` (200 a call) into this read."""
        if not keys:
            return
        answer = await rpc.get_ledger_entries(list(keys))
        self.latest = max(self.latest, answer.latest_ledger)
        self.requested.update(keys)
        for k in keys:  # read again: what is absent now must not be answered from before
            self.entries.pop(k, None)
        for e in answer.entries:
            self.entries[e.key] = e

    def decoded(self, entry: LedgerEntry) -> tuple[Any, Any]:
        """``decode_entry`` of the entry, once (raises as it does)."""
        hit = self._decoded.get(entry.key)
        if hit is None or hit[0] is not entry:
            value = decode_entry(entry.xdr)
            self._decoded[entry.key] = (entry, value)
            return value
        cached: tuple[Any, Any] = hit[1]
        return cached

    async def decode_all(self) -> None:
        """Decode every entry now (read-ahead: the CPU is spent beside ingest, not after),
        yielding to the event loop now and then so the catch-up beside it keeps going."""
        for n, e in enumerate(list(self.entries.values()), 1):
            if n % 256 == 0:
                await asyncio.sleep(0)
            try:
                self.decoded(e)
            except Exception:  # reported when the pass reaches it
                continue


async def _open_ids(
    engine: AsyncEngine, spec: EntitySpec, cid: str, count: int, every: bool = False
) -> list[int]:
    """Ids below ``count`` that are missing from the tables or not in a final status
    (``every``: all of them)."""
    if every:
        return list(range(count))
    async with engine.connect() as conn:
        done = {
            int(r[0])
            for r in await conn.execute(
                select(spec.table.c[spec.id_col]).where(
                    spec.table.c.contract_id == cid,
                    spec.table.c.status.not_in(spec.open_statuses),
                )
            )
        }
    return [i for i in range(count) if i not in done]


async def read_ahead(engine: AsyncEngine, rpc: RpcClient, *, every: bool = False) -> LedgerRead:
    """Every registered contract's instance entry, then every open entity's, in full batches.

    What a reconciliation pass reads, without writing anything: it can run while
    ingest is catching up (:func:`orbitpay.indexer.service.index_until_latest`),
    and the pass after it (``reconcile(..., read=...)``) only compares and writes.
    """
    read = LedgerRead()
    async with engine.connect() as conn:
        registered = [
            (str(r[0]), str(r[1]))
            for r in await conn.execute(select(contracts.c.contract_id, contracts.c.kind))
        ]
    registered.sort()
    await read.fetch(rpc, [instance_key(cid) for cid, _ in registered])
    keys: list[str] = []
    for cid, kind in registered:
        spec = ENTITIES.get(kind)
        inst = read.entries.get(instance_key(cid))
        if spec is None or inst is None:
            continue
        try:
            _, storage = read.decoded(inst)
        except Exception:
            continue
        count = storage.get(spec.counter, 0) if isinstance(storage, dict) else 0
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            continue
        keys += [
            persistent_key(cid, spec.variant, i)
            for i in await _open_ids(engine, spec, cid, count, every)
        ]
    await read.fetch(rpc, keys)
    await read.decode_all()
    return read


# ── entry points ────────────────────────────────────────────────────────────────


async def bootstrap_contract(
    engine: AsyncEngine,
    rpc: RpcClient,
    contract: str | ContractInfo,
    *,
    start_ledger: int | None = None,
    correct: bool = True,
    report: BootstrapReport | None = None,
    read: LedgerRead | None = None,
    every: bool = False,
) -> BootstrapReport:
    """Read a contract's instance and entity entries; write what is missing or stale.

    Entities the tables already hold in a final status (executed, cancelled,
    completed, revoked, fully claimed, rejected, expired) cannot change on chain
    and are not read again; every other id below the contract's counter is.
    ``start_ledger`` is where indexing starts for a contract never indexed
    (``ORBITPAY_START_LEDGER``); ``correct=False`` only reports. Entries already
    in ``read`` (:func:`read_ahead`) are not fetched again. ``every``: entities in a
    final status are read and compared too (an audit; nothing should differ).
    """
    read = read if read is not None else LedgerRead()
    rep = report if report is not None else BootstrapReport()
    info = await _contract_row(engine, contract)
    if info is None:
        raise ValueError(f"contract {contract!r} is not registered")
    cid, kind = info["contract_id"], info["kind"]

    async def note(field: str, chain: Any, message: str, ledger: int) -> None:
        """Record a finding about the contract itself (no indexed value to show)."""
        await record_finding(
            engine, rep, Finding(cid, "contract", cid, field, None, chain, message), ledger
        )

    rep.contracts += 1
    through = await indexed_through(engine, rpc, cid, start_ledger)
    ikey = instance_key(cid)
    if ikey not in read.requested:
        await read.fetch(rpc, [ikey])
    inst = read.entries.get(ikey)
    latest = read.latest
    if inst is None:
        rep.missing += 1
        await note(
            "instance",
            None,
            f"{kind} contract {cid}: its instance entry is not on the ledger "
            "(archived and evicted, or never deployed); nothing can be read",
            latest,
        )
        return rep
    modified = inst.last_modified_ledger or 0
    if archived(inst.live_until_ledger, latest):
        rep.archived += 1
        await report_archived(engine, rep, cid, "contract", cid, inst, latest)
    try:
        _, storage = read.decoded(inst)
    except Exception as exc:  # any XDR/shape error: report, never guess
        rep.undecodable += 1
        await note("instance", None, f"undecodable instance: {exc}", modified)
        return rep
    if not isinstance(storage, dict):
        return rep
    if modified <= through:
        await instance_state.contract_params(engine, rep, info, storage, correct)
    else:
        rep.deferred += 1
    if kind == ContractKind.GOVERNANCE:
        await instance_state.members(engine, rpc, rep, cid, storage, modified, through, correct)
    spec = ENTITIES.get(kind)
    if spec is None:
        return rep
    count = storage.get(spec.counter, 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        rep.undecodable += 1
        await note(
            spec.counter,
            count,
            f"{kind} contract {cid}: {spec.counter} is not a count: {count!r}",
            modified,
        )
        return rep
    ids = await _open_ids(engine, spec, cid, count, every)
    rep.final += count - len(ids)
    await _entities(engine, rpc, rep, spec, cid, ids, through, False, correct, read)
    return rep


async def bootstrap_entities(
    engine: AsyncEngine,
    rpc: RpcClient,
    contract: str | ContractInfo,
    kind: str,
    ids: Iterable[int],
    *,
    include_unsettled: bool = False,
    start_ledger: int | None = None,
) -> BootstrapReport:
    """Read the entries of the given entities (``kind``: withdrawal, stream, schedule or
    proposal) and write them: for an event that refers to an entity not indexed.

    With ``include_unsettled`` an entry newer than the indexed ledger is written too;
    the caller must then not apply the events up to ``report.state_ledgers[...]`` to
    those rows (their effect is in the entry already).
    """
    rep = BootstrapReport()
    spec = SPEC_BY_ENTITY.get(kind)
    if spec is None:
        raise ValueError(f"unknown entity kind {kind!r} (one of {sorted(SPEC_BY_ENTITY)})")
    info = await _contract_row(engine, contract)
    if info is None:
        raise ValueError(f"contract {contract!r} is not registered")
    if ENTITIES.get(info["kind"]) is not spec:
        raise ValueError(f"a {info['kind']} contract has no {kind} entities")
    cid = info["contract_id"]
    through = await indexed_through(engine, rpc, cid, start_ledger)
    wanted = sorted(set(ids))
    await _entities(engine, rpc, rep, spec, cid, wanted, through, include_unsettled, correct=True)
    return rep


# Contracts bootstrapped side by side on a first start: each is a few sequential RPC
# round trips (instance, entity batches), so with a far-away RPC a serial walk
# over 40 contracts cost ~150 round trips in a row (bench/ingest.py at 50 ms: 7.7 s).
FIRST_START_CONCURRENCY = 8


async def bootstrap_new_contracts(
    engine: AsyncEngine, rpc: RpcClient, *, start_ledger: int | None = None
) -> BootstrapReport:
    """Bootstrap every registered contract that no cursor covers yet: its first start.

    Run before a catch-up: what was last modified before the ledger indexing starts
    from gets its row now, so the events in reach apply on top of it; the rest
    settles during the catch-up and is written by the reconciliation after it.
    A contract whose instance cannot be read is reported, never fatal here, and an
    RPC that answers getLedgerEntries with an error only skips this step.
    """
    rep = BootstrapReport()
    async with engine.connect() as conn:
        registered = [r[0] for r in await conn.execute(select(contracts.c.contract_id))]
        covered = {
            cid
            for r in await conn.execute(select(indexer_cursors.c.contract_ids))
            for cid in r[0] or []
        }
    new = sorted(set(registered) - covered)
    if new and start_ledger is None:
        # None of them has a cursor, so each would ask getHealth for the RPC's oldest
        # ledger (indexed_through): one reading serves them all.
        try:
            health = await rpc.get_health()
        except RpcError as exc:
            log.warning("bootstrap_skipped", contracts=len(new), error=str(exc))
            return rep
        start_ledger = int(health.oldest_ledger or 1)
    born = await initialized_since(rpc, new, start_ledger) if new and start_ledger else set()
    if born:
        # Their whole history is in reach of events: every entity and every instance
        # value is rebuilt from them, so reading ledger state would find nothing the
        # catch-up does not write (each entry would be newer than the start: deferred).
        log.info("bootstrap_not_needed", contracts=len(born), reason="initialized in reach")
        new = [cid for cid in new if cid not in born]
    refused: list[RpcError] = []
    slots = asyncio.Semaphore(FIRST_START_CONCURRENCY)

    async def one(cid: str) -> None:
        async with slots:
            if refused:
                return
            try:
                await bootstrap_contract(engine, rpc, cid, start_ledger=start_ledger, report=rep)
            except RpcError as exc:
                # An RPC that refuses getLedgerEntries must not keep the events from being
                # indexed; the reconciliation after the catch-up reads ledger state again.
                refused.append(exc)
                log.warning("bootstrap_skipped", contract=cid, error=str(exc))

    try:
        async with asyncio.TaskGroup() as tasks:
            for cid in new:
                tasks.create_task(one(cid))
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None
    return rep


_INIT_TOPIC = "AAAADwAAAARpbml0"  # SCV_SYMBOL "init", the topic every contract's initialize emits


async def initialized_since(
    rpc: RpcClient, contract_ids: Sequence[str], start_ledger: int
) -> set[str]:
    """Those of ``contract_ids`` whose ``("init",)`` event is at ``start_ledger`` or later.

    One ``getEvents`` per 25 contracts, filtered on that topic, with a page as
    large as the chunk: a contract initialized in reach has exactly one such
    event, so a page that is not full has scanned the whole window. Anything
    that is not a clean answer (an RPC error, an event schema without ``init``)
    leaves the contract out, so it is bootstrapped as before: a wrong guess can
    only cost reads, never rows.
    """
    chunk = MAX_FILTERS * MAX_CONTRACT_IDS_PER_FILTER
    found: set[str] = set()
    for i in range(0, len(contract_ids), chunk):
        ids = list(contract_ids[i : i + chunk])
        try:
            page = await rpc.get_events(
                filters_for(ids, topics=[[_INIT_TOPIC]]), start_ledger=start_ledger, limit=len(ids)
            )
        except RpcError as exc:
            log.warning("init_probe_failed", contracts=len(ids), error=str(exc))
            continue
        found.update(
            e.contract_id
            for e in page.events
            if e.contract_id in ids and e.ledger >= start_ledger and e.in_successful_contract_call
        )
    return found


async def indexed_through(
    engine: AsyncEngine, rpc: RpcClient, contract_id: str, start_ledger: int | None
) -> int:
    """The ledger through which this contract's events are applied (see the module docstring).

    A contract in several cursor rows (a regrouping) counts with the lowest one.
    """
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(indexer_cursors.c.last_ledger).where(
                    indexer_cursors.c.contract_ids.any(contract_id)
                )
            )
        ).all()
    if rows:
        return min(int(r[0]) for r in rows)
    first = start_ledger
    if first is None:
        health = await rpc.get_health()
        first = int(health.oldest_ledger or 1)
    return first - 1


# ── entities ─────────────────────────────────────────────────────────────────────


async def _entities(
    engine: AsyncEngine,
    rpc: RpcClient,
    rep: BootstrapReport,
    spec: EntitySpec,
    cid: str,
    ids: Sequence[int],
    through: int,
    include_unsettled: bool,
    correct: bool,
    read: LedgerRead | None = None,
) -> None:
    """Compare (and write) each entity with its entry.

    Cheap checks come first: an entry older than our row (``skipped_newer``) or
    not yet settled (``deferred``) is never decoded; the others are decoded by
    :func:`orbitpay.stellar.ledger.decode_entry` (no stellar-sdk objects).
    """
    if not ids:
        return
    read = read if read is not None else LedgerRead()
    before = (rep.inserted, rep.corrected, rep.deferred, rep.missing, rep.archived)
    keys = {persistent_key(cid, spec.variant, i): i for i in ids}
    await read.fetch(rpc, [k for k in keys if k not in read.requested])
    latest = read.latest
    by_key = read.entries
    rows = await _load(engine, spec, cid, ids)
    approvals = await _load_approvals(engine, cid, ids) if spec.entity == "withdrawal" else {}

    async def note(eid: int, field: str, chain: Any, message: str, ledger: int) -> None:
        """Record a finding about entity ``eid`` of this kind (no indexed value to show)."""
        finding = Finding(cid, spec.entity, str(eid), field, None, chain, message)
        await record_finding(engine, rep, finding, ledger)

    for key, eid in keys.items():
        rep.checked += 1
        entry = by_key.get(key)
        if entry is None:
            rep.missing += 1
            held = " (the indexed row is kept as it is)" if eid in rows else " (not indexed)"
            await note(
                eid,
                "entry",
                None,
                f"{spec.entity} {eid}: no ledger entry {spec.variant}({eid}) "
                f"(archived and evicted, or never stored){held}",
                latest,
            )
            continue
        modified = entry.last_modified_ledger or 0
        if archived(entry.live_until_ledger, latest):
            rep.archived += 1
            await report_archived(engine, rep, cid, spec.entity, str(eid), entry, latest)
        row = rows.get(eid)
        if row is not None and row["last_ledger"] > modified:
            rep.skipped_newer += 1
            continue
        if not include_unsettled and modified > through:
            rep.deferred += 1
            continue
        try:
            _, value = read.decoded(entry)
            state = spec.decode(value, eid)
        except (StateError, ValueError) as exc:
            rep.undecodable += 1
            await note(
                eid,
                "entry",
                None,
                f"{spec.entity} {eid}: undecodable entry, not written: {exc}",
                modified,
            )
            continue
        for name, chain in state.clamped.items():
            await note(
                eid,
                name,
                chain,
                f"{spec.entity} {eid} {name} {chain} is beyond what the column holds "
                "(BIGINT, or a time after 9999); stored clamped",
                modified,
            )
        if not correct:
            if row is not None:
                rep.findings.extend(_differences(spec, row, state.row, cid, eid))
            continue
        if row is None:
            if await _insert(engine, spec, cid, state, modified):
                rep.inserted += 1
                rep.state_ledgers[(spec.entity, cid, eid)] = modified
        else:
            if await _update(engine, rep, spec, row, state, modified):
                rep.state_ledgers[(spec.entity, cid, eid)] = modified
            if spec.entity == "withdrawal":
                await _approvals(
                    engine, rep, cid, eid, state.approvals, modified, approvals.get(eid, set())
                )
    after = (rep.inserted, rep.corrected, rep.deferred, rep.missing, rep.archived)
    if after != before:
        inserted, corrected, deferred, missing, archived_ = (
            a - b for a, b in zip(after, before, strict=True)
        )
        log.info(
            "bootstrapped",
            contract=cid,
            entity=spec.entity,
            read=len(ids),
            inserted=inserted,
            corrected=corrected,
            deferred=deferred,
            missing=missing,
            archived=archived_,
        )


async def _load(
    engine: AsyncEngine, spec: EntitySpec, cid: str, ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    async with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            chunk = list(ids[i : i + 5000])
            for r in await conn.execute(
                select(spec.table).where(
                    spec.table.c.contract_id == cid, spec.table.c[spec.id_col].in_(chunk)
                )
            ):
                d = store._plain(r)
                out[int(d[spec.id_col])] = d
    return out


async def _load_approvals(engine: AsyncEngine, cid: str, ids: Sequence[int]) -> dict[int, set[str]]:
    """The approving signers of these withdrawals, by id (one query per 5,000 ids)."""
    out: dict[int, set[str]] = {}
    t = withdrawal_approvals
    async with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            chunk = list(ids[i : i + 5000])
            for wid, signer in await conn.execute(
                select(t.c.withdrawal_id, t.c.signer).where(
                    t.c.contract_id == cid, t.c.withdrawal_id.in_(chunk)
                )
            ):
                out.setdefault(int(wid), set()).add(str(signer))
    return out


async def _insert(
    engine: AsyncEngine, spec: EntitySpec, cid: str, state: EntityState, modified: int
) -> bool:
    """Insert a row that was not indexed; False when one appeared meanwhile."""
    created = state_rows.created_at(spec.entity, state.row) or UNKNOWN_TIME
    values = {
        **state.row,
        "contract_id": cid,
        "created_ledger": UNKNOWN_LEDGER,
        "created_tx_hash": "",
        "created_at": created,
        "last_ledger": modified,
        "state_ledger": modified,
        "origin": Origin.LEDGER_STATE.value,
    }
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(spec.table)
            .values(**store.storable(values))
            .on_conflict_do_nothing(index_elements=["contract_id", spec.id_col])
        )
        if result.rowcount != 1:
            return False
        if spec.entity == "withdrawal":
            proposer = state.row["proposer"]
            rows = [
                {
                    "contract_id": cid,
                    "withdrawal_id": state.row["withdrawal_id"],
                    "signer": signer,
                    "ledger": UNKNOWN_LEDGER,
                    "tx_hash": "",
                    # create_withdrawal records the proposer's approval at creation.
                    "approved_at": created if signer == proposer else UNKNOWN_TIME,
                }
                for signer in dict.fromkeys(state.approvals)
            ]
            if rows:
                await conn.execute(
                    insert(withdrawal_approvals).values(rows).on_conflict_do_nothing()
                )
    return True


def _differences(
    spec: EntitySpec, row: dict[str, Any], chain_row: dict[str, Any], cid: str, eid: int
) -> list[Finding]:
    out = []
    for column in spec.compare:
        chain = chain_row[column]
        if row[column] == chain:
            continue
        why = ""
        if spec.entity == "proposal" and column == "status" and chain == "rejected":
            why = " (finalize emitted no event: quorum not met or grace period passed)"
        out.append(
            Finding(
                cid,
                spec.entity,
                str(eid),
                column,
                row[column],
                chain,
                f"{spec.entity} {eid} {column}: indexed {row[column]}, chain {chain}{why}",
            )
        )
    return out


async def _update(
    engine: AsyncEngine,
    rep: BootstrapReport,
    spec: EntitySpec,
    row: dict[str, Any],
    state: EntityState,
    modified: int,
) -> bool:
    """Correct an existing row's differing columns; False when nothing was written."""
    cid, eid = row["contract_id"], int(row[spec.id_col])
    found = _differences(spec, row, state.row, cid, eid)
    if not found:
        return False
    rep.findings.extend(found)
    changes = {f.field: state.row[f.field] for f in found}
    if spec.entity == "stream" and changes.get("status") == StreamStatus.CANCELLED:
        changes["refunded_amount"] = state.row["refunded_amount"]
    table = spec.table
    async with engine.begin() as conn:
        result = await conn.execute(
            update(table)
            .where(
                table.c.contract_id == cid,
                table.c[spec.id_col] == eid,
                table.c.last_ledger == row["last_ledger"],
            )
            .values(
                **store.storable(changes),
                last_ledger=max(int(row["last_ledger"]), modified),
                state_ledger=modified,
                updated_at=func.now(),
            )
        )
        ok = result.rowcount == 1
        await store.add_discrepancies(
            conn,
            [
                discrepancy_row(
                    RECONCILE,
                    f,
                    modified,
                    ok,
                    "; corrected from the chain" if ok else "; row changed meanwhile",
                )
                for f in found
            ],
        )
    for f in found:
        DISCREPANCIES.labels(RECONCILE, f.entity).inc()
    if ok:
        rep.corrected += len(found)
    return ok


async def _approvals(
    engine: AsyncEngine,
    rep: BootstrapReport,
    cid: str,
    wid: int,
    chain_signers: list[str],
    modified: int,
    have: set[str],
) -> None:
    """Approvals that differ from the chain are recorded, not added: each has an event.

    ``have``: the signers our table holds (read for all withdrawals at once).
    """
    want = set(chain_signers)
    if have == want:
        return
    await record_finding(
        engine,
        rep,
        Finding(
            cid,
            "withdrawal",
            str(wid),
            "approvals",
            ",".join(sorted(have)),
            ",".join(sorted(want)),
            f"withdrawal {wid} approvals differ from the chain "
            "(approvals are not added without an event; recorded, not corrected)",
        ),
        modified,
        source=RECONCILE,
    )


async def _contract_row(engine: AsyncEngine, contract: str | ContractInfo) -> dict[str, Any] | None:
    cid = contract if isinstance(contract, str) else contract.contract_id
    async with engine.connect() as conn:
        row = (await conn.execute(select(contracts).where(contracts.c.contract_id == cid))).first()
    return store._plain(row) if row is not None else None


__all__ = [
    "ENTITIES",
    "BootstrapReport",
    "EntitySpec",
    "Finding",
    "LedgerRead",
    "bootstrap_contract",
    "bootstrap_entities",
    "bootstrap_new_contracts",
    "indexed_through",
    "read_ahead",
]
