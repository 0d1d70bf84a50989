"""``/api/organizations``: indexed organizations and their contracts (read side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from orbitpay.api.common import MAX_ID, READ_RESPONSES, json_response, make_pager
from orbitpay.api.deps import Connection
from orbitpay.api.errors import ApiError
from orbitpay.api.pagination import Keyset, Page, Paging
from orbitpay.api.schemas import Organization
from orbitpay.config import CONTRACT_KINDS
from orbitpay.db.schema import contracts, organizations

router = APIRouter(prefix="/api/organizations", tags=["organizations"], responses=READ_RESPONSES)

KEYSET = Keyset(columns=(organizations.c.id,), types=(int,))
COLUMNS = [
    organizations.c.id,
    organizations.c.name,
    organizations.c.admin,
    organizations.c.created_at,
]


async def _with_contracts(conn: AsyncConnection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    owned: dict[int, dict[str, list[str]]] = {i: {k: [] for k in CONTRACT_KINDS} for i in ids}
    if ids:
        found = await conn.execute(
            select(contracts.c.organization_id, contracts.c.kind, contracts.c.contract_id)
            .where(contracts.c.organization_id.in_(ids))
            .order_by(contracts.c.contract_id)
        )
        for org_id, kind, cid in found.all():
            owned[org_id].setdefault(kind, []).append(cid)
    return [{**dict(r), "contracts": owned[r["id"]]} for r in rows]


@router.get(
    "",
    response_model=Page[Organization],
    summary="List organizations",
    description="Organizations with their contracts by kind; `order` sorts by id.",
)
async def list_organizations(request: Request, conn: Connection, paging: Paging) -> Response:
    pager = make_pager(request, "organizations", {}, paging, KEYSET)
    query = select(*COLUMNS)
    where = pager.where()
    if where is not None:
        query = query.where(where)
    query = query.order_by(*pager.order_by()).limit(paging.limit + 1)
    rows = (await conn.execute(query)).mappings().all()
    items = [
        Organization.model_validate(o) for o in await _with_contracts(conn, rows[: paging.limit])
    ]
    return json_response(Page[Organization](items=items, next_cursor=pager.next_cursor(rows)))


@router.get("/{id}", response_model=Organization, summary="One organization")
async def get_organization(
    conn: Connection,
    id: Annotated[int, Path(ge=0, le=MAX_ID, description="The organization id.")],
) -> Response:
    rows = (await conn.execute(select(*COLUMNS).where(organizations.c.id == id))).mappings().all()
    if not rows:
        raise ApiError(404, "not_found", f"no organization {id}")
    return json_response(Organization.model_validate((await _with_contracts(conn, rows))[0]))
