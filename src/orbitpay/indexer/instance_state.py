"""Contract-level state from instance storage: admin, parameters, governance members.

The instance entry holds a contract's unit ``DataKey`` values: ``Admin``;
treasury ``Signers`` and ``Threshold``; governance ``QuorumPercentage``,
``VotingDuration``, ``GracePeriod``, ``TotalWeight`` and ``Members``. A
member's weight is its own persistent entry ``VotingWeight(address)``, absent
while the weight is the default 1 (as the contract reads it); so the weights
read are checked against ``TotalWeight``, and a mismatch (an archived and
evicted weight entry reads as 1) is reported rather than trusted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.db.schema import contracts, governance_members
from orbitpay.enums import ContractKind, Origin
from orbitpay.indexer import store
from orbitpay.indexer.findings import (
    RECONCILE,
    BootstrapReport,
    Finding,
    discrepancy_row,
    record_finding,
)
from orbitpay.observability.metrics import DISCREPANCIES
from orbitpay.stellar.ledger import decode_entry, persistent_key
from orbitpay.stellar.rpc import RpcClient

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
            [discrepancy_row(RECONCILE, f, c.get("last_ledger"), correct, "") for f in findings],
        )
    for f in findings:
        DISCREPANCIES.labels(RECONCILE, f.entity).inc()


async def members(
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
        await record_finding(
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
                discrepancy_row(
                    RECONCILE, f, ledger, ok, "; corrected from the chain" if ok else ""
                )
                for f in found
            ],
        )
    if ok:
        rep.corrected += len(found)
