"""Reconciliation: compare open entities with contract storage and correct them.

Some changes have no event (a ``finalize`` that rejects for quorum or grace
period; a withdrawal reaching its threshold), so the indexer reads the
entities that may have changed silently straight from ledger state with
``getLedgerEntries``: active proposals, pending and approved withdrawals,
active streams and schedules, and each contract's instance storage (admin,
signers, threshold, governance parameters).

Only entries whose ``lastModifiedLedgerSeq`` is at or below the indexed
ledger are compared: a newer entry reflects events not yet indexed, and
correcting from it would double-apply them. Each difference is corrected
(with an optimistic ``WHERE last_ledger = <seen>`` so a concurrent projection
is never overwritten) and recorded as a ``discrepancies`` row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, select, update
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
from orbitpay.indexer import store
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import DISCREPANCIES
from orbitpay.stellar.ledger import decode_entry, instance_key, persistent_key
from orbitpay.stellar.rpc import RpcClient

log = get_logger(__name__)


def _variant(value: Any) -> str | None:
    """``["FullyClaimed"]`` -> ``"fully_claimed"``."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        return None
    out = []
    for i, ch in enumerate(value):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@dataclass
class Finding:
    contract_id: str
    entity: str
    entity_id: str
    field: str
    indexed: Any
    chain: Any
    message: str


@dataclass
class ReconcileReport:
    checked: int = 0
    skipped_newer: int = 0
    missing: int = 0
    findings: list[Finding] = field(default_factory=list)
    corrected: int = 0


# Per entity: table, id column, DataKey variant, which rows are "open", fields to compare.
@dataclass(frozen=True)
class _Spec:
    entity: str
    table: Table
    id_col: str
    variant: str
    open_statuses: tuple[str, ...]
    fields: dict[str, str]  # row column -> stored struct field


SPECS = (
    _Spec(
        "proposal",
        proposals,
        "proposal_id",
        "Proposal",
        ("active", "approved"),
        {
            "status": "status",
            "yes_votes": "yes_votes",
            "no_votes": "no_votes",
            "abstain_votes": "abstain_votes",
            "end_time": "end_time",
        },
    ),
    _Spec(
        "withdrawal",
        withdrawals,
        "withdrawal_id",
        "Withdrawal",
        ("pending", "approved"),
        {"status": "status"},
    ),
    _Spec(
        "stream",
        streams,
        "stream_id",
        "Stream",
        ("active", "paused"),
        {
            "status": "status",
            "claimed_amount": "claimed_amount",
            "last_claim_time": "last_claim_time",
        },
    ),
    _Spec(
        "schedule",
        vesting_schedules,
        "schedule_id",
        "Schedule",
        ("active",),
        {"status": "status", "claimed_amount": "claimed_amount", "total_amount": "total_amount"},
    ),
)


def _chain_value(column: str, raw: Any) -> Any:
    if column == "status":
        return _variant(raw)
    return raw


async def reconcile(
    engine: AsyncEngine, rpc: RpcClient, *, correct: bool = True
) -> ReconcileReport:
    """Compare open entities and contract parameters with the chain; fix and record differences."""
    report = ReconcileReport()
    async with engine.connect() as conn:
        cursors = (await conn.execute(select(indexer_cursors))).all()
        contract_rows = [store._plain(r) for r in await conn.execute(select(contracts))]
    indexed_to: dict[str, int] = {}
    for cur in cursors:
        for cid in cur.contract_ids or []:
            indexed_to[cid] = cur.last_ledger
    kinds = {c["contract_id"]: c["kind"] for c in contract_rows}

    # Open entities ----------------------------------------------------------------
    for spec in SPECS:
        async with engine.connect() as conn:
            rows = [
                store._plain(r)
                for r in await conn.execute(
                    select(spec.table).where(spec.table.c.status.in_(spec.open_statuses))
                )
            ]
        if not rows:
            continue
        keys = {
            persistent_key(r["contract_id"], spec.variant, int(r[spec.id_col])): r for r in rows
        }
        answer = await rpc.get_ledger_entries(list(keys))
        by_key = {e.key: e for e in answer.entries}
        for key, row in keys.items():
            report.checked += 1
            entry = by_key.get(key)
            cid, eid = row["contract_id"], row[spec.id_col]
            if entry is None:
                report.missing += 1
                continue
            modified = entry.last_modified_ledger or 0
            if modified > indexed_to.get(cid, 0):
                report.skipped_newer += 1
                continue
            try:
                _, value = decode_entry(entry.xdr)
            except Exception as exc:
                log.warning("reconcile_undecodable", entity=spec.entity, id=eid, error=str(exc))
                continue
            if not isinstance(value, dict):
                continue
            changes: dict[str, Any] = {}
            for column, name in spec.fields.items():
                if name not in value:
                    continue
                chain = _chain_value(column, value[name])
                if chain is None:
                    continue
                if row[column] != chain:
                    changes[column] = chain
                    why = ""
                    if spec.entity == "proposal" and column == "status" and chain == "rejected":
                        why = " (finalize emitted no event: quorum not met or grace period passed)"
                    report.findings.append(
                        Finding(
                            cid,
                            spec.entity,
                            str(eid),
                            column,
                            row[column],
                            chain,
                            f"{spec.entity} {eid} {column}: indexed {row[column]}, "
                            f"chain {chain}{why}",
                        )
                    )
            if spec.entity == "withdrawal" and isinstance(value.get("approvals"), list):
                await _approvals(engine, report, row, value["approvals"], modified, correct)
            if changes and correct:
                # finalized_at stays unknown for a silent finalize: no event carries its time,
                # and the entry's last-modified ledger is kept in last_ledger instead.
                extra: dict[str, Any] = {}
                ok = await _correct(
                    engine,
                    spec,
                    row,
                    {**changes, **extra},
                    max(row["last_ledger"], modified),
                    report,
                )
                if ok:
                    report.corrected += len(changes)

    # Contract parameters ----------------------------------------------------------------
    if contract_rows:
        keys = {instance_key(c["contract_id"]): c for c in contract_rows}
        answer = await rpc.get_ledger_entries(list(keys))
        for entry in answer.entries:
            c = keys.get(entry.key)
            if c is None:
                continue
            if (entry.last_modified_ledger or 0) > indexed_to.get(c["contract_id"], 0):
                report.skipped_newer += 1
                continue
            try:
                _, storage = decode_entry(entry.xdr)
            except Exception:
                continue
            await _contract_params(engine, report, c, kinds[c["contract_id"]], storage, correct)

    for f in report.findings:
        DISCREPANCIES.labels("reconcile", f.entity).inc()
    log.info(
        "reconciled",
        checked=report.checked,
        differences=len(report.findings),
        corrected=report.corrected,
        skipped_newer=report.skipped_newer,
    )
    return report


def _rows(findings: list[Finding], corrected: bool, ledger: int | None) -> list[dict[str, Any]]:
    return [
        {
            "source": "reconcile",
            "contract_id": f.contract_id,
            "entity": f.entity,
            "entity_id": f.entity_id,
            "field": f.field,
            "indexed_value": None if f.indexed is None else str(f.indexed),
            "chain_value": None if f.chain is None else str(f.chain),
            "ledger": ledger,
            "message": f.message,
            "details": None,
            "corrected": corrected,
        }
        for f in findings
    ]


async def _record(
    engine: AsyncEngine, findings: list[Finding], corrected: bool, ledger: int | None
) -> None:
    """Record uncorrected findings once (a later pass finding the same thing adds nothing)."""
    from orbitpay.db.schema import discrepancies

    rows = []
    async with engine.begin() as conn:
        for row in _rows(findings, corrected, ledger):
            seen = await conn.scalar(
                select(func.count())
                .select_from(discrepancies)
                .where(
                    discrepancies.c.source == "reconcile",
                    discrepancies.c.contract_id == row["contract_id"],
                    discrepancies.c.entity == row["entity"],
                    discrepancies.c.entity_id == row["entity_id"],
                    discrepancies.c.field == row["field"],
                    discrepancies.c.chain_value == row["chain_value"],
                )
            )
            if not seen:
                rows.append(row)
        await store.add_discrepancies(conn, rows)


async def _correct(
    engine: AsyncEngine,
    spec: _Spec,
    row: dict[str, Any],
    values: dict[str, Any],
    last_ledger: int,
    report: ReconcileReport,
) -> bool:
    table = spec.table
    mine = [
        f
        for f in report.findings
        if f.entity == spec.entity
        and f.entity_id == str(row[spec.id_col])
        and f.contract_id == row["contract_id"]
    ]
    async with engine.begin() as conn:
        result = await conn.execute(
            update(table)
            .where(
                table.c.contract_id == row["contract_id"],
                table.c[spec.id_col] == row[spec.id_col],
                table.c.last_ledger == row["last_ledger"],
            )
            .values(**store.storable(values), last_ledger=last_ledger, updated_at=func.now())
        )
        ok = result.rowcount == 1
        await store.add_discrepancies(
            conn,
            [
                {
                    "source": "reconcile",
                    "contract_id": f.contract_id,
                    "entity": f.entity,
                    "entity_id": f.entity_id,
                    "field": f.field,
                    "indexed_value": None if f.indexed is None else str(f.indexed),
                    "chain_value": None if f.chain is None else str(f.chain),
                    "ledger": last_ledger,
                    "message": f.message + ("; corrected from the chain" if ok else ""),
                    "details": None,
                    "corrected": ok,
                }
                for f in mine
            ],
        )
    return ok


async def _approvals(
    engine: AsyncEngine,
    report: ReconcileReport,
    row: dict[str, Any],
    chain_signers: list[Any],
    modified: int,
    correct: bool,
) -> None:
    async with engine.connect() as conn:
        have = {
            r[0]
            for r in await conn.execute(
                select(withdrawal_approvals.c.signer).where(
                    withdrawal_approvals.c.contract_id == row["contract_id"],
                    withdrawal_approvals.c.withdrawal_id == row["withdrawal_id"],
                )
            )
        }
    want = {s for s in chain_signers if isinstance(s, str)}
    if have == want:
        return
    f = Finding(
        row["contract_id"],
        "withdrawal",
        str(row["withdrawal_id"]),
        "approvals",
        ",".join(sorted(have)),
        ",".join(sorted(want)),
        f"withdrawal {row['withdrawal_id']} approvals differ from the chain "
        "(approvals are not added without an event; recorded, not corrected)",
    )
    report.findings.append(f)
    await _record(engine, [f], False, modified)


async def _contract_params(
    engine: AsyncEngine,
    report: ReconcileReport,
    c: dict[str, Any],
    kind: str,
    storage: dict[Any, Any],
    correct: bool,
) -> None:
    params = dict(c.get("params") or {})
    chain: dict[str, Any] = {}
    if kind == "treasury":
        if "Signers" in storage:
            chain["signers"] = list(storage["Signers"])
        if "Threshold" in storage:
            chain["threshold"] = storage["Threshold"]
    elif kind == "governance":
        for key, name in (
            ("QuorumPercentage", "quorum_percentage"),
            ("VotingDuration", "voting_duration"),
            ("GracePeriod", "grace_period"),
            ("TotalWeight", "total_weight"),
        ):
            if key in storage:
                chain[name] = storage[key]
    findings: list[Finding] = []
    new_params = dict(params)
    for name, value in chain.items():
        if params.get(name) != value:
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
            new_params[name] = value
    admin = storage.get("Admin")
    new_admin = c.get("admin")
    if isinstance(admin, str) and admin != c.get("admin"):
        findings.append(
            Finding(
                c["contract_id"],
                "contract",
                c["contract_id"],
                "admin",
                c.get("admin"),
                admin,
                f"{kind} contract admin: indexed {c.get('admin')}, chain {admin}",
            )
        )
        new_admin = admin
    if not findings:
        return
    report.findings.extend(findings)
    # The correction and its record commit together (a crash leaves neither or both).
    async with engine.begin() as conn:
        if correct:
            await conn.execute(
                update(contracts)
                .where(contracts.c.contract_id == c["contract_id"])
                .values(params=store.storable(new_params), admin=new_admin)
            )
            report.corrected += len(findings)
        await store.add_discrepancies(conn, _rows(findings, correct, c.get("last_ledger")))
