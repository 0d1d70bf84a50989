"""What every contract decoder shares: strict ScVal readers and the event base class.

A decoder takes an event's topics and value as ``xdr.SCVal`` s and returns a
typed event, or raises :class:`DecodeError` when the shape is not exactly what
the contract emits (wrong arity, wrong ScVal type). Strictness matters: an
event of an upgraded contract with a different shape must be stored raw and
counted, not half-understood.

Each typed event can also ``encode()`` itself back to (topics, value); the
round trip is what the property tests check, and the benchmarks use it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from stellar_sdk import xdr

from orbitpay.stellar import scval as sv

T = xdr.SCValType


class DecodeError(ValueError):
    """The event is not one this decoder understands."""


@dataclass(frozen=True, slots=True)
class ContractEvent:
    """Base of every typed event; ``symbol`` is the first topic it is emitted with."""

    symbol: ClassVar[str] = ""
    kind: ClassVar[str] = ""

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:  # pragma: no cover - abstract
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def expect_arity(topics: list[xdr.SCVal], n: int) -> None:
    if len(topics) != n:
        raise DecodeError(f"expected {n} topics, got {len(topics)}")


def address(sc: xdr.SCVal) -> str:
    if sc.type != T.SCV_ADDRESS:
        raise DecodeError(f"expected an address, got {sc.type.name}")
    return str(sv.decode_scval(sc))


def u32(sc: xdr.SCVal) -> int:
    if sc.type != T.SCV_U32:
        raise DecodeError(f"expected u32, got {sc.type.name}")
    return int(sc.u32.uint32)


def u64(sc: xdr.SCVal) -> int:
    if sc.type != T.SCV_U64:
        raise DecodeError(f"expected u64, got {sc.type.name}")
    return int(sc.u64.uint64)


def i128(sc: xdr.SCVal) -> int:
    if sc.type != T.SCV_I128:
        raise DecodeError(f"expected i128, got {sc.type.name}")
    return int(sv.decode_scval(sc))


def u128(sc: xdr.SCVal) -> int:
    if sc.type != T.SCV_U128:
        raise DecodeError(f"expected u128, got {sc.type.name}")
    return int(sv.decode_scval(sc))


def vec(sc: xdr.SCVal) -> list[xdr.SCVal]:
    if sc.type != T.SCV_VEC or sc.vec is None:
        raise DecodeError(f"expected a vec, got {sc.type.name}")
    return list(sc.vec.sc_vec)


def unit(sc: xdr.SCVal) -> None:
    """``()``: void (or an empty vec, which some SDK versions emit for the unit tuple)."""
    if sc.type == T.SCV_VOID:
        return None
    if sc.type == T.SCV_VEC and sc.vec is not None and not sc.vec.sc_vec:
        return None
    raise DecodeError(f"expected (), got {sc.type.name}")


def enum_variant(sc: xdr.SCVal, variants: tuple[str, ...]) -> str:
    """A ``#[contracttype]`` unit enum value ``Vec[Symbol(name)]`` -> lowercase name.

    A ``#[repr(u32)]`` enum (U32 discriminant) is accepted too, indexing ``variants``.
    """
    if sc.type == T.SCV_VEC and sc.vec is not None and len(sc.vec.sc_vec) == 1:
        inner = sc.vec.sc_vec[0]
        if inner.type == T.SCV_SYMBOL:
            name = inner.sym.sc_symbol.decode(errors="replace")
            if name in variants:
                return name.lower()
    if sc.type == T.SCV_SYMBOL:
        name = sc.sym.sc_symbol.decode(errors="replace")
        if name in variants:
            return name.lower()
    if sc.type == T.SCV_U32 and sc.u32.uint32 < len(variants):
        return variants[sc.u32.uint32].lower()
    raise DecodeError(f"expected one of {variants}")


def encode_variant(name: str) -> xdr.SCVal:
    """Inverse of :func:`enum_variant` for the contracttype encoding (``"yes"`` -> ``[Yes]``)."""
    return sv.enum_unit(name[:1].upper() + name[1:])


def topic_symbol(sc: xdr.SCVal) -> str | None:
    if sc.type == T.SCV_SYMBOL:
        return sc.sym.sc_symbol.decode(errors="replace")
    return None


def sym(name: str) -> xdr.SCVal:
    return sv.symbol(name)
