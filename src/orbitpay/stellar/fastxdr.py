"""A fast, narrow XDR reader for the parts of a transaction envelope the indexer needs.

stellar-sdk's generic XDR classes build an object per field; reading the
contract calls of tens of thousands of envelopes that way dominates the
indexer's CPU time. This reader walks the same bytes with ``struct`` and
returns plain Python values directly, for exactly one shape: a v1 (or fee
bump) envelope whose operations invoke host functions. Anything else (an
``SCError``, a contract instance, an unknown union arm, trailing garbage...)
raises :class:`Unsupported`, and the caller falls back to stellar-sdk. The
values equal :func:`orbitpay.stellar.scval.decode_scval` 's (tests check it).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from stellar_sdk import StrKey

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")

_STRKEYS: dict[tuple[int, bytes], str] = {}


class Unsupported(Exception):
    """The bytes use a shape this reader does not handle; use stellar-sdk instead."""


def _strkey(kind: int, raw: bytes) -> str:
    key = (kind, raw)
    hit = _STRKEYS.get(key)
    if hit is None:
        hit = StrKey.encode_ed25519_public_key(raw) if kind == 0 else StrKey.encode_contract(raw)
        if len(_STRKEYS) < 200_000:
            _STRKEYS[key] = hit
    return hit


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


_SCVAL_NAMES: dict[int, str] = {}


class TVal:
    """A decoded SCVal that still knows its type: what typed decoders check, without the SDK.

    ``code`` is the ``SCValType`` value, ``plain`` the value as
    :func:`orbitpay.stellar.scval.decode_scval` gives it, ``items`` the elements
    of a vec (None for any other type, and for a vec whose optional body is
    absent). The contract decoders (:mod:`orbitpay.contracts.base`) read a
    ``TVal`` exactly as they read an ``xdr.SCVal``.
    """

    __slots__ = ("code", "items", "plain")

    def __init__(self, code: int, plain: Any, items: list[TVal] | None = None) -> None:
        self.code = code
        self.plain = plain
        self.items = items

    @property
    def name(self) -> str:
        """The ``SCValType`` member's name (``SCV_U32``...), as error messages spell it."""
        name = _SCVAL_NAMES.get(self.code)
        if name is None:
            from stellar_sdk import xdr

            name = _SCVAL_NAMES[self.code] = xdr.SCValType(self.code).name
        return name

    def __repr__(self) -> str:
        return f"TVal({self.name}, {self.plain!r})"


class Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def u32(self) -> int:
        v = _U32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return int(v)

    def i32(self) -> int:
        v = _I32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return int(v)

    def u64(self) -> int:
        v = _U64.unpack_from(self.buf, self.pos)[0]
        self.pos += 8
        return int(v)

    def i64(self) -> int:
        v = _I64.unpack_from(self.buf, self.pos)[0]
        self.pos += 8
        return int(v)

    def fixed(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise Unsupported("truncated")
        out = self.buf[self.pos : end]
        self.pos = end + (-n % 4)
        return out

    def var(self, limit: int = 1 << 24) -> bytes:
        n = self.u32()
        if n > limit:
            raise Unsupported("length over limit")
        return self.fixed(n)

    def boolean(self) -> bool:
        v = self.u32()
        if v > 1:
            raise Unsupported("bad bool")
        return v == 1

    # ── Soroban values ──────────────────────────────────────────────────────────

    def address(self) -> str:
        t = self.u32()
        if t == 0:  # account: PublicKey (ed25519 only)
            if self.u32() != 0:
                raise Unsupported("public key type")
            return _strkey(0, self.fixed(32))
        if t == 1:  # contract
            return _strkey(1, self.fixed(32))
        raise Unsupported(f"address type {t}")

    def scval(self, depth: int = 0) -> Any:
        if depth > 64:
            raise Unsupported("too deep")
        t = self.u32()
        if t == 15:  # symbol
            return self.var(32).decode()
        if t == 3:  # u32
            return self.u32()
        if t == 18:
            return self.address()
        if t == 10:  # i128
            hi = self.i64()
            return (hi << 64) | self.u64()
        if t == 5 or t == 7 or t == 8:  # u64, timepoint, duration
            return self.u64()
        if t == 16:  # vec (optional)
            if not self.boolean():
                return []
            n = self.u32()
            return [self.scval(depth + 1) for _ in range(n)]
        if t == 17:  # map (optional)
            out: dict[Any, Any] = {}
            if not self.boolean():
                return out
            for _ in range(self.u32()):
                k = self.scval(depth + 1)
                out[_hashable(k)] = self.scval(depth + 1)
            return out
        if t == 0:
            return self.boolean()
        if t == 1:
            return None
        if t == 9:  # u128
            hi = self.u64()
            return (hi << 64) | self.u64()
        if t == 4:
            return self.i32()
        if t == 6:
            return self.i64()
        if t == 13:  # bytes
            return self.var()
        if t == 14:  # string
            raw = self.var()
            try:
                return raw.decode()
            except UnicodeDecodeError:
                return raw
        raise Unsupported(f"scval type {t}")

    def tval(self, depth: int = 0) -> TVal:
        """The SCVal at the position as a :class:`TVal` (vecs keep their elements typed)."""
        start = self.pos
        code = self.u32()
        if code == 16:  # vec (optional)
            if depth > 64:
                raise Unsupported("too deep")
            if not self.boolean():
                return TVal(16, [], None)
            items = [self.tval(depth + 1) for _ in range(self.u32())]
            return TVal(16, [i.plain for i in items], items)
        self.pos = start
        return TVal(code, self.scval(depth))

    def skip_muxed(self) -> None:
        t = self.u32()
        if t == 0:
            self.fixed(32)
        elif t == 0x100:
            self.u64()
            self.fixed(32)
        else:
            raise Unsupported("muxed account type")

    def invoke_args(self) -> tuple[str, str, list[Any]]:
        contract = self.address()
        function = self.var(32).decode(errors="replace")
        n = self.u32()
        args = [self.scval() for _ in range(n)]
        return contract, function, args

    def authorized(
        self,
        out: list[tuple[str, str, list[Any]]],
        seen: tuple[bytes, tuple[str, str, list[Any]]] | None = None,
    ) -> None:
        """An authorization tree's invocations, depth first.

        ``seen``: the host function's own invocation, as bytes and decoded. The root of
        a direct call's authorization is byte for byte that invocation, so it is not
        decoded again (its arguments are the heavy part of an envelope).
        """
        kind = self.u32()
        if kind != 0:  # create-contract host functions: not ours
            raise Unsupported("authorized function type")
        if seen is not None and self.buf.startswith(seen[0], self.pos):
            self.pos += len(seen[0])
            contract, function, args = seen[1]
            out.append((contract, function, list(args)))
        else:
            out.append(self.invoke_args())
        for _ in range(self.u32()):
            self.authorized(out)


def _skip_preconditions(r: Reader) -> None:
    t = r.u32()
    if t == 0:
        return
    if t == 1:
        r.u64()
        r.u64()
        return
    if t != 2:
        raise Unsupported("precondition type")
    if r.boolean():
        r.u64()
        r.u64()
    if r.boolean():
        r.u32()
        r.u32()
    if r.boolean():
        r.i64()
    r.u64()
    r.u32()
    for _ in range(r.u32()):
        st = r.u32()
        r.fixed(32)
        if st == 3:
            r.var(64)
        elif st not in (0, 1, 2):
            raise Unsupported("signer key type")


def _skip_memo(r: Reader) -> None:
    t = r.u32()
    if t == 0:
        return
    if t == 1:
        r.var(28)
    elif t == 2:
        r.u64()
    elif t in (3, 4):
        r.fixed(32)
    else:
        raise Unsupported("memo type")


Calls = list[tuple[str, str, list[Any], bool]]


def _transaction(r: Reader) -> Calls:
    r.skip_muxed()
    r.u32()  # fee
    r.i64()  # seq
    _skip_preconditions(r)
    _skip_memo(r)
    calls: Calls = []
    for _ in range(r.u32()):
        if r.boolean():
            r.skip_muxed()
        op_type = r.u32()
        if op_type != 24:  # INVOKE_HOST_FUNCTION
            raise Unsupported(f"operation type {op_type}")
        hf = r.u32()
        if hf != 0:
            raise Unsupported(f"host function type {hf}")
        start = r.pos
        contract, function, args = r.invoke_args()
        seen = (r.buf[start : r.pos], (contract, function, args))
        calls.append((contract, function, args, True))
        nested: list[tuple[str, str, list[Any]]] = []
        for _ in range(r.u32()):
            cred = r.u32()
            if cred == 1:
                r.address()
                r.i64()
                r.u32()
                r.scval()
            elif cred != 0:
                raise Unsupported("credentials type")
            r.authorized(nested, seen)
        calls.extend((c, f, a, False) for c, f, a in nested)
    return calls


_TVALS: dict[str, TVal] = {}


def tval_b64(data: str) -> TVal:
    """One base64 SCVal (an event topic or value) as a :class:`TVal`.

    :class:`Unsupported` for anything the reader does not handle, trailing bytes
    included (stellar-sdk refuses those too). Short values (symbols, addresses,
    ids: most topics) are remembered, as the same ones recur in every event.
    """
    hit = _TVALS.get(data)
    if hit is not None:
        return hit
    try:
        r = Reader(base64.b64decode(data, validate=True))
        out = r.tval()
    except (struct.error, UnicodeDecodeError, IndexError, ValueError, TypeError) as exc:
        raise Unsupported(str(exc)) from None
    if r.pos != len(r.buf):
        raise Unsupported("bytes after the value")
    if len(data) <= 64 and len(_TVALS) < 100_000 and out.code != 16 and out.code != 17:
        _TVALS[data] = out  # scalars only: a cached vec's lists could be shared by callers
    return out


def envelope_calls_fast(envelope_b64: str) -> Calls:
    """[(contract, function, args, top_level)] in the order stellar-sdk parsing would give."""
    try:
        r = Reader(base64.b64decode(envelope_b64, validate=False))
        t = r.u32()
        if t == 2:
            return _transaction(r)
        if t == 5:  # fee bump: source, fee, inner envelope type must be v1
            r.skip_muxed()
            r.i64()
            if r.u32() != 2:
                raise Unsupported("inner envelope type")
            return _transaction(r)
        raise Unsupported(f"envelope type {t}")
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise Unsupported(str(exc)) from None
