"""``/api/streams``: payroll streams, their claims and what is claimable now (BK-5)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request, Response

from orbitpay.api.common import (
    READ_RESPONSES,
    ContractQuery,
    ListSpec,
    Now,
    OnChainId,
    Resources,
    address_query,
    json_response,
    list_response,
    resolve_entity,
)
from orbitpay.api.csv_export import CSV_RESPONSE, csv_response
from orbitpay.api.pagination import Keyset, Page
from orbitpay.api.queryparams import QueryParam, QuerySpec
from orbitpay.api.routers.coverage import history_for
from orbitpay.api.schemas import Stream, StreamClaim, StreamDetail, StreamStatus, unix_time
from orbitpay.cache import TTL_STREAM_CLAIMABLE
from orbitpay.db.schema import streams
from orbitpay.formulas import stream_claimable

router = APIRouter(prefix="/api/streams", tags=["streams"], responses=READ_RESPONSES)

SenderQuery = address_query("The sender (G... or C...).")
RecipientQuery = address_query("The recipient (G... or C...).")

KEYSET = Keyset(
    columns=(streams.c.created_ledger, streams.c.stream_id, streams.c.contract_id),
    types=(int, int, str),
)
COLUMNS = [
    streams.c.stream_id,
    streams.c.contract_id,
    streams.c.sender,
    streams.c.recipient,
    streams.c.token,
    streams.c.total_amount,
    streams.c.claimed_amount,
    streams.c.start_time,
    streams.c.end_time,
    streams.c.status,
    streams.c.created_ledger,
    streams.c.created_tx_hash,
    streams.c.created_at,
]


SPEC = ListSpec(
    endpoint="streams",
    columns=tuple(COLUMNS),
    keyset=KEYSET,
    filters={
        "sender": streams.c.sender,
        "recipient": streams.c.recipient,
        "status": streams.c.status,
        "contract": streams.c.contract_id,
    },
    model=Stream,
)


LIST_QUERY = QuerySpec(
    [
        QueryParam("sender", SenderQuery),
        QueryParam("recipient", RecipientQuery),
        QueryParam("status", Annotated[StreamStatus | None, Query()]),
        QueryParam("contract", ContractQuery),
    ],
    formats=True,
)


@router.get(
    "",
    response_model=Page[Stream],
    responses=CSV_RESPONSE,
    openapi_extra=LIST_QUERY.openapi(),
    summary="List streams",
    description="Streams by sender, recipient, status and contract, newest first by default. "
    "`?format=csv` or `Accept: text/csv` streams every matching row as CSV.",
)
async def list_streams(request: Request) -> Response:
    query = LIST_QUERY.parse_list(request)
    if query.csv:
        return csv_response(request, SPEC, query.values, query.paging, "streams")
    return await list_response(request, SPEC, query.values, query.paging)


CLAIMS_SQL = """
    SELECT amount, ledger, tx_hash, claimed_at, kind
    FROM stream_claims
    WHERE contract_id = $1 AND stream_id = $2
    ORDER BY ledger, event_id
"""


async def _stream_state(
    conn: asyncpg.Connection, stream_id: int, contract: str | None
) -> dict[str, Any]:
    row = await resolve_entity(conn, streams, "stream_id", stream_id, contract, "stream")
    claims = await conn.fetch(CLAIMS_SQL, row["contract_id"], row["stream_id"])
    stream = Stream.model_validate({c.key: row[c.key] for c in COLUMNS})
    return {
        "stream": stream.model_dump(mode="json"),
        "claims": [StreamClaim.model_validate(dict(c)).model_dump(mode="json") for c in claims],
        "terms": [
            int(row["total_amount"]),
            int(row["claimed_amount"]),
            int(row["start_time"]),
            int(row["end_time"]),
        ],
    }


@router.get(
    "/{id}",
    response_model=StreamDetail,
    summary="One stream with its claims and claimable amount",
    description="`claimable_amount` is the payroll contract's formula at request time "
    "(0 once the stream is cancelled or completed, as the contract's `claim` refuses). "
    "The stream's stored state is cached for 30 s.",
)
async def get_stream(
    res: Resources,
    now: Now,
    id: OnChainId,
    contract: ContractQuery = None,
) -> Response:
    async def compute() -> dict[str, Any]:
        async with res.reads.connection() as conn:
            return await _stream_state(conn, id, contract)

    state = await res.cache.get_or_set(
        "streams", f"detail:{contract or '*'}:{id}", TTL_STREAM_CLAIMABLE, compute
    )
    total, claimed, start, end = state["terms"]
    status = state["stream"]["status"]
    claimable = 0
    if status in ("active", "paused"):
        claimable = stream_claimable(total, claimed, start, end, now)
    detail = StreamDetail.model_validate(
        {
            **state["stream"],
            "claimable_amount": claimable,
            "as_of": unix_time(now),
            "claims": state["claims"],
            **await history_for(res.reads, [state["stream"]["contract_id"]]),
        }
    )
    return json_response(detail)
