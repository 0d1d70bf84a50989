"""``/api/events``: the decoded raw event log, as pages and as a live stream.

``GET /api/events/stream`` is Server-Sent Events, like Horizon's streaming:
each newly indexed event is one message whose ``id`` is the RPC event id
(which sorts in chain order), so a client that reconnects with
``Last-Event-ID`` (browsers do it by themselves) or ``?cursor=<event id>``
resumes right after the last event it saw. Without either it starts at the
current head (``cursor=now``); ``cursor=0`` replays from the beginning. The
server polls the events table about once a second, sends a keep-alive
comment when idle, and stops when the client disconnects.

Raw topics and values are rendered from the stored XDR by SCVal type
(:mod:`orbitpay.api.rawvalues`): 64-bit and wider integers are decimal
strings, in the pages, the stream and the CSV alike. So the pages are built
in Python here (not as JSON by PostgreSQL like the other lists); a page is at
most 200 events.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from orbitpay import jsoncodec
from orbitpay.api.common import (
    READ_RESPONSES,
    ContractQuery,
    ListSpec,
    fetch_rows,
    read_pool,
)
from orbitpay.api.csv_export import CSV_RESPONSE, csv_response
from orbitpay.api.errors import ApiError
from orbitpay.api.pagination import Keyset, PageParams, Pager
from orbitpay.api.queryparams import QueryParam, QuerySpec
from orbitpay.api.rawvalues import event_values
from orbitpay.api.routers.coverage import history_fields
from orbitpay.api.schemas import Event, HistoryPage, row_encoder
from orbitpay.api.streaming import BoundedStream, slot_for
from orbitpay.db.schema import events

router = APIRouter(prefix="/api/events", tags=["events"], responses=READ_RESPONSES)

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
BATCH = 200
EVENT_ID = re.compile(r"^[0-9]{19}-[0-9]{10}$")

e = events.c
KEYSET = Keyset(columns=(e.ledger, e.id), types=(int, str))
COLUMNS = [
    e.id,
    e.contract_id,
    e.ledger,
    e.ledger_closed_at,
    e.tx_hash,
    e.transaction_index,
    e.operation_index,
    e.event_type,
    e.type,
    e.topic_symbols,
    e.topics,
    e.value,
    e.topics_xdr,
    e.value_xdr,
    e.recognised,
    e.in_successful_contract_call,
    e.decode_error,
]

SPEC = ListSpec(
    endpoint="events",
    columns=tuple(COLUMNS),
    keyset=KEYSET,
    filters={"contract": e.contract_id, "type": e.type},
    model=Event,
)

TypeQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="The event's first topic symbol (e.g. `deposit`, `s_create`).",
    ),
]


LIST_QUERY = QuerySpec(
    [QueryParam("contract", ContractQuery), QueryParam("type", TypeQuery)], formats=True
)
_ENCODE = row_encoder(Event)


def api_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """One events row as the API shows it: the ``Event`` fields, raw values by SCVal type."""
    out = _ENCODE(row)
    out["topics"], out["value"] = event_values(
        row["topics_xdr"], row["value_xdr"], row["topics"], row["value"]
    )
    return out


def csv_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row: ``topics`` and ``value`` as their JSON text (one cell each)."""
    out = api_event(row)
    out["topics"] = jsoncodec.dumps(out["topics"])
    out["value"] = jsoncodec.dumps(out["value"])
    return out


async def _page(
    request: Request,
    conn: asyncpg.Connection,
    values: Mapping[str, Any],
    paging: PageParams,
    extra: Mapping[str, Any],
) -> Response:
    pager = Pager(request, SPEC.endpoint, values, paging, SPEC.keyset)
    start = pager.start_key()
    rows = await fetch_rows(conn, SPEC, values, paging.order, start, paging.limit + 1)
    body = {
        "items": [api_event(r) for r in rows[: paging.limit]],
        "next_cursor": pager.next_cursor(rows),
        **extra,
    }
    return Response(content=jsoncodec.dumps(body), media_type="application/json")


@router.get(
    "",
    response_model=HistoryPage[Event],
    responses=CSV_RESPONSE,
    openapi_extra=LIST_QUERY.openapi(),
    summary="The decoded raw event log",
    description="Every indexed contract event (recognised or not), newest first by default. "
    "`history_complete` is false when older events of the contracts are not indexed. "
    "Integers of 64 bits and wider in `topics` and `value` are decimal strings. "
    "`?format=csv` or `Accept: text/csv` streams every matching row as CSV.",
)
async def list_events(request: Request) -> Response:
    query = LIST_QUERY.parse_list(request)
    if query.csv:
        return csv_response(request, SPEC, query.values, query.paging, "events", encode=csv_event)
    contract = query.values.get("contract")
    async with read_pool(request).connection() as conn:
        history = await history_fields(read_pool(request), conn, [contract] if contract else None)
        return await _page(request, conn, query.values, query.paging, history)


def _sse(row: asyncpg.Record) -> str:
    data = jsoncodec.dumps(api_event(dict(row)))
    return f"id: {row['id']}\ndata: {data}\n\n"


def _follow_sql(contract: str | None, type: str | None) -> tuple[str, list[str]]:
    """``SELECT`` of the events after ``$1`` (plus the filters present), in chain order."""
    where, names = ["id > $1"], []
    for column, value in (("contract_id", contract), ("type", type)):
        if value is not None:
            names.append(value)
            where.append(f"{column} = ${len(names) + 1}")
    columns = ", ".join(c.name for c in COLUMNS)
    sql = f"SELECT {columns} FROM events WHERE {' AND '.join(where)} ORDER BY id LIMIT {BATCH}"
    return sql, names


async def _follow(
    request: Request,
    after: str,
    contract: str | None,
    type: str | None,
) -> AsyncIterator[str]:
    yield f"retry: {int(POLL_SECONDS * 2000)}\n: streaming events after {after}\n\n"
    sql, args = _follow_sql(contract, type)
    pool = read_pool(request)
    last = after
    last_sent = time.monotonic()
    while True:
        if await request.is_disconnected():
            return
        async with pool.connection() as conn:
            rows = await conn.fetch(sql, last, *args)
        for row in rows:
            yield _sse(row)
            last = row["id"]
        now = time.monotonic()
        if rows:
            last_sent = now
            if len(rows) == BATCH:
                continue
        elif now - last_sent >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = now
        await asyncio.sleep(POLL_SECONDS)


@router.get(
    "/stream",
    summary="Newly indexed events as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
    description="One SSE message per event (`id:` the event id, `data:` the event as in "
    "`/api/events`, 64-bit and wider integers as decimal strings). Resume with the "
    "`Last-Event-ID` header or `?cursor=<event id>`; "
    "`cursor=now` (the default) starts at the head, `cursor=0` at the beginning.",
)
async def stream_events(
    request: Request,
    contract: ContractQuery = None,
    type: TypeQuery = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    start = last_event_id or cursor or "now"
    if start == "now":
        async with read_pool(request).connection() as conn:
            after = await conn.fetchval("SELECT max(id) FROM events") or "0"
    elif start == "0":
        after = "0"
    elif EVENT_ID.match(start):
        after = start
    else:
        raise ApiError(
            400,
            "bad_cursor",
            "cursor must be an event id (e.g. 0000005300584427520-0000000001), 'now' or '0'",
        )
    # Each poll takes a connection for one statement and gives it back before sending;
    # streams are capped per process and per client, and a stalled reader is dropped.
    slot = slot_for(request, "streams")
    return BoundedStream(
        _follow(request, after, contract, type),
        slot=slot,
        send_timeout=request.app.state.resources.settings.send_timeout,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
