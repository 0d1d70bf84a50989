"""List rows as JSON built by PostgreSQL, byte-for-byte the shape the Python encoder writes.

A list page used to travel as typed rows (asyncpg decodes every numeric,
timestamp and text value into Python objects), then be converted field by
field (:func:`orbitpay.api.schemas.row_encoder`) and re-encoded by
``json.dumps``: about 40 % of the CPU of a list request. Here the database
writes each row's JSON object in SQL (``concat`` of escaped parts) with the API's
conventions, and the route only joins the texts (see
:func:`orbitpay.api.common.list_response`):

- amounts (``Amount``): the decimal text of ``NUMERIC(39,0)``, as a JSON string;
- times (``Time``): ISO-8601 UTC with ``Z``, seconds precision, plus
  ``.ffffff`` only when there are microseconds (Python's ``isoformat``);
  contract times stored as unix seconds are clamped to years 1..9999 first,
  as :func:`orbitpay.api.schemas.unix_time` does;
- everything else as the column's own JSON (numbers, strings, booleans,
  ``null``, jsonb as is, ``text[]`` as an array).

The equivalence with the Python encoder is a test (``test_rowjson``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Boolean, ColumnElement, Integer, Numeric, literal_column
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from orbitpay.api.schemas import MAX_UNIX_SECONDS, MIN_UNIX_SECONDS, field_kinds

_DIALECT = PGDialect_asyncpg()
_SECONDS = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
_MICROS = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''
_AS_TEXT = (Integer, Numeric, Boolean, JSON)  # their ::text is already their JSON


def iso_utc_sql(timestamptz: str) -> str:
    """SQL text of a ``timestamptz`` expression as the API's ISO-8601 ``Z`` string."""
    utc = f"({timestamptz} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN date_trunc('second', {timestamptz}) = {timestamptz}"
        f" THEN to_char({utc}, {_SECONDS}) ELSE to_char({utc}, {_MICROS}) END"
    )


def unix_iso_sql(seconds: str) -> str:
    """SQL text of a unix-seconds expression as the API's ISO-8601 ``Z`` string."""
    clamped = f"LEAST(GREATEST({seconds}, {MIN_UNIX_SECONDS}), {MAX_UNIX_SECONDS})"
    return f"to_char(to_timestamp({clamped}::double precision) AT TIME ZONE 'UTC', {_SECONDS})"


def _value_sql(ref: str, kind: str | None, column: ColumnElement[Any]) -> str:
    """The JSON text of one field (NULL when the column is NULL)."""
    if kind == "amount":
        return f"'\"' || ({ref})::text || '\"'"
    if kind == "time":
        iso = unix_iso_sql(ref) if isinstance(column.type, Integer) else iso_utc_sql(ref)
        return f"'\"' || {iso} || '\"'"
    if isinstance(column.type, _AS_TEXT):
        return f"({ref})::text"
    return f"to_json({ref})::text"  # strings (escaped), arrays


def row_json_sql(
    model: type[BaseModel], columns: Sequence[ColumnElement[Any]]
) -> ColumnElement[str]:
    """The JSON object text of ``model``'s fields over ``columns`` (matched by key).

    Written with ``concat`` rather than ``json_build_object``, which costs about
    twice as much per row (it resolves every argument's type on every call).
    Every field needs a column of its name (``ValueError`` otherwise: a list whose model
    gains a computed field must select it).
    """
    by_key = {getattr(c, "key", None): c for c in columns}
    parts: list[str] = []
    for i, (name, kind) in enumerate(field_kinds(model).items()):
        column = by_key.get(name)
        if column is None:
            raise ValueError(f"{model.__name__}.{name} has no column of that name")
        ref = str(column.compile(dialect=_DIALECT))
        label = ("{" if i == 0 else ",") + json.dumps(name) + ":"
        parts.append(f"'{label}'")
        parts.append(f"COALESCE({_value_sql(ref, kind, column)}, 'null')")
    parts.append("'}'")
    return literal_column(f"concat({', '.join(parts)})")
