"""CSV on lists (``?format=csv`` or ``Accept: text/csv``): every matching row, streamed
in keyset batches.

The export walks the same filters and order as the JSON list (from ``cursor``
when one is given, ignoring ``limit``) in batches of ``BATCH`` rows, so memory
stays flat for any size. Each batch takes a read-pool connection for its one
statement and gives it back before the batch is sent: a client that reads
slowly, or stops, holds no connection (``api.streaming`` also caps concurrent
exports and drops a client that does not take a chunk within the send timeout).

Cells: the row's JSON values (amounts and ids as decimal text, times ISO-8601
``Z``), ``null`` as an empty cell, booleans ``true``/``false``, a list of
plain values (addresses, symbols) joined by single spaces; a route passes its
own ``encode`` when a field needs another form (e.g. a raw event's ``value`` as
JSON text) and ``expand`` when rows need more than their columns (an
organization's contracts).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from orbitpay.api.common import ListSpec, fetch_rows, read_pool
from orbitpay.api.pagination import PageParams, Pager
from orbitpay.api.streaming import BoundedStream, slot_for
from orbitpay.db.readpool import ReadPool

BATCH = 1000

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The page as JSON, or with `?format=csv` (or `Accept: text/csv`) every "
        "matching row as CSV (header row first; from `cursor` when given, `limit` ignored).",
    }
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(_cell(v) for v in value)
    return str(value)


Encode = Callable[[Mapping[str, Any]], Mapping[str, Any]]
Expand = Callable[[asyncpg.Connection, Sequence[Any]], Awaitable[Sequence[Mapping[str, Any]]]]


async def _rows(
    pool: ReadPool,
    spec: ListSpec,
    values: Mapping[str, Any],
    order: str,
    start: tuple[Any, ...] | None,
    encode: Encode,
    fields: Sequence[str],
    expand: Expand | None,
) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    yield buffer.getvalue()
    key = start
    while True:
        async with pool.connection() as conn:
            rows = await fetch_rows(conn, spec, values, order, key, BATCH)
            full = await expand(conn, rows) if expand is not None and rows else rows
        # The connection is back in the pool before the client is waited on.
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for row in full:
            data = encode(row)
            writer.writerow([_cell(data.get(name)) for name in fields])
        yield buffer.getvalue()
        if len(rows) < BATCH:
            return
        key = tuple(spec.keyset.key_of(rows[-1]))


def csv_response(
    request: Request,
    spec: ListSpec,
    values: Mapping[str, Any],
    paging: PageParams,
    filename: str,
    *,
    encode: Encode | None = None,
    fields: Sequence[str] | None = None,
    expand: Expand | None = None,
) -> StreamingResponse:
    """A streamed CSV of every row of ``spec`` matching ``values`` (from ``cursor`` if given).

    ``fields`` (the header) defaults to the model's fields, ``encode`` to the model's
    row encoder; ``expand`` turns a batch of rows into the rows to encode, on the
    batch's connection.
    """
    pager = Pager(request, spec.endpoint, values, paging, spec.keyset)
    start = pager.start_key()  # a bad cursor is a 400 now, not a broken stream later
    slot = slot_for(request, "exports")  # 503/429 when exports are at their cap
    header = list(fields) if fields is not None else list(spec.model.model_fields)
    rows = _rows(
        read_pool(request),
        spec,
        values,
        paging.order,
        start,
        encode or spec.encoder,
        header,
        expand,
    )
    return BoundedStream(
        rows,
        slot=slot,
        send_timeout=request.app.state.resources.settings.send_timeout,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


SERIES_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The figures as JSON, or with `?format=csv` (or `Accept: text/csv`) the "
        "time series as CSV: one row per point, columns `series,token,t,v`.",
    }
}


def series_csv(series: Sequence[Mapping[str, Any]], filename: str) -> Response:
    """An analytics answer's ``series`` as CSV, one row per point (``series,token,t,v``).

    Small (at most ``ORBITPAY_ANALYTICS_MAX_CELLS`` points) and built from the same
    cached figures as the JSON, so it is not streamed.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["series", "token", "t", "v"])
    for one in series:
        for point in one["points"]:
            writer.writerow([one["name"], _cell(one.get("token")), point["t"], point["v"]])
    return Response(
        content=buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
