"""From (contract kind, first topic symbol) to the decoder that understands it.

:func:`decode_event` is the single entry point the indexer uses: it never
raises. It returns the typed event when the event is one the contract emits,
and otherwise the reason it is stored raw (unknown symbol, e.g. the newer
treasury schema's ``TreasuryDeposit``; wrong shape; unreadable XDR).

:data:`EVENT_TYPES` lists the typed event class behind each decoder (the
projection has one rule per class) and :func:`parse_call` turns a call's
decoded arguments into the typed record of its contract function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stellar_sdk import xdr

from orbitpay.contracts import governance, payroll, treasury, vesting
from orbitpay.contracts.base import (
    CallError,
    ContractCall,
    ContractEvent,
    DecodeError,
    Val,
    topic_symbol,
)
from orbitpay.stellar.fastxdr import Unsupported, tval_b64
from orbitpay.stellar.scval import decode_scval

# A decoder reads ``xdr.SCVal`` s or the fast path's ``TVal`` s alike (contracts.base).
Decoder = Callable[[list[Any], Any], ContractEvent]

MODULES = {m.KIND: m for m in (treasury, payroll, vesting, governance)}
REGISTRY: dict[tuple[str, str], Decoder] = {
    (kind, symbol): decoder
    for kind, module in MODULES.items()
    for symbol, decoder in module.DECODERS.items()
}
EVENT_TYPES: dict[tuple[str, str], type[ContractEvent]] = {
    (cls.kind, cls.symbol): cls for module in MODULES.values() for cls in module.EVENTS
}
if EVENT_TYPES.keys() != REGISTRY.keys():  # a decoder without its class, or the reverse
    raise RuntimeError(
        f"event classes and decoders differ: {sorted(EVENT_TYPES.keys() ^ REGISTRY.keys())}"
    )
CALLS: dict[str, dict[str, type[ContractCall]]] = {
    kind: module.CALLS for kind, module in MODULES.items()
}
FUNCTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    kind: {name: call.names for name, call in calls.items()} for kind, calls in CALLS.items()
}


def jsonable(value: Any) -> Any:
    """A decoded ScVal as JSON: bytes -> hex, map keys -> strings, tuples -> lists."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {
            str(jsonable(k)) if not isinstance(k, str) else k: jsonable(v) for k, v in value.items()
        }
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


@dataclass(slots=True)
class Decoded:
    """The outcome of decoding one event; ``event`` is None when it is stored raw."""

    event: ContractEvent | None
    type: str | None
    topic_symbols: list[str]
    topics: list[Any] | None
    value: Any
    error: str | None
    reason: str | None  # unknown | malformed | unreadable (metrics label)

    @property
    def recognised(self) -> bool:
        return self.event is not None


def decode_event(kind: str, topics_xdr: list[str], value_xdr: str) -> Decoded:
    """Decode an event of a contract of ``kind`` from base64 XDR; never raises.

    The topics and value are read by :func:`orbitpay.stellar.fastxdr.tval_b64`
    (no stellar-sdk objects); a shape it does not handle (an ``SCError``, a
    256-bit integer, map keys that do not sort, bytes after the value...) sends
    the event through stellar-sdk instead (:func:`decode_event_sdk`), which
    gives the same answer.
    """
    try:
        topics = [tval_b64(t) for t in topics_xdr]
        value = tval_b64(value_xdr)
        topics_json = [jsonable(t.plain) for t in topics]
        value_json = jsonable(value.plain)
    except (Unsupported, TypeError):
        return decode_event_sdk(kind, topics_xdr, value_xdr)
    return _typed(kind, list(topics), value, topics_json, value_json)


def decode_event_sdk(kind: str, topics_xdr: list[str], value_xdr: str) -> Decoded:
    """:func:`decode_event` through stellar-sdk's generic ``SCVal`` (the fallback)."""
    try:
        topics = [xdr.SCVal.from_xdr(t) for t in topics_xdr]
        value = xdr.SCVal.from_xdr(value_xdr)
    except Exception as exc:
        return Decoded(None, None, [], None, None, f"unreadable XDR: {exc}", "unreadable")
    try:
        topics_json = [jsonable(decode_scval(t)) for t in topics]
        value_json = jsonable(decode_scval(value))
    except Exception as exc:
        symbols = [s for s in (topic_symbol(t) for t in topics) if s is not None]
        first = topic_symbol(topics[0]) if topics else None
        return Decoded(None, first, symbols, None, None, f"undecodable value: {exc}", "malformed")
    return _typed(kind, list(topics), value, topics_json, value_json)


def _typed(
    kind: str, topics: list[Val], value: Val, topics_json: list[Any], value_json: Any
) -> Decoded:
    symbols = [s for s in (topic_symbol(t) for t in topics) if s is not None]
    first = topic_symbol(topics[0]) if topics else None
    decoder = REGISTRY.get((kind, first)) if first is not None else None
    if decoder is None:
        what = f"symbol {first!r}" if first is not None else "a first topic that is not a symbol"
        return Decoded(
            None,
            first,
            symbols,
            topics_json,
            value_json,
            f"unknown {kind} event: {what}",
            "unknown",
        )
    try:
        event = decoder(topics, value)
    except DecodeError as exc:
        return Decoded(
            None, first, symbols, topics_json, value_json, f"malformed {first}: {exc}", "malformed"
        )
    return Decoded(event, first, symbols, topics_json, value_json, None, None)


def parse_call(kind: str, function: str, args: list[Any]) -> ContractCall:
    """The typed record of a call to ``function`` of a ``kind`` contract.

    ``CallError`` when the function is unknown or its arguments are misshapen.
    """
    call = CALLS.get(kind, {}).get(function)
    if call is None:
        raise CallError(f"{kind} contracts have no function {function!r}")
    return call.parse(args)


def named_args(kind: str, function: str, args: list[Any]) -> dict[str, Any] | None:
    """A call's arguments by name, or None when the function or its arity is unknown."""
    names = FUNCTIONS.get(kind, {}).get(function)
    if names is None or len(names) != len(args):
        return None
    return dict(zip(names, args, strict=True))
