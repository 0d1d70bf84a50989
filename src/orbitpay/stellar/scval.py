"""Conversion between stellar-sdk ``xdr.SCVal`` values and plain Python values.

Decoding (:func:`decode_scval`) is what the indexer uses to read event topics,
event values, call arguments, return values and ledger entries:

- every integer type (u32/i32/u64/i64/u128/i128/u256/i256, timepoint,
  duration) becomes ``int``;
- an address (account ``G...``, contract ``C...``, muxed ``M...``) becomes its
  strkey ``str``;
- symbols and strings become ``str`` (a string that is not valid UTF-8 stays
  ``bytes``); bytes become ``bytes``; bool stays ``bool``; void becomes None;
- a vec becomes a ``list``; a map becomes a ``dict`` (keys decoded; a key that
  decodes to a list is turned into a tuple so it stays hashable).

Encoding helpers build values exactly as ``soroban-sdk`` ``#[contracttype]``
encodes them (CAP-46-01 and the SDK's derive macros):

- unit enum variant ``Admin`` -> ``Vec[Symbol("Admin")]`` (:func:`enum_unit`);
- tuple variant ``Stream(7)`` -> ``Vec[Symbol("Stream"), U32(7)]``
  (:func:`enum_tuple`);
- struct -> ``Map`` with ``Symbol`` keys sorted by name (:func:`struct`);
- ``Option<T>``: ``None`` -> ``Void``, ``Some(x)`` -> ``x`` (:func:`option`).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stellar_sdk import Address, StrKey, xdr
from stellar_sdk import scval as sdk_scval

__all__ = [
    "address",
    "decode_scval",
    "decode_scval_b64",
    "enum_tuple",
    "enum_unit",
    "from_b64",
    "i128",
    "map_",
    "option",
    "string",
    "struct",
    "symbol",
    "to_b64",
    "u32",
    "u64",
    "u128",
    "vec",
    "void",
]

_T = xdr.SCValType


_STRKEY_CACHE: dict[tuple[bool, bytes], str] = {}


def _decode_address(a: xdr.SCAddress) -> str:
    t = a.type
    if t == xdr.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT:
        assert a.account_id is not None and a.account_id.account_id.ed25519 is not None
        raw, is_account = a.account_id.account_id.ed25519.uint256, True
    elif t == xdr.SCAddressType.SC_ADDRESS_TYPE_CONTRACT:
        assert a.contract_id is not None
        raw, is_account = a.contract_id.contract_id.hash, False
    else:
        return Address.from_xdr_sc_address(a).address
    key = (is_account, raw)
    hit = _STRKEY_CACHE.get(key)
    if hit is None:
        hit = StrKey.encode_ed25519_public_key(raw) if is_account else StrKey.encode_contract(raw)
        if len(_STRKEY_CACHE) < 100_000:
            _STRKEY_CACHE[key] = hit
    return hit


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def decode_scval(sc: xdr.SCVal) -> Any:
    """Decode an ``xdr.SCVal`` into a plain Python value (see module docstring).

    The SDK types every arm of the union as optional; ``sc.type`` says which one
    is set, and the asserts tell the type checker so.
    """
    t = sc.type
    if t == _T.SCV_SYMBOL:
        assert sc.sym is not None
        return sc.sym.sc_symbol.decode()
    if t == _T.SCV_U32:
        assert sc.u32 is not None
        return sc.u32.uint32
    if t == _T.SCV_ADDRESS:
        assert sc.address is not None
        return _decode_address(sc.address)
    if t == _T.SCV_I128:
        i128_parts = sc.i128
        assert i128_parts is not None
        return (i128_parts.hi.int64 << 64) | i128_parts.lo.uint64
    if t == _T.SCV_U64:
        assert sc.u64 is not None
        return sc.u64.uint64
    if t == _T.SCV_VEC:
        return [decode_scval(x) for x in (sc.vec.sc_vec if sc.vec is not None else [])]
    if t == _T.SCV_MAP:
        out: dict[Any, Any] = {}
        for e in sc.map.sc_map if sc.map is not None else []:
            out[_hashable(decode_scval(e.key))] = decode_scval(e.val)
        return out
    if t == _T.SCV_BOOL:
        return sc.b
    if t == _T.SCV_VOID:
        return None
    if t == _T.SCV_U128:
        u128_parts = sc.u128
        assert u128_parts is not None
        return (u128_parts.hi.uint64 << 64) | u128_parts.lo.uint64
    if t == _T.SCV_I32:
        assert sc.i32 is not None
        return sc.i32.int32
    if t == _T.SCV_I64:
        assert sc.i64 is not None
        return sc.i64.int64
    if t == _T.SCV_TIMEPOINT:
        assert sc.timepoint is not None
        return sc.timepoint.time_point.uint64
    if t == _T.SCV_DURATION:
        assert sc.duration is not None
        return sc.duration.duration.uint64
    if t == _T.SCV_BYTES:
        assert sc.bytes is not None
        return bytes(sc.bytes.sc_bytes)
    if t == _T.SCV_STRING:
        assert sc.str is not None
        raw = bytes(sc.str.sc_string)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw
    if t in (_T.SCV_I256, _T.SCV_U256):
        return sdk_scval.to_native(sc)
    if t == _T.SCV_ERROR:
        return sc.error
    return sdk_scval.to_native(sc)


def from_b64(data: str) -> xdr.SCVal:
    """Parse a base64 XDR ``SCVal``."""
    return xdr.SCVal.from_xdr(data)


def to_b64(sc: xdr.SCVal) -> str:
    """Serialise an ``SCVal`` as base64 XDR."""
    return base64.b64encode(sc.to_xdr_bytes()).decode()


def decode_scval_b64(data: str) -> Any:
    """Decode a base64 XDR ``SCVal`` straight into a Python value."""
    return decode_scval(from_b64(data))


# ── encoders ────────────────────────────────────────────────────────────────


def symbol(s: str) -> xdr.SCVal:
    return xdr.SCVal(_T.SCV_SYMBOL, sym=xdr.SCSymbol(s.encode()))


def string(s: str) -> xdr.SCVal:
    return xdr.SCVal(_T.SCV_STRING, str=xdr.SCString(s.encode()))


def u32(n: int) -> xdr.SCVal:
    return xdr.SCVal(_T.SCV_U32, u32=xdr.Uint32(n))


def u64(n: int) -> xdr.SCVal:
    return xdr.SCVal(_T.SCV_U64, u64=xdr.Uint64(n))


def i128(n: int) -> xdr.SCVal:
    if not -(1 << 127) <= n < (1 << 127):
        raise ValueError("i128 out of range")
    return xdr.SCVal(
        _T.SCV_I128,
        i128=xdr.Int128Parts(hi=xdr.Int64(n >> 64), lo=xdr.Uint64(n & 0xFFFFFFFFFFFFFFFF)),
    )


def u128(n: int) -> xdr.SCVal:
    if not 0 <= n < (1 << 128):
        raise ValueError("u128 out of range")
    return xdr.SCVal(
        _T.SCV_U128,
        u128=xdr.UInt128Parts(hi=xdr.Uint64(n >> 64), lo=xdr.Uint64(n & 0xFFFFFFFFFFFFFFFF)),
    )


def boolean(b: bool) -> xdr.SCVal:
    return xdr.SCVal(_T.SCV_BOOL, b=b)


def void() -> xdr.SCVal:
    return xdr.SCVal(_T.SCV_VOID)


_ADDRESS_CACHE: dict[str, xdr.SCVal] = {}


def address(strkey: str) -> xdr.SCVal:
    """An ``SCV_ADDRESS`` for a ``G...`` or ``C...`` strkey (cached: addresses repeat)."""
    sc = _ADDRESS_CACHE.get(strkey)
    if sc is None:
        sc = xdr.SCVal(_T.SCV_ADDRESS, address=Address(strkey).to_xdr_sc_address())
        if len(_ADDRESS_CACHE) < 100_000:
            _ADDRESS_CACHE[strkey] = sc
    return sc


def vec(items: Iterable[xdr.SCVal]) -> xdr.SCVal:
    return xdr.SCVal(_T.SCV_VEC, vec=xdr.SCVec(list(items)))


def map_(
    entries: Mapping[xdr.SCVal, xdr.SCVal] | Iterable[tuple[xdr.SCVal, xdr.SCVal]],
) -> xdr.SCVal:
    """A map sorted by the Soroban host's key ordering (stellar-sdk's comparator)."""
    pairs = list(entries.items()) if isinstance(entries, Mapping) else list(entries)
    cmp = functools.cmp_to_key(sdk_scval._compare_sc_val)  # the ordering to_map uses
    pairs.sort(key=lambda kv: cmp(kv[0]))
    return xdr.SCVal(_T.SCV_MAP, map=xdr.SCMap([xdr.SCMapEntry(key=k, val=v) for k, v in pairs]))


def struct(fields: Mapping[str, xdr.SCVal]) -> xdr.SCVal:
    """A ``#[contracttype]`` struct: ``Map`` of ``Symbol`` keys sorted by name."""
    return xdr.SCVal(
        _T.SCV_MAP,
        map=xdr.SCMap([xdr.SCMapEntry(key=symbol(k), val=fields[k]) for k in sorted(fields)]),
    )


def enum_unit(variant: str) -> xdr.SCVal:
    """A unit enum variant / unit ``DataKey``: ``Vec[Symbol(variant)]``."""
    return vec([symbol(variant)])


def enum_tuple(variant: str, *args: xdr.SCVal) -> xdr.SCVal:
    """A tuple variant: ``Vec[Symbol(variant), arg, ...]``."""
    return vec([symbol(variant), *args])


def option(value: Any, encode: Callable[[Any], xdr.SCVal]) -> xdr.SCVal:
    """``Option<T>``: ``Void`` for None, else the encoded value."""
    return void() if value is None else encode(value)
