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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orbitpay.db.schema import (
    contracts,
    discrepancies,
    governance_members,
    indexer_cursors,
    proposals,
    streams,
    vesting_schedules,
    withdrawal_approvals,
    withdrawals,
)
from orbitpay.enums import (
    ContractKind,
    DiscrepancySource,
    Origin,
    ProposalStatus,
    ScheduleStatus,
    StreamStatus,
    WithdrawalStatus,
)
from orbitpay.indexer import state_rows, store
from orbitpay.indexer.model import ContractInfo
from orbitpay.indexer.state_rows import EntityState, StateError
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import DISCREPANCIES
from orbitpay.stellar.ledger import archived, decode_entry, instance_key, persistent_key
from orbitpay.stellar.rpc import LedgerEntry, RpcClient

log = get_logger(__name__)

UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""``created_at`` of a bootstrapped row whose storage records no creation time."""
UNKNOWN_LEDGER = 0
"""``created_ledger`` (and an approval's ``ledger``) when the creating transaction is unknown."""

BOOTSTRAP = DiscrepancySource.BOOTSTRAP.value
RECONCILE = DiscrepancySource.RECONCILE.value


@dataclass
class Finding:
    """A difference between a row and the chain (or an entry that could not be used)."""

    contract_id: str
    entity: str
    entity_id: str
    field: str
    indexed: Any
    chain: Any
    message: str


@dataclass
class BootstrapReport:
    """What one bootstrap (or reconciliation) pass read, wrote and found.

    ``checked``: entity entries requested; ``inserted``: rows written that did not
    exist; ``corrected``: fields corrected on existing rows; ``skipped_newer``: our
    row was newer than the entry; ``deferred``: the entry was newer than the indexed
    ledger (see the module docstring); ``final``: rows in a final status, not read
    again; ``missing``: entries absent from the ledger; ``archived``: entries past
    their TTL; ``undecodable``: entries whose value has an unexpected shape.
    ``findings`` are differences between a row and the chain; ``problems`` what
    could not be read as it should (absent, archived, undecodable, clamped).
    ``state_ledgers`` maps ``(entity, contract_id, id)`` of every row written from
    an entry to the entry's ``lastModifiedLedgerSeq``.
    """

    contracts: int = 0
    checked: int = 0
    inserted: int = 0
    corrected: int = 0
    skipped_newer: int = 0
    deferred: int = 0
    final: int = 0
    missing: int = 0
    archived: int = 0
    undecodable: int = 0
    findings: list[Finding] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    state_ledgers: dict[tuple[str, str, int], int] = field(default_factory=dict)


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

# Contract-level settings in instance storage -> the ``contracts.params`` names the projection uses.
PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    ContractKind.TREASURY: (("Signers", "signers"), ("Threshold", "threshold")),
    ContractKind.GOVERNANCE: (
        ("QuorumPercentage", "quorum_percentage"),
        ("VotingDuration", "voting_duration"),
        ("GracePeriod", "grace_period"),
        ("TotalWeight", "total_weight"),
    ),
}


# ── entry points ────────────────────────────────────────────────────────────────


async def bootstrap_contract(
    engine: AsyncEngine,
    rpc: RpcClient,
    contract: str | ContractInfo,
    *,
    start_ledger: int | None = None,
    correct: bool = True,
    report: BootstrapReport | None = None,
) -> BootstrapReport:
    """Read a contract's instance and entity entries; write what is missing or stale.

    Entities the tables already hold in a final status (executed, cancelled,
    completed, revoked, fully claimed, rejected, expired) cannot change on chain
    and are not read again; every other id below the contract's counter is.
    ``start_ledger`` is where indexing starts for a contract never indexed
    (``ORBITPAY_START_LEDGER``); ``correct=False`` only reports.
    """
    rep = report if report is not None else BootstrapReport()
    info = await _contract_row(engine, contract)
    if info is None:
        raise ValueError(f"contract {contract!r} is not registered")
    cid, kind = info["contract_id"], info["kind"]
    rep.contracts += 1
    through = await indexed_through(engine, rpc, cid, start_ledger)
    answer = await rpc.get_ledger_entries([instance_key(cid)])
    inst = answer.entries[0] if answer.entries else None
    if inst is None:
        rep.missing += 1
        await _report(
            engine,
            rep,
            Finding(
                cid,
                "contract",
                cid,
                "instance",
                None,
                None,
                f"{kind} contract {cid}: its instance entry is not on the ledger "
                "(archived and evicted, or never deployed); nothing can be read",
            ),
            answer.latest_ledger,
        )
        return rep
    modified = inst.last_modified_ledger or 0
    if archived(inst.live_until_ledger, answer.latest_ledger):
        rep.archived += 1
        await _report_archived(engine, rep, cid, "contract", cid, inst, answer.latest_ledger)
    try:
        _, storage = decode_entry(inst.xdr)
    except Exception as exc:  # any XDR/shape error: report, never guess
        rep.undecodable += 1
        await _report(
            engine,
            rep,
            Finding(cid, "contract", cid, "instance", None, None, f"undecodable instance: {exc}"),
            modified,
        )
        return rep
    if not isinstance(storage, dict):
        return rep
    if modified <= through:
        await contract_params(engine, rep, info, storage, correct)
    else:
        rep.deferred += 1
    if kind == ContractKind.GOVERNANCE:
        await _members(engine, rpc, rep, cid, storage, modified, through, correct)
    spec = ENTITIES.get(kind)
    if spec is None:
        return rep
    count = storage.get(spec.counter, 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        rep.undecodable += 1
        await _report(
            engine,
            rep,
            Finding(
                cid,
                "contract",
                cid,
                spec.counter,
                None,
                count,
                f"{kind} contract {cid}: {spec.counter} is not a count: {count!r}",
            ),
            modified,
        )
        return rep
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
    ids = [i for i in range(count) if i not in done]
    rep.final += count - len(ids)
    await _entities(engine, rpc, rep, spec, cid, ids, through, False, correct)
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
    correct: bool = True,
    report: BootstrapReport | None = None,
) -> BootstrapReport:
    """Read the entries of the given entities (``kind``: withdrawal, stream, schedule or
    proposal) and write them: for an event that refers to an entity not indexed.

    With ``include_unsettled`` an entry newer than the indexed ledger is written too;
    the caller must then not apply the events up to ``report.state_ledgers[...]`` to
    those rows (their effect is in the entry already).
    """
    rep = report if report is not None else BootstrapReport()
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
    await _entities(engine, rpc, rep, spec, cid, wanted, through, include_unsettled, correct)
    return rep


async def bootstrap_new_contracts(
    engine: AsyncEngine, rpc: RpcClient, *, start_ledger: int | None = None
) -> BootstrapReport:
    """Bootstrap every registered contract that no cursor covers yet: its first start.

    Run before a catch-up: what was last modified before the ledger indexing starts
    from gets its row now, so the events in reach apply on top of it; the rest
    settles during the catch-up and is written by the reconciliation after it.
    A contract whose instance cannot be read is reported, never fatal here.
    """
    rep = BootstrapReport()
    async with engine.connect() as conn:
        registered = [r[0] for r in await conn.execute(select(contracts.c.contract_id))]
        covered = {
            cid
            for r in await conn.execute(select(indexer_cursors.c.contract_ids))
            for cid in r[0] or []
        }
    for cid in sorted(set(registered) - covered):
        await bootstrap_contract(engine, rpc, cid, start_ledger=start_ledger, report=rep)
    return rep


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
) -> None:
    if not ids:
        return
    keys = {persistent_key(cid, spec.variant, i): i for i in ids}
    answer = await rpc.get_ledger_entries(list(keys))
    latest = answer.latest_ledger
    by_key = {e.key: e for e in answer.entries}
    rows = await _load(engine, spec, cid, ids)
    for key, eid in keys.items():
        rep.checked += 1
        entry = by_key.get(key)
        if entry is None:
            rep.missing += 1
            held = " (the indexed row is kept as it is)" if eid in rows else " (not indexed)"
            await _report(
                engine,
                rep,
                Finding(
                    cid,
                    spec.entity,
                    str(eid),
                    "entry",
                    None,
                    None,
                    f"{spec.entity} {eid}: no ledger entry {spec.variant}({eid}) "
                    f"(archived and evicted, or never stored){held}",
                ),
                latest,
            )
            continue
        modified = entry.last_modified_ledger or 0
        if archived(entry.live_until_ledger, latest):
            rep.archived += 1
            await _report_archived(engine, rep, cid, spec.entity, str(eid), entry, latest)
        try:
            _, value = decode_entry(entry.xdr)
            state = spec.decode(value, eid)
        except (StateError, ValueError) as exc:
            rep.undecodable += 1
            await _report(
                engine,
                rep,
                Finding(
                    cid,
                    spec.entity,
                    str(eid),
                    "entry",
                    None,
                    None,
                    f"{spec.entity} {eid}: undecodable entry, not written: {exc}",
                ),
                modified,
            )
            continue
        row = rows.get(eid)
        if row is not None and row["last_ledger"] > modified:
            rep.skipped_newer += 1
            continue
        if not include_unsettled and modified > through:
            rep.deferred += 1
            continue
        for name, chain in state.clamped.items():
            await _report(
                engine,
                rep,
                Finding(
                    cid,
                    spec.entity,
                    str(eid),
                    name,
                    None,
                    chain,
                    f"{spec.entity} {eid} {name} {chain} is beyond what the column holds "
                    "(BIGINT, or a time after 9999); stored clamped",
                ),
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
                await _approvals(engine, rep, cid, eid, state.approvals, modified)
    if rep.inserted or rep.findings:
        log.info(
            "bootstrapped",
            contract=cid,
            entity=spec.entity,
            inserted=rep.inserted,
            deferred=rep.deferred,
            missing=rep.missing,
            archived=rep.archived,
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
                _row(
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
) -> None:
    """Approvals that differ from the chain are recorded, not added: each has an event."""
    async with engine.connect() as conn:
        have = {
            r[0]
            for r in await conn.execute(
                select(withdrawal_approvals.c.signer).where(
                    withdrawal_approvals.c.contract_id == cid,
                    withdrawal_approvals.c.withdrawal_id == wid,
                )
            )
        }
    want = set(chain_signers)
    if have == want:
        return
    await _report(
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


# ── contract parameters and members ──────────────────────────────────────────────


async def contract_params(
    engine: AsyncEngine,
    rep: BootstrapReport,
    c: dict[str, Any],
    storage: dict[Any, Any],
    correct: bool,
) -> None:
    """Admin and ``params`` from instance storage. An unknown (NULL) value is filled in
    silently; a known one that differs is a finding, corrected and recorded."""
    kind = c["kind"]
    params = dict(c.get("params") or {})
    new_params = dict(params)
    findings: list[Finding] = []
    for key, name in PARAMS.get(kind, ()):
        if key not in storage:
            continue
        value = storage[key]
        if isinstance(value, tuple):
            value = list(value)
        if params.get(name) == value:
            continue
        new_params[name] = value
        if params.get(name) is not None:
            findings.append(
                Finding(
                    c["contract_id"],
                    "contract",
                    c["contract_id"],
                    f"params.{name}",
                    params.get(name),
                    value,
                    f"{kind} contract {name}: indexed {params.get(name)}, chain {value}",
                )
            )
    admin = storage.get("Admin")
    new_admin = c.get("admin")
    if isinstance(admin, str) and admin != new_admin:
        if new_admin is not None:
            findings.append(
                Finding(
                    c["contract_id"],
                    "contract",
                    c["contract_id"],
                    "admin",
                    new_admin,
                    admin,
                    f"{kind} contract admin: indexed {new_admin}, chain {admin}",
                )
            )
        new_admin = admin
    if new_params == params and new_admin == c.get("admin"):
        return
    rep.findings.extend(findings)
    # The correction and its record commit together (a crash leaves neither or both).
    async with engine.begin() as conn:
        if correct:
            await conn.execute(
                update(contracts)
                .where(contracts.c.contract_id == c["contract_id"])
                .values(params=store.storable(new_params), admin=new_admin)
            )
            rep.corrected += len(findings)
        await store.add_discrepancies(
            conn,
            [_row(RECONCILE, f, c.get("last_ledger"), correct, "") for f in findings],
        )
    for f in findings:
        DISCREPANCIES.labels(RECONCILE, f.entity).inc()


async def _members(
    engine: AsyncEngine,
    rpc: RpcClient,
    rep: BootstrapReport,
    cid: str,
    storage: dict[Any, Any],
    inst_modified: int,
    through: int,
    correct: bool,
) -> None:
    """``Members`` (instance) and each member's ``VotingWeight(address)`` entry (weight 1
    when absent, as the contract reads it) -> ``governance_members``."""
    members = storage.get("Members")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        return
    keys = {persistent_key(cid, "VotingWeight", m): m for m in members}
    answer = await rpc.get_ledger_entries(list(keys)) if keys else None
    weights: dict[str, tuple[int, int]] = {}  # member -> (weight, ledger of that state)
    for e in answer.entries if answer else []:
        member = keys.get(e.key)
        if member is None:
            continue
        try:
            _, w = decode_entry(e.xdr)
        except Exception:
            continue
        if isinstance(w, int) and not isinstance(w, bool):
            weights[member] = (w, max(inst_modified, e.last_modified_ledger or 0))
    chain = {m: weights.get(m, (1, inst_modified)) for m in members}
    total = storage.get("TotalWeight")
    if isinstance(total, int) and total != sum(w for w, _ in chain.values()):
        await _report(
            engine,
            rep,
            Finding(
                cid,
                "member",
                cid,
                "total_weight",
                sum(w for w, _ in chain.values()),
                total,
                f"governance {cid}: members' weights add up to "
                f"{sum(w for w, _ in chain.values())}, TotalWeight is {total} "
                "(a VotingWeight entry archived and evicted?)",
            ),
            inst_modified,
        )
    async with engine.connect() as conn:
        rows = {
            r.member: store._plain(r)
            for r in await conn.execute(
                select(governance_members).where(governance_members.c.contract_id == cid)
            )
        }
    inserts: list[dict[str, Any]] = []
    for member, (weight, ledger) in chain.items():
        row = rows.get(member)
        if row is not None and row["last_ledger"] > ledger:
            rep.skipped_newer += 1
            continue
        if ledger > through:
            rep.deferred += 1
            continue
        if row is None:
            inserts.append(
                {
                    "contract_id": cid,
                    "member": member,
                    "weight": weight,
                    "active": True,
                    "last_ledger": ledger,
                    "state_ledger": ledger,
                    "origin": Origin.LEDGER_STATE.value,
                }
            )
        elif row["weight"] != weight or not row["active"]:
            await _correct_member(
                engine, rep, row, {"weight": weight, "active": True}, ledger, correct
            )
    if inst_modified <= through:
        for member, row in rows.items():
            if row["active"] and member not in chain and row["last_ledger"] <= inst_modified:
                await _correct_member(engine, rep, row, {"active": False}, inst_modified, correct)
    if inserts and correct:
        async with engine.begin() as conn:
            result = await conn.execute(
                insert(governance_members)
                .values(inserts)
                .on_conflict_do_nothing(index_elements=["contract_id", "member"])
            )
        rep.inserted += max(0, result.rowcount)


async def _correct_member(
    engine: AsyncEngine,
    rep: BootstrapReport,
    row: dict[str, Any],
    chain: dict[str, Any],
    ledger: int,
    correct: bool,
) -> None:
    found = [
        Finding(
            row["contract_id"],
            "member",
            row["member"],
            name,
            row[name],
            value,
            f"governance member {row['member']} {name}: indexed {row[name]}, chain {value}",
        )
        for name, value in chain.items()
        if row[name] != value
    ]
    rep.findings.extend(found)
    async with engine.begin() as conn:
        ok = False
        if correct:
            result = await conn.execute(
                update(governance_members)
                .where(
                    governance_members.c.contract_id == row["contract_id"],
                    governance_members.c.member == row["member"],
                    governance_members.c.last_ledger == row["last_ledger"],
                )
                .values(
                    **chain,
                    last_ledger=max(ledger, int(row["last_ledger"])),
                    state_ledger=ledger,
                    updated_at=func.now(),
                )
            )
            ok = result.rowcount == 1
        await store.add_discrepancies(
            conn,
            [
                _row(RECONCILE, f, ledger, ok, "; corrected from the chain" if ok else "")
                for f in found
            ],
        )
    if ok:
        rep.corrected += len(found)


# ── reporting ─────────────────────────────────────────────────────────────────────


def _row(
    source: str, f: Finding, ledger: int | None, corrected: bool, suffix: str
) -> dict[str, Any]:
    return {
        "source": source,
        "contract_id": f.contract_id,
        "entity": f.entity,
        "entity_id": f.entity_id,
        "field": f.field,
        "indexed_value": None if f.indexed is None else str(f.indexed),
        "chain_value": None if f.chain is None else str(f.chain),
        "ledger": ledger,
        "message": f.message + suffix,
        "details": None,
        "corrected": corrected,
    }


async def _report(
    engine: AsyncEngine,
    rep: BootstrapReport,
    f: Finding,
    ledger: int | None,
    *,
    source: str = BOOTSTRAP,
) -> None:
    """Record ``f`` once: a later pass finding the same thing adds no row (but logs).

    A ``reconcile`` record is a difference (``findings``), any other a problem."""
    (rep.findings if source == RECONCILE else rep.problems).append(f)
    row = _row(source, f, ledger, False, "")
    async with engine.begin() as conn:
        seen = await _seen(conn, row)
        if not seen:
            await store.add_discrepancies(conn, [row])
    # Periodic passes meet the same archived entry again and again: warn once.
    (log.debug if seen else log.warning)(
        "bootstrap_finding", entity=f.entity, entity_id=f.entity_id, message=f.message
    )
    if not seen:
        DISCREPANCIES.labels(source, f.entity).inc()


async def _seen(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    d = discrepancies.c
    found = await conn.scalar(
        select(func.count())
        .select_from(discrepancies)
        .where(
            d.source == row["source"],
            d.contract_id == row["contract_id"],
            d.entity == row["entity"],
            d.entity_id == row["entity_id"],
            d.field == row["field"],
            d.chain_value.is_not_distinct_from(row["chain_value"]),
        )
    )
    return bool(found)


async def _report_archived(
    engine: AsyncEngine,
    rep: BootstrapReport,
    cid: str,
    entity: str,
    eid: str,
    entry: LedgerEntry,
    latest: int,
) -> None:
    await _report(
        engine,
        rep,
        Finding(
            cid,
            entity,
            eid,
            "live_until_ledger",
            None,
            entry.live_until_ledger,
            f"{entity} {eid}: ledger entry archived (live until ledger "
            f"{entry.live_until_ledger}, latest {latest}); its stored state is used as it is, "
            "and the contract must restore it before it can change",
        ),
        latest,
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
    "bootstrap_contract",
    "bootstrap_entities",
    "bootstrap_new_contracts",
    "contract_params",
    "indexed_through",
]
