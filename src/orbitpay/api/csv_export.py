"""``Accept: text/csv`` on lists: every matching row, streamed in keyset batches.

The export walks the same filters and order as the JSON list (from ``cursor``
when one is given, ignoring ``limit``) in batches of ``BATCH`` rows, so memory
stays flat for any size. Each batch takes a read-pool connection for its one
statement and gives it back before the batch is sent: a client that reads
slowly, or stops, holds no connection (``api.streaming`` also caps concurrent
exports and drops a client that does not take a chunk within the send timeout).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from orbitpay.api.common import ListSpec, fetch_rows, read_pool
from orbitpay.api.pagination import PageParams, Pager
from orbitpay.api.streaming import BoundedStream, slot_for
from orbitpay.db.readpool import ReadPool

BATCH = 1000

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The page as JSON, or with `Accept: text/csv` every matching row as CSV "
        "(header row first).",
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


async def _rows(
    pool: ReadPool,
    spec: ListSpec,
    values: Mapping[str, Any],
    order: str,
    start: tuple[Any, ...] | None,
) -> AsyncIterator[str]:
    fields = list(spec.model.model_fields)
    encode = spec.encoder
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    yield buffer.getvalue()
    key = start
    while True:
        async with pool.connection() as conn:
            rows = await fetch_rows(conn, spec, values, order, key, BATCH)
        # The connection is back in the pool before the client is waited on.
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
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
) -> StreamingResponse:
    """A streamed CSV of every row of ``spec`` matching ``values`` (from ``cursor`` if given)."""
    pager = Pager(request, spec.endpoint, values, paging, spec.keyset)
    start = pager.start_key()  # a bad cursor is a 400 now, not a broken stream later
    slot = slot_for(request, "exports")  # 503/429 when exports are at their cap
    return BoundedStream(
        _rows(read_pool(request), spec, values, paging.order, start),
        slot=slot,
        send_timeout=request.app.state.resources.settings.send_timeout,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
