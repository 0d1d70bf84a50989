"""Shared pieces of the resource routers: parameters, id resolution, list pages, JSON.

Parameters validate strkeys with ``stellar_sdk.StrKey`` (checksum included)
so a malformed address is a 422 naming the parameter; ``{id}`` paths accept
``0..2**63-1`` (the on-chain ids are ``u32``; larger is a 422, never a 500).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel
from sqlalchemy import ColumnElement, Integer, Select, Table, bindparam, select
from stellar_sdk import StrKey

from orbitpay.api.deps import AppResources, Resources
from orbitpay.api.errors import ApiError, ErrorResponse
from orbitpay.api.pagination import Keyset, PageParams, Pager
from orbitpay.api.rowjson import DIALECT, row_json_sql
from orbitpay.api.schemas import row_encoder
from orbitpay.db.readpool import ReadPool

__all__ = ["AppResources", "Resources"]  # re-exported for the routers

MAX_ID = 2**63 - 1

# Reads answer 401/403 for a bad key (always) or a missing one (ORBITPAY_REQUIRE_API_KEY).
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "the API key lacks the scope"},
}
STRKEY_PATTERN = r"^[GC][A-Z2-7]{55}$"
CONTRACT_PATTERN = r"^C[A-Z2-7]{55}$"


# Checksums are pure functions of the string and cost 20-40 us each in stellar_sdk: list
# requests repeat a small set of addresses, so remember the answers (bounded).
@lru_cache(maxsize=16384)
def _valid_account(value: str) -> bool:
    try:
        return bool(StrKey.is_valid_ed25519_public_key(value))
    except Exception:
        return False


@lru_cache(maxsize=16384)
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


async def request_time() -> int:
    """The clock of time-dependent figures (unix seconds); tests override this dependency."""
    return int(time.time())


Now = Annotated[int, Depends(request_time)]


def read_pool(request: Request) -> ReadPool:
    """The app's read pool: every database read of the API goes through it."""
    resources: AppResources = request.app.state.resources
    return resources.reads


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize once with pydantic (the route's ``response_model`` documents the shape)."""
    return Response(
        content=model.model_dump_json(by_alias=True),
        media_type="application/json",
        status_code=status_code,
    )


def json_text(body: str) -> Response:
    """A body that is already JSON text (e.g. a cached response)."""
    return Response(content=body, media_type="application/json")


def wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/csv" in accept.lower()


@dataclass
class ListSpec:
    """One list endpoint: its columns, unique sort key, equality filters and row model.

    Its statements are compiled once per shape (which filters are present, the
    order, first page or not) and run straight on the asyncpg connection with
    positional parameters: no per-request statement building, no compilation,
    no transaction round trips (a page is a single statement).
    """

    endpoint: str
    columns: tuple[Any, ...]
    keyset: Keyset
    filters: Mapping[str, ColumnElement[Any]]
    model: type[BaseModel]

    @cached_property
    def encoder(self) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        return row_encoder(self.model)

    @cached_property
    def row_json(self) -> ColumnElement[str]:
        """Each row as its JSON object, built by PostgreSQL (see :func:`row_json_sql`)."""
        return row_json_sql(self.model, self.columns)

    def statement(
        self, present: tuple[str, ...], order: str, after: bool, as_json: bool = False
    ) -> Select[Any]:
        """The page query; ``as_json`` selects the sort key's columns and the row's JSON text."""
        if as_json:
            query = select(*self.keyset.columns, self.row_json)
        else:
            query = select(*self.columns)
        for name in present:
            column = self.filters[name]
            query = query.where(column == bindparam(name, type_=column.type))
        if after:
            query = query.where(self.keyset.after_params(order))
        return query.order_by(*self.keyset.order_by(order)).limit(bindparam("limit", type_=Integer))


_COMPILED: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}


async def fetch_rows(
    conn: asyncpg.Connection,
    spec: ListSpec,
    values: Mapping[str, Any],
    order: str,
    after: Sequence[Any] | None,
    limit: int,
    as_json: bool = False,
) -> list[Any]:
    """Up to ``limit`` rows of ``spec`` matching ``values``, after the sort key ``after``.

    With ``as_json`` each row is ``(*sort key, json text of the row)``.
    """
    present = tuple(name for name in spec.filters if values.get(name) is not None)
    shape = (spec.endpoint, present, order, after is not None, as_json)
    compiled = _COMPILED.get(shape)
    if compiled is None:
        stmt = spec.statement(present, order, after is not None, as_json)
        done = stmt.compile(dialect=DIALECT)
        compiled = (done.string, tuple(done.positiontup or ()))
        _COMPILED[shape] = compiled
    sql, names = compiled
    params: dict[str, Any] = {**values, "limit": limit}
    if after is not None:
        params.update({f"k{i}": value for i, value in enumerate(after)})
    return list(await conn.fetch(sql, *(params[n] for n in names)))


async def list_response(
    request: Request,
    spec: ListSpec,
    values: Mapping[str, Any],
    paging: PageParams,
    conn: asyncpg.Connection | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """The JSON page ``{"items", "next_cursor"}`` of ``spec`` for ``values`` and ``paging``
    (plus ``extra``'s fields, e.g. a history list's ``history_complete``)."""
    pager = Pager(request, spec.endpoint, values, paging, spec.keyset)
    start = pager.start_key()
    args = (spec, values, paging.order, start, paging.limit + 1, True)
    if conn is None:
        async with read_pool(request).connection() as own:
            rows = await fetch_rows(own, *args)
    else:
        rows = await fetch_rows(conn, *args)
    # The rows arrive as JSON text (api/rowjson.py): the page is joined, not re-encoded.
    more = len(rows) > paging.limit
    cursor = pager.cursor_after_key(rows[paging.limit - 1][:-1]) if more else None
    body = (
        '{"items":['
        + ",".join([r[-1] for r in rows[: paging.limit]])
        + '],"next_cursor":'
        + ("null" if cursor is None else f'"{cursor}"')
        + "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in (extra or {}).items())
        + "}"
    )
    return Response(content=body, media_type="application/json")


def make_pager(
    request: Request,
    endpoint: str,
    filters: Mapping[str, Any],
    params: PageParams,
    keyset: Keyset,
) -> Pager:
    return Pager(request, endpoint, filters, params, keyset)


async def resolve_entity(
    conn: asyncpg.Connection,
    table: Table,
    id_column: str,
    entity_id: int,
    contract: str | None,
    what: str,
) -> asyncpg.Record:
    """The one row of ``table`` with on-chain id ``entity_id``: 404 if none, 409 if ambiguous.

    Without ``contract`` the candidates are found with a skip scan over the
    distinct contract ids (the primary key ``(contract_id, <id>)`` leads with
    the contract), so this stays a handful of index probes at any table size.
    """
    name = table.name
    if contract is not None:
        row = await conn.fetchrow(
            f"SELECT * FROM {name} WHERE contract_id = $1 AND {id_column} = $2",
            contract,
            entity_id,
        )
        if row is None:
            raise ApiError(404, "not_found", f"no {what} {entity_id} in contract {contract}")
        return row
    sql = f"""
        WITH RECURSIVE c(id) AS (
            (SELECT contract_id FROM {name} ORDER BY contract_id LIMIT 1)
            UNION ALL
            SELECT (SELECT t.contract_id FROM {name} t
                    WHERE t.contract_id > c.id ORDER BY t.contract_id LIMIT 1)
            FROM c WHERE c.id IS NOT NULL
        )
        SELECT t.contract_id FROM c JOIN {name} t
            ON t.contract_id = c.id AND t.{id_column} = $1
        ORDER BY t.contract_id LIMIT 51
        """
    candidates: list[str] = [r[0] for r in await conn.fetch(sql, entity_id)]
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
