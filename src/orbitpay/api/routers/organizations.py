"""``/api/organizations``: indexed organizations and their contracts (read side).

The shape read here is the shape written: ``POST /api/organizations``
(``routers.admin``) takes ``name``, ``admin`` and ``contracts`` as returned,
without the server-set ``id`` and ``created_at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Request, Response

from orbitpay.api.common import (
    MAX_ID,
    READ_RESPONSES,
    ListSpec,
    Resources,
    fetch_rows,
    json_response,
    make_pager,
)
from orbitpay.api.csv_export import CSV_RESPONSE, csv_response
from orbitpay.api.errors import ApiError
from orbitpay.api.pagination import Keyset, Page, Paging
from orbitpay.api.queryparams import FormatQuery, csv_requested
from orbitpay.api.schemas import Organization, row_encoder
from orbitpay.config import CONTRACT_KINDS
from orbitpay.db.schema import organizations

router = APIRouter(prefix="/api/organizations", tags=["organizations"], responses=READ_RESPONSES)

KEYSET = Keyset(columns=(organizations.c.id,), types=(int,))
COLUMNS = (
    organizations.c.id,
    organizations.c.name,
    organizations.c.admin,
    organizations.c.created_at,
)
# The page's rows come as columns (the contracts are joined in Python, below).
SPEC = ListSpec(
    endpoint="organizations",
    columns=COLUMNS,
    keyset=KEYSET,
    filters={"id": organizations.c.id},
    model=Organization,
)
CONTRACTS_SQL = """
    SELECT organization_id, kind, contract_id FROM contracts
    WHERE organization_id = ANY($1::bigint[])
    ORDER BY contract_id
"""


async def _with_contracts(
    conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]
) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    owned: dict[int, dict[str, list[str]]] = {i: {k: [] for k in CONTRACT_KINDS} for i in ids}
    if ids:
        for org_id, kind, cid in await conn.fetch(CONTRACTS_SQL, ids):
            owned[org_id].setdefault(kind, []).append(cid)
    return [{**dict(r), "contracts": owned[r["id"]]} for r in rows]


# CSV: one column per contract kind (its contract ids space-separated) instead of the object.
CSV_FIELDS = ("id", "name", "admin", *CONTRACT_KINDS, "created_at")
_ENCODE = row_encoder(Organization)


def _csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = _ENCODE(row)
    contracts = out.pop("contracts")
    return {**out, **{kind: contracts.get(kind, []) for kind in CONTRACT_KINDS}}


@router.get(
    "",
    response_model=Page[Organization],
    responses=CSV_RESPONSE,
    summary="List organizations",
    description="Organizations with their contracts by kind; `order` sorts by id. "
    "`?format=csv` or `Accept: text/csv` streams every organization as CSV, one column per "
    "contract kind (`treasury`, `payroll`, `vesting`, `governance`: contract ids separated "
    "by spaces).",
)
async def list_organizations(
    request: Request, res: Resources, paging: Paging, format: FormatQuery = None
) -> Response:
    if csv_requested(request, format):
        return csv_response(
            request,
            SPEC,
            {},
            paging,
            "organizations",
            encode=_csv_row,
            fields=CSV_FIELDS,
            expand=_with_contracts,
        )
    pager = make_pager(request, "organizations", {}, paging, KEYSET)
    start = pager.start_key()
    async with res.reads.connection() as conn:
        rows = await fetch_rows(conn, SPEC, {}, paging.order, start, paging.limit + 1)
        found = await _with_contracts(conn, rows[: paging.limit])
    items = [Organization.model_validate(o) for o in found]
    return json_response(Page[Organization](items=items, next_cursor=pager.next_cursor(rows)))


@router.get("/{id}", response_model=Organization, summary="One organization")
async def get_organization(
    res: Resources,
    id: Annotated[int, Path(ge=0, le=MAX_ID, description="The organization id.")],
) -> Response:
    async with res.reads.connection() as conn:
        rows = await fetch_rows(conn, SPEC, {"id": id}, "asc", None, 1)
        if not rows:
            raise ApiError(404, "not_found", f"no organization {id}")
        found = await _with_contracts(conn, rows)
    return json_response(Organization.model_validate(found[0]))
