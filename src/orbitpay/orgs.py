"""Organizations and their contracts: the set of contracts the indexer follows.

Shared by ``orbitpay org``, ``POST /api/organizations`` and start-up (which
registers the organization named by ``ORBITPAY_ORG_NAME``). Re-registering is
idempotent; moving a contract to another organization is refused, since its
history would silently change owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orbitpay.config import is_contract_id
from orbitpay.db.schema import contracts, organizations
from orbitpay.enums import ContractKind

# Membership by value: ``"treasury" in ContractKind`` raises on Python 3.11.
_KINDS = frozenset(kind.value for kind in ContractKind)


class OrganizationError(ValueError):
    """Refused registration; the message says why."""


@dataclass(frozen=True)
class ContractRef:
    contract_id: str
    kind: str
    organization_id: int


async def register_organization(
    conn: AsyncConnection,
    name: str,
    contract_ids: Mapping[str, str | Sequence[str]],
    admin: str | None = None,
) -> int:
    """Create or extend organization ``name`` with ``{kind: contract id or ids}``; return
    its id. (Several per kind: the API takes the organization's shape, lists by kind.)"""
    pairs = [
        (kind, cid)
        for kind, ids in contract_ids.items()
        for cid in ([ids] if isinstance(ids, str) else ids)
    ]
    for kind, cid in pairs:
        if kind not in _KINDS:
            raise OrganizationError(f"unknown contract kind {kind!r}")
        if not is_contract_id(cid):
            raise OrganizationError(f"{kind}: {cid!r} is not a valid C... contract strkey")
    new = insert(organizations).values(name=name, admin=admin)
    upsert = new.on_conflict_do_update(
        index_elements=[organizations.c.name], set_={"name": new.excluded.name}
    ).returning(organizations.c.id)
    org_id = int((await conn.execute(upsert)).scalar_one())
    for kind, cid in pairs:
        existing = (
            await conn.execute(
                select(contracts.c.organization_id, contracts.c.kind).where(
                    contracts.c.contract_id == cid
                )
            )
        ).first()
        if existing is not None:
            if existing.organization_id != org_id or existing.kind != kind:
                raise OrganizationError(
                    f"contract {cid} is already registered as {existing.kind} "
                    f"of organization {existing.organization_id}"
                )
            continue
        await conn.execute(
            insert(contracts).values(contract_id=cid, kind=kind, organization_id=org_id)
        )
    return org_id


async def list_organizations(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every organization with its contracts by kind, oldest first."""
    orgs = (await conn.execute(select(organizations).order_by(organizations.c.id))).all()
    rows = (await conn.execute(select(contracts).order_by(contracts.c.contract_id))).all()
    by_org: dict[int, dict[str, list[str]]] = {}
    for row in rows:
        by_org.setdefault(row.organization_id, {}).setdefault(row.kind, []).append(row.contract_id)
    result = []
    for org in orgs:
        owned = by_org.get(org.id, {})
        result.append(
            {
                "id": org.id,
                "name": org.name,
                "admin": org.admin,
                "created_at": org.created_at,
                "contracts": {kind.value: owned.get(kind, []) for kind in ContractKind},
            }
        )
    return result


async def all_contracts(conn: AsyncConnection) -> list[ContractRef]:
    """Every registered contract: what the indexer polls."""
    rows = (await conn.execute(select(contracts).order_by(contracts.c.contract_id))).all()
    return [ContractRef(r.contract_id, r.kind, r.organization_id) for r in rows]
