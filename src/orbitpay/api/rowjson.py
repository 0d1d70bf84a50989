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
import re
from collections.abc import Sequence
from enum import Enum
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Integer,
    Numeric,
    String,
    literal_column,
)
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from orbitpay.api.schemas import MAX_UNIX_SECONDS, MIN_UNIX_SECONDS, field_kinds

# The dialect statements are compiled with: asyncpg's ``$n`` parameters, as run on the
# read pool. (SQLAlchemy's dialect constructors and type processors are unannotated.)
DIALECT: PGDialect_asyncpg = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
# A SQL string literal.
_QUOTE = String().literal_processor(dialect=DIALECT)  # type: ignore[no-untyped-call]
_SECONDS = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
_MICROS = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''
_AS_TEXT = (Integer, Numeric, Boolean, JSON)  # their ::text is already their JSON
_PLAIN = re.compile(r"[A-Za-z0-9_.-]*")  # needs no escaping inside a JSON string


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


def _plain_string(annotation: Any) -> bool:
    """A field whose values are enum strings needing no JSON escaping (enum columns).

    The enum is a ``StrEnum`` (``orbitpay.enums``) or a ``Literal`` of strings.
    """
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return all(isinstance(m.value, str) and _PLAIN.fullmatch(m.value) for m in annotation)
    if get_origin(annotation) is Literal:
        return all(isinstance(v, str) and _PLAIN.fullmatch(v) for v in get_args(annotation))
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return bool(args) and all(_plain_string(a) for a in args)
    return False


def _field_sql(
    ref: str, kind: str | None, column: ColumnElement[Any], plain: bool
) -> tuple[str, bool]:
    """``(SQL text of the field's value, whether it is written between quotes)``.

    The value is NULL exactly when the column is; quoted values are bare text
    (the caller adds the quotes, merged into the neighbouring labels).
    """
    if kind == "amount":
        return f"({ref})::text", True
    if kind == "time":
        return (unix_iso_sql(ref) if isinstance(column.type, Integer) else iso_utc_sql(ref)), True
    if plain:
        return ref, True
    if isinstance(column.type, _AS_TEXT):
        return f"({ref})::text", False
    return f"to_json({ref})::text", False  # strings (escaped), arrays


def row_json_sql(
    model: type[BaseModel], columns: Sequence[ColumnElement[Any]]
) -> ColumnElement[str]:
    """The JSON object text of ``model``'s fields over ``columns`` (matched by key).

    One ``concat`` whose literal parts (labels, quotes, braces) are merged, so
    a row costs one call with about two arguments per field: a third less
    PostgreSQL time per page than ``concat`` of separately escaped, ``COALESCE``d
    parts, and half of ``json_build_object`` (which resolves every argument's
    type on every call). NOT NULL table columns go in bare; a nullable one is
    ``COALESCE``d to ``null`` (``concat`` would drop it). Strings are escaped
    by ``to_json`` unless the model types them as enums (``StrEnum`` or
    ``Literal``) of plain words (their columns are CHECK-constrained to exactly
    those values).
    Every field needs a column of its name (``ValueError`` otherwise: a list
    whose model gains a computed field must select it).
    """
    by_key = {getattr(c, "key", None): c for c in columns}
    kinds = field_kinds(model)
    parts: list[tuple[bool, str]] = []  # (is a literal, text)

    def literal(text: str) -> None:
        if parts and parts[-1][0]:
            parts[-1] = (True, parts[-1][1] + text)
        else:
            parts.append((True, text))

    for i, (name, field) in enumerate(model.model_fields.items()):
        column = by_key.get(name)
        if column is None:
            raise ValueError(f"{model.__name__}.{name} has no column of that name")
        ref = str(column.compile(dialect=DIALECT))
        value, quoted = _field_sql(ref, kinds[name], column, _plain_string(field.annotation))
        literal(("{" if i == 0 else ",") + json.dumps(name) + ":")
        if isinstance(column, Column) and not column.nullable:
            if quoted:
                literal('"')
            parts.append((False, value))
            if quoted:
                literal('"')
        elif quoted:
            parts.append((False, f"COALESCE('\"' || {value} || '\"', 'null')"))
        else:
            parts.append((False, f"COALESCE({value}, 'null')"))
    literal("}")
    sql = [_QUOTE(text) if is_literal else text for is_literal, text in parts]
    return literal_column(f"concat({', '.join(sql)})")
