"""Raw event topics and values as the API shows them: wide integers as decimal strings.

The events table keeps each event's topics and value twice: the exact XDR
(``topics_xdr``, ``value_xdr``) and a JSON rendering for queries
(``topics``, ``value``, written by the indexer with every integer as a JSON
number). JSON numbers above 2**53 lose precision in JavaScript, and amounts
are ``i128``, so the API renders the raw values from the XDR by the SCVal
type, one rule for every consumer (``/api/events``, its SSE stream, CSV):

- ``u64``, ``i64``, ``timepoint``, ``duration``, ``u128``, ``i128``,
  ``u256`` and ``i256`` are **decimal strings**, whatever their size (a
  client never has to check a magnitude);
- ``u32`` and ``i32`` stay JSON numbers (they always fit);
- everything else as stored: symbols and strings as strings, addresses as
  strkeys, bytes as hex, vecs as arrays, maps as objects (keys as strings),
  bool, void as ``null``.

The stored JSON is not changed (the indexer and existing rows keep it); when
an event's XDR cannot be read (``decode_error``), the stored JSON is shown
with every integer outside ``±(2**53 - 1)`` as a string, the same rule
restricted to what the stored form still knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stellar_sdk import xdr

from orbitpay.contracts.registry import jsonable
from orbitpay.stellar.fastxdr import TVal, Unsupported, tval_b64
from orbitpay.stellar.scval import decode_scval

_T = xdr.SCValType
# SCVal integer types of 64 bits and wider: rendered as decimal strings.
WIDE_INTEGERS = frozenset(
    t.value
    for t in (
        _T.SCV_U64,
        _T.SCV_I64,
        _T.SCV_TIMEPOINT,
        _T.SCV_DURATION,
        _T.SCV_U128,
        _T.SCV_I128,
        _T.SCV_U256,
        _T.SCV_I256,
    )
)
_VEC = _T.SCV_VEC.value
_MAP = _T.SCV_MAP.value
MAX_SAFE_INTEGER = 2**53 - 1


def _from_tval(value: TVal) -> Any:
    """The API form of a fast-path value; ``Unsupported`` for a map (its elements'
    types are not kept by :class:`TVal`, so the SDK path renders it)."""
    if value.code in WIDE_INTEGERS:
        return str(value.plain)
    if value.code == _VEC:
        return [_from_tval(item) for item in value.items or ()]
    if value.code == _MAP:
        raise Unsupported("map")
    return jsonable(value.plain)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else str(jsonable(value))


def _from_scval(sc: xdr.SCVal) -> Any:
    """The API form of a stellar-sdk ``SCVal`` (any shape)."""
    t = sc.type.value
    if t in WIDE_INTEGERS:
        return str(decode_scval(sc))
    if t == _VEC:
        return [_from_scval(item) for item in (sc.vec.sc_vec if sc.vec is not None else [])]
    if t == _MAP:
        entries = sc.map.sc_map if sc.map is not None else []
        return {_key(_plain_key(e.key)): _from_scval(e.val) for e in entries}
    return jsonable(decode_scval(sc))


def _plain_key(sc: xdr.SCVal) -> Any:
    """A map key: its API form when it is a wide integer (a string), else as stored."""
    return _from_scval(sc) if sc.type.value in WIDE_INTEGERS else decode_scval(sc)


def scval_json(b64: str) -> Any:
    """One base64 SCVal (an event topic or value) in the API's JSON form.

    ``ValueError`` when the XDR is not an SCVal.
    """
    try:
        return _from_tval(tval_b64(b64))
    except Unsupported:
        pass
    try:
        sc = xdr.SCVal.from_xdr(b64)
    except Exception as exc:  # the SDK raises assorted errors for bad XDR
        raise ValueError(f"not an SCVal: {exc}") from None
    return _from_scval(sc)


def safe_integers(value: Any) -> Any:
    """Stored JSON with every integer outside ``±(2**53 - 1)`` as a decimal string."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > MAX_SAFE_INTEGER else value
    if isinstance(value, list):
        return [safe_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: safe_integers(v) for k, v in value.items()}
    return value


def event_values(
    topics_xdr: Sequence[str], value_xdr: str, topics: Any, value: Any
) -> tuple[Any, Any]:
    """``(topics, value)`` of one event for the API (see the module docstring)."""
    try:
        return [scval_json(t) for t in topics_xdr], scval_json(value_xdr)
    except ValueError:
        return safe_integers(topics), safe_integers(value)
