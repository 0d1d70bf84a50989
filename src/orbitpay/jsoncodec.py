"""JSON for the hot paths: orjson, with the stdlib for what orjson does not take.

orjson parses a ``getTransactions`` page 1.9x and encodes the indexer's bulk
rows 5-9x faster than the stdlib (``bench/json_codec.py``). Where it stops:

- it refuses integers beyond 64 bits (large i128 amounts) when encoding, and
  ``NaN``/``Infinity`` when parsing: both go to the stdlib, so whatever the
  stdlib reads or writes still works;
- it reads an integer beyond 64 bits as a float. The bodies parsed here are
  RPC responses, whose numbers are ledger sequences, indexes and counts
  (u32/i64 by the RPC's schema; amounts travel inside XDR), so none is that large.

Encoding is compact; datetimes are ISO-8601 (naive ones as UTC, as asyncpg
treats them for ``timestamptz``); non-string map keys become strings, as the
stdlib writes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def loads(content: bytes | str) -> Any:
    """Parse a JSON document; ``ValueError`` when it is not JSON."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(value: Any) -> str:
    """Compact JSON text; ``TypeError``/``ValueError`` when ``value`` has no exact JSON form."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)
