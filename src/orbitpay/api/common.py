"""Shared pieces of the resource routers: parameters, id resolution, list pages, JSON.

Parameters validate strkeys with ``stellar_sdk.StrKey`` (checksum included)
so a malformed address is a 422 naming the parameter; ``{id}`` paths accept
``0..2**63-1`` (the on-chain ids are ``u32``; larger is a 422, never a 500).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel
from sqlalchemy import Select, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection
from stellar_sdk import StrKey

from orbitpay.api.errors import ApiError
from orbitpay.api.pagination import Keyset, Page, PageParams, Pager

M = TypeVar("M", bound=BaseModel)

MAX_ID = 2**63 - 1
STRKEY_PATTERN = r"^[GC][A-Z2-7]{55}$"
CONTRACT_PATTERN = r"^C[A-Z2-7]{55}$"


def _valid_account(value: str) -> bool:
    try:
        return bool(StrKey.is_valid_ed25519_public_key(value))
    except Exception:
        return False


def _valid_contract(value: str) -> bool:
    try:
        return bool(StrKey.is_valid_contract(value))
    except Exception:
        return False


def check_address(value: str | None) -> str | None:
    if value is None:
        return None
    if not (_valid_account(value) or _valid_contract(value)):
        raise ValueError("not a valid G... account or C... contract strkey")
    return value


def check_contract(value: str | None) -> str | None:
    if value is None:
        return None
    if not _valid_contract(value):
        raise ValueError("not a valid C... contract strkey")
    return value


def address_query(description: str) -> Any:
    return Annotated[
        str | None,
        Query(pattern=STRKEY_PATTERN, description=description),
        AfterValidator(check_address),
    ]


ContractQuery = Annotated[
    str | None,
    Query(
        pattern=CONTRACT_PATTERN,
        description="The contract (C... strkey); picks among contracts of the same kind.",
    ),
    AfterValidator(check_contract),
]
ContractPath = Annotated[
    str,
    Path(pattern=CONTRACT_PATTERN, description="The contract id (C... strkey)."),
    AfterValidator(check_contract),
]
OnChainId = Annotated[
    int, Path(ge=0, le=MAX_ID, description="The on-chain id (counts from 0 per contract).")
]


def request_time() -> int:
    """The clock of time-dependent figures (unix seconds); tests override this dependency."""
    return int(time.time())


Now = Annotated[int, Depends(request_time)]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize once with pydantic (the route's ``response_model`` documents the shape)."""
    return Response(
        content=model.model_dump_json(by_alias=True),
        media_type="application/json",
        status_code=status_code,
    )


def wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/csv" in accept.lower()


async def fetch_page(
    conn: AsyncConnection,
    query: Select[Any],
    pager: Pager,
    model: type[M],
    convert: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> Page[M]:
    """Run a keyset page of ``query`` and wrap it as ``{"items", "next_cursor"}``."""
    where = pager.where()
    if where is not None:
        query = query.where(where)
    query = query.order_by(*pager.order_by()).limit(pager.params.limit + 1)
    rows = (await conn.execute(query)).mappings().all()
    next_cursor = pager.next_cursor(rows)
    shown = rows[: pager.params.limit]
    items = [model.model_validate(convert(r) if convert else dict(r)) for r in shown]
    return Page[model](items=items, next_cursor=next_cursor)  # type: ignore[valid-type]


def make_pager(
    request: Request,
    endpoint: str,
    filters: Mapping[str, Any],
    params: PageParams,
    keyset: Keyset,
) -> Pager:
    return Pager(request, endpoint, filters, params, keyset)


async def resolve_entity(
    conn: AsyncConnection,
    table: Table,
    id_column: str,
    entity_id: int,
    contract: str | None,
    what: str,
) -> Mapping[str, Any]:
    """The one row of ``table`` with on-chain id ``entity_id``: 404 if none, 409 if ambiguous.

    Without ``contract`` the candidates are found with a skip scan over the
    distinct contract ids (the primary key ``(contract_id, <id>)`` leads with
    the contract), so this stays a handful of index probes at any table size.
    """
    if contract is not None:
        row = (
            (
                await conn.execute(
                    table.select().where(
                        table.c.contract_id == contract, table.c[id_column] == entity_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise ApiError(404, "not_found", f"no {what} {entity_id} in contract {contract}")
        return row
    sql = text(
        f"""
        WITH RECURSIVE c(id) AS (
            (SELECT contract_id FROM {table.name} ORDER BY contract_id LIMIT 1)
            UNION ALL
            SELECT (SELECT t.contract_id FROM {table.name} t
                    WHERE t.contract_id > c.id ORDER BY t.contract_id LIMIT 1)
            FROM c WHERE c.id IS NOT NULL
        )
        SELECT t.contract_id FROM c JOIN {table.name} t
            ON t.contract_id = c.id AND t.{id_column} = :id
        ORDER BY t.contract_id LIMIT 51
        """
    )
    candidates = [r[0] for r in (await conn.execute(sql, {"id": entity_id})).all()]
    if not candidates:
        raise ApiError(404, "not_found", f"no {what} with id {entity_id}")
    if len(candidates) > 1:
        raise ApiError(
            409,
            "ambiguous_id",
            f"{what} id {entity_id} exists in {len(candidates)} contracts; "
            f"pick one with ?contract=: {', '.join(candidates[:50])}",
            details={"candidates": candidates[:50]},
        )
    return await resolve_entity(conn, table, id_column, entity_id, candidates[0], what)
