"""Shared by the indexer end-to-end tests: fill a database from a devnet, compare with its dump.

(Named ``test_*`` so it sits beside the tests it serves; it defines no tests.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.db.schema import (
    contracts,
    governance_members,
    organizations,
    proposals,
    stream_claims,
    streams,
    treasury_events,
    vesting_claims,
    vesting_schedules,
    votes,
    withdrawal_approvals,
    withdrawals,
)
from orbitpay.orgs import register_organization

TABLES = (
    "organizations",
    "contracts",
    "events",
    "treasury_events",
    "withdrawals",
    "withdrawal_approvals",
    "streams",
    "stream_claims",
    "vesting_schedules",
    "vesting_claims",
    "proposals",
    "votes",
    "governance_members",
)


async def register_devnet_orgs(engine: AsyncEngine, chain: Any) -> None:
    for org in chain.organizations():
        async with engine.begin() as conn:
            await register_organization(conn, org["name"], org["contracts"])


def _s(v: Any) -> str | None:
    return None if v is None else str(int(v))


def _ts(v: Any) -> int | None:
    return None if v is None else int(v.timestamp())


async def indexed_state(engine: AsyncEngine) -> dict[str, Any]:
    """The tables in the shape of the devnet's state dump (for one comparison)."""
    async with engine.connect() as conn:

        async def rows(table: Any, *order: Any) -> list[Any]:
            return list((await conn.execute(select(table).order_by(*order))).all())

        orgs = await rows(organizations, organizations.c.name)
        cons = await rows(contracts, contracts.c.contract_id)
        approvals: dict[tuple[str, int], set[str]] = {}
        for a in await rows(withdrawal_approvals, withdrawal_approvals.c.signer):
            approvals.setdefault((a.contract_id, a.withdrawal_id), set()).add(a.signer)
        vote_count: dict[tuple[str, int], int] = {}
        for v in await rows(votes, votes.c.event_id):
            vote_count[(v.contract_id, v.proposal_id)] = (
                vote_count.get((v.contract_id, v.proposal_id), 0) + 1
            )
        out: dict[str, Any] = {
            "organizations": {o.name: {"admin": o.admin} for o in orgs},
            "contracts": {
                c.contract_id: {"kind": c.kind, "admin": c.admin, "params": c.params} for c in cons
            },
            "withdrawals": {
                (w.contract_id, w.withdrawal_id): {
                    "proposer": w.proposer,
                    "token": w.token,
                    "recipient": w.recipient,
                    "amount": _s(w.amount),
                    "memo": w.memo,
                    "approvals": sorted(approvals.get((w.contract_id, w.withdrawal_id), set())),
                    "status": w.status,
                    "created_at": _ts(w.created_at),
                }
                for w in await rows(
                    withdrawals, withdrawals.c.contract_id, withdrawals.c.withdrawal_id
                )
            },
            "treasury_history": {
                t.event_id: {
                    "contract_id": t.contract_id,
                    "type": t.type,
                    "address": t.address,
                    "amount": _s(t.amount),
                    "token": t.token,
                    "withdrawal_id": t.withdrawal_id,
                    "ledger": t.ledger,
                    "tx_hash": t.tx_hash,
                    "timestamp": _ts(t.timestamp),
                }
                for t in await rows(treasury_events, treasury_events.c.event_id)
            },
            "streams": {
                (s.contract_id, s.stream_id): {
                    "sender": s.sender,
                    "recipient": s.recipient,
                    "token": s.token,
                    "total_amount": _s(s.total_amount),
                    "claimed_amount": _s(s.claimed_amount),
                    "start_time": s.start_time,
                    "end_time": s.end_time,
                    "last_claim_time": s.last_claim_time,
                    "status": s.status,
                    "rate_per_second": _s(s.rate_per_second),
                }
                for s in await rows(streams, streams.c.contract_id, streams.c.stream_id)
            },
            "stream_payouts": {
                c.event_id: {
                    "contract_id": c.contract_id,
                    "stream_id": c.stream_id,
                    "kind": c.kind,
                    "amount": _s(c.amount),
                    "ledger": c.ledger,
                    "tx_hash": c.tx_hash,
                    "timestamp": _ts(c.claimed_at),
                }
                for c in await rows(stream_claims, stream_claims.c.event_id)
            },
            "schedules": {
                (s.contract_id, s.schedule_id): {
                    "grantor": s.grantor,
                    "beneficiary": s.beneficiary,
                    "token": s.token,
                    "total_amount": _s(s.total_amount),
                    "claimed_amount": _s(s.claimed_amount),
                    "start_time": s.start_time,
                    "cliff_duration": s.cliff_duration,
                    "cliff_amount": _s(s.cliff_amount),
                    "total_duration": s.total_duration,
                    "cliff_time": s.cliff_time,
                    "end_time": s.end_time,
                    "label": s.label,
                    "status": s.status,
                    "revocable": s.revocable,
                    "revoked_at": _ts(s.revoked_at),
                }
                for s in await rows(
                    vesting_schedules,
                    vesting_schedules.c.contract_id,
                    vesting_schedules.c.schedule_id,
                )
            },
            "vesting_claims": {
                c.event_id: {
                    "contract_id": c.contract_id,
                    "schedule_id": c.schedule_id,
                    "beneficiary": c.beneficiary,
                    "amount": _s(c.amount),
                    "ledger": c.ledger,
                    "tx_hash": c.tx_hash,
                    "timestamp": _ts(c.claimed_at),
                }
                for c in await rows(vesting_claims, vesting_claims.c.event_id)
            },
            "proposals": {
                (p.contract_id, p.proposal_id): {
                    "proposer": p.proposer,
                    "title": p.title,
                    "token": p.token,
                    "amount": _s(p.amount),
                    "recipient": p.recipient,
                    "yes_votes": _s(p.yes_votes),
                    "no_votes": _s(p.no_votes),
                    "abstain_votes": _s(p.abstain_votes),
                    "status": p.status,
                    "start_time": p.start_time,
                    "end_time": p.end_time,
                    "vote_count": vote_count.get((p.contract_id, p.proposal_id), 0),
                }
                for p in await rows(proposals, proposals.c.contract_id, proposals.c.proposal_id)
            },
            "votes": {
                v.event_id: {
                    "contract_id": v.contract_id,
                    "proposal_id": v.proposal_id,
                    "voter": v.voter,
                    "choice": v.choice,
                    "weight": _s(v.weight),
                    "ledger": v.ledger,
                    "tx_hash": v.tx_hash,
                    "timestamp": _ts(v.voted_at),
                }
                for v in await rows(votes, votes.c.event_id)
            },
            "members": {
                (m.contract_id, m.member): _s(m.weight)
                for m in await rows(governance_members, governance_members.c.member)
                if m.active
            },
        }
    return out


def expected_state(dump: dict[str, Any]) -> dict[str, Any]:
    """The devnet's dump reshaped like :func:`indexed_state`."""
    out: dict[str, Any] = {
        "organizations": {},
        "contracts": {},
        "withdrawals": {},
        "treasury_history": {},
        "streams": {},
        "stream_payouts": {},
        "schedules": {},
        "vesting_claims": {},
        "proposals": {},
        "votes": {},
        "members": {},
    }
    for org in dump["organizations"]:
        out["organizations"][org["name"]] = {"admin": org["admin"]}
        if "treasury" in org:
            t = org["treasury"]
            cid = t["contract_id"]
            out["contracts"][cid] = {
                "kind": "treasury",
                "admin": t["admin"],
                "signers": t["signers"],
                "threshold": t["threshold"],
            }
            for w in t["withdrawals"]:
                out["withdrawals"][(cid, w["id"])] = {
                    "proposer": w["proposer"],
                    "token": w["token"],
                    "recipient": w["recipient"],
                    "amount": w["amount"],
                    "memo": w["memo"],
                    "approvals": sorted(w["approvals"]),
                    "status": w["status"],
                    "created_at": w["created_at"],
                }
            for h in t["history"]:
                out["treasury_history"][h["event_id"]] = {
                    "contract_id": cid,
                    "type": h["type"],
                    "address": h["address"],
                    "amount": h["amount"],
                    "token": h["token"],
                    "withdrawal_id": h["withdrawal_id"],
                    "ledger": h["ledger"],
                    "tx_hash": h["tx_hash"],
                    "timestamp": h["timestamp"],
                }
        if "payroll" in org:
            p = org["payroll"]
            cid = p["contract_id"]
            out["contracts"][cid] = {"kind": "payroll", "admin": p["admin"]}
            for s in p["streams"]:
                out["streams"][(cid, s["id"])] = {
                    k: s[k]
                    for k in (
                        "sender",
                        "recipient",
                        "token",
                        "total_amount",
                        "claimed_amount",
                        "start_time",
                        "end_time",
                        "last_claim_time",
                        "status",
                        "rate_per_second",
                    )
                }
            for c in p["claims"]:
                out["stream_payouts"][c["event_id"]] = {
                    "contract_id": cid,
                    "stream_id": c["stream_id"],
                    "kind": "claim",
                    "amount": c["amount"],
                    "ledger": c["ledger"],
                    "tx_hash": c["tx_hash"],
                    "timestamp": c["timestamp"],
                }
            for c in p["cancellations"]:
                if int(c["paid_to_recipient"]) > 0:
                    out["stream_payouts"][c["event_id"]] = {
                        "contract_id": cid,
                        "stream_id": c["stream_id"],
                        "kind": "cancel",
                        "amount": c["paid_to_recipient"],
                        "ledger": c["ledger"],
                        "tx_hash": c["tx_hash"],
                        "timestamp": c["timestamp"],
                    }
        if "vesting" in org:
            v = org["vesting"]
            cid = v["contract_id"]
            out["contracts"][cid] = {"kind": "vesting", "admin": v["admin"]}
            for s in v["schedules"]:
                out["schedules"][(cid, s["id"])] = {
                    k: s[k]
                    for k in (
                        "grantor",
                        "beneficiary",
                        "token",
                        "total_amount",
                        "claimed_amount",
                        "start_time",
                        "cliff_duration",
                        "cliff_amount",
                        "total_duration",
                        "cliff_time",
                        "end_time",
                        "label",
                        "status",
                        "revocable",
                        "revoked_at",
                    )
                }
            for c in v["claims"]:
                out["vesting_claims"][c["event_id"]] = {
                    "contract_id": cid,
                    "schedule_id": c["schedule_id"],
                    "beneficiary": c["beneficiary"],
                    "amount": c["amount"],
                    "ledger": c["ledger"],
                    "tx_hash": c["tx_hash"],
                    "timestamp": c["timestamp"],
                }
        if "governance" in org:
            g = org["governance"]
            cid = g["contract_id"]
            out["contracts"][cid] = {
                "kind": "governance",
                "admin": g["admin"],
                "quorum_percentage": g["params"]["quorum"],
                "voting_duration": g["params"]["voting_duration"],
                "grace_period": g["params"]["grace_period"],
                "total_weight": g["params"]["total_weight"],
            }
            for m in g["members"]:
                out["members"][(cid, m["address"])] = m["weight"]
            for p in g["proposals"]:
                out["proposals"][(cid, p["id"])] = {
                    k: p[k]
                    for k in (
                        "proposer",
                        "title",
                        "token",
                        "amount",
                        "recipient",
                        "yes_votes",
                        "no_votes",
                        "abstain_votes",
                        "status",
                        "start_time",
                        "end_time",
                        "vote_count",
                    )
                }
            for vote in g["votes"]:
                out["votes"][vote["event_id"]] = {
                    "contract_id": cid,
                    "proposal_id": vote["proposal_id"],
                    "voter": vote["voter"],
                    "choice": vote["choice"],
                    "weight": vote["weight"],
                    "ledger": vote["ledger"],
                    "tx_hash": vote["tx_hash"],
                    "timestamp": vote["timestamp"],
                }
    return out


def comparable(indexed: dict[str, Any]) -> dict[str, Any]:
    """Reduce the indexed contract rows to what the dump knows (admin and parameters)."""
    out = dict(indexed)
    cons = {}
    for cid, c in indexed["contracts"].items():
        entry: dict[str, Any] = {"kind": c["kind"], "admin": c["admin"]}
        params = c["params"] or {}
        if c["kind"] == "treasury":
            entry["signers"] = params.get("signers")
            entry["threshold"] = params.get("threshold")
        if c["kind"] == "governance":
            for k in ("quorum_percentage", "voting_duration", "grace_period"):
                entry[k] = params.get(k)
            tw = params.get("total_weight")
            entry["total_weight"] = None if tw is None else str(tw)
        cons[cid] = entry
    out["contracts"] = cons
    return out


def diff(expected: dict[str, Any], actual: dict[str, Any], limit: int = 20) -> list[str]:
    """Human-readable differences (empty when equal)."""
    problems: list[str] = []
    for section in expected:
        e, a = expected[section], actual.get(section, {})
        for key in sorted(set(e) | set(a), key=str):
            if key not in a:
                problems.append(f"{section}[{key}]: missing from the tables: {e[key]}")
            elif key not in e:
                problems.append(f"{section}[{key}]: not on the chain: {a[key]}")
            elif e[key] != a[key]:
                problems.append(f"{section}[{key}]: chain {e[key]} != indexed {a[key]}")
            if len(problems) >= limit:
                return problems
    return problems


async def table_snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every indexed table's rows (volatile timestamps excluded) for equality checks."""
    volatile = {"indexed_at", "updated_at", "detected_at", "created_at"}
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for name in TABLES:
            cols = [
                r[0]
                for r in await conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = :t ORDER BY ordinal_position"
                    ),
                    {"t": name},
                )
                if r[0] not in volatile
            ]
            quoted = ", ".join(f'"{c}"' for c in cols)
            rows = await conn.execute(text(f'SELECT {quoted} FROM "{name}" ORDER BY {quoted}'))
            out[name] = [tuple(r) for r in rows]
        rows = await conn.execute(
            text(
                "SELECT source, contract_id, entity, entity_id, field, indexed_value, chain_value, "
                "message FROM discrepancies ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
            )
        )
        out["discrepancies"] = [tuple(r) for r in rows]
    return out
