"""``Accept: text/csv`` on lists: every matching row, streamed in keyset batches.

The export walks the same filters and order as the JSON list (from ``cursor``
when one is given, ignoring ``limit``) in batches of ``BATCH`` rows on its own
connection, so memory stays flat for any size and the connection is held only
while the client reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.api.pagination import Pager

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
    engine: AsyncEngine,
    query: Select[Any],
    pager: Pager,
    model: type[BaseModel],
    convert: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None,
    exclude: frozenset[str],
) -> AsyncIterator[str]:
    fields = [name for name in model.model_fields if name not in exclude]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    yield buffer.getvalue()
    key = pager.start_key()
    order = pager.params.order
    keyset = pager.keyset
    async with engine.connect() as conn:
        while True:
            batch_query = query if key is None else query.where(keyset.after(key, order))
            batch_query = batch_query.order_by(*keyset.order_by(order)).limit(BATCH)
            rows = (await conn.execute(batch_query)).mappings().all()
            if not rows:
                return
            buffer.seek(0)
            buffer.truncate()
            for row in rows:
                item = model.model_validate(convert(row) if convert else dict(row))
                data = item.model_dump(mode="json", by_alias=True)
                writer.writerow([_cell(data.get(name)) for name in fields])
            yield buffer.getvalue()
            if len(rows) < BATCH:
                return
            key = tuple(keyset.key_of(rows[-1]))


def csv_response(
    engine: AsyncEngine,
    query: Select[Any],
    pager: Pager,
    model: type[BaseModel],
    filename: str,
    convert: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> StreamingResponse:
    """A streamed CSV of ``query`` (validated against the cursor before the first byte)."""
    pager.start_key()  # a bad cursor is a 400 now, not a broken stream later
    return StreamingResponse(
        _rows(engine, query, pager, model, convert, exclude),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
