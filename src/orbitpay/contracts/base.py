"""What every contract decoder shares: strict readers, the event and call base classes.

A decoder takes an event's topics and value as ``xdr.SCVal`` s and returns a
typed event, or raises :class:`DecodeError` when the shape is not exactly what
the contract emits (wrong arity, wrong ScVal type). Strictness matters: an
event of an upgraded contract with a different shape must be stored raw and
counted, not half-understood.

Each typed event can also ``encode()`` itself back to (topics, value); the
round trip is what the property tests check, and the benchmarks use it.

A contract call (a transaction's invocation of one contract function, its
arguments decoded to Python values) becomes one :class:`ContractCall` record
per function, built once by ``parse``: a call whose arguments are not shaped
as the function's signature says raises :class:`CallError` there, so the
projection rules only ever read typed attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self, TypeVar

from stellar_sdk import xdr

from orbitpay.enums import ContractEnum
from orbitpay.stellar import scval as sv
from orbitpay.stellar.fastxdr import TVal

T = xdr.SCValType
E = TypeVar("E", bound=ContractEnum)

Val = xdr.SCVal | TVal
"""What the readers below take: a stellar-sdk ``SCVal``, or the fast path's :class:`TVal`
(:func:`orbitpay.contracts.registry.decode_event` reads events without the SDK when it can;
both give the same result or the same error)."""

_SYMBOL, _U32, _U64, _U128, _I128, _VEC, _ADDRESS, _VOID = 15, 3, 5, 9, 10, 16, 18, 1


class DecodeError(ValueError):
    """The event is not one this decoder understands."""


class CallError(ValueError):
    """A call's arguments are not shaped as the contract function's signature says."""


@dataclass(frozen=True, slots=True)
class ContractCall:
    """Base of the typed arguments of one contract function's call.

    ``function`` is the contract function's name and ``names`` its parameter
    names in order (as the Rust signature spells them; a field may differ where
    the name is a Python keyword, e.g. ``from_``).
    """

    function: ClassVar[str] = ""
    names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Self:  # pragma: no cover - abstract
        """The record of a call with these decoded arguments; ``CallError`` if misshapen."""
        raise NotImplementedError

    @classmethod
    def check_arity(cls, args: Sequence[Any]) -> None:
        if len(args) != len(cls.names):
            raise CallError(f"{cls.function} takes {len(cls.names)} arguments, got {len(args)}")


@dataclass(frozen=True, slots=True)
class ContractEvent:
    """Base of every typed event; ``symbol`` is the first topic it is emitted with.

    A *thin* event (one that lacks fields only its call has) names that call's
    record class in ``call``; :meth:`agrees` says whether a given call of that
    function could have emitted this event (the fields both carry are equal).
    """

    symbol: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    call: ClassVar[type[ContractCall] | None] = None

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:  # pragma: no cover - abstract
        raise NotImplementedError

    def agrees(self, call: ContractCall) -> bool:
        """Could ``call`` (a record of ``self.call``) have emitted this event?"""
        return isinstance(call, self.call) if self.call is not None else False

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def expect_arity(topics: Sequence[Val], n: int) -> None:
    if len(topics) != n:
        raise DecodeError(f"expected {n} topics, got {len(topics)}")


def _int(sc: Val, code: int, what: str) -> int:
    """An integer arm (u32, u64, u128, i128) of either representation."""
    if isinstance(sc, TVal):
        if sc.code != code:
            raise DecodeError(f"expected {what}, got {sc.name}")
        return int(sc.plain)
    if sc.type.value != code:
        raise DecodeError(f"expected {what}, got {sc.type.name}")
    return int(sv.decode_scval(sc))


def address(sc: Val) -> str:
    if isinstance(sc, TVal):
        if sc.code != _ADDRESS:
            raise DecodeError(f"expected an address, got {sc.name}")
        return str(sc.plain)
    if sc.type != T.SCV_ADDRESS:
        raise DecodeError(f"expected an address, got {sc.type.name}")
    return str(sv.decode_scval(sc))


def u32(sc: Val) -> int:
    return _int(sc, _U32, "u32")


def u64(sc: Val) -> int:
    return _int(sc, _U64, "u64")


def i128(sc: Val) -> int:
    return _int(sc, _I128, "i128")


def u128(sc: Val) -> int:
    return _int(sc, _U128, "u128")


def _items(sc: Val) -> list[Val] | None:
    """A vec's elements; None when ``sc`` is not a vec or its optional body is absent."""
    if isinstance(sc, TVal):
        return list(sc.items) if sc.code == _VEC and sc.items is not None else None
    if sc.type != T.SCV_VEC or sc.vec is None:
        return None
    return list(sc.vec.sc_vec)


def _name(sc: Val) -> str:
    return sc.name if isinstance(sc, TVal) else sc.type.name


def _code(sc: Val) -> int:
    return sc.code if isinstance(sc, TVal) else sc.type.value


def vec(sc: Val) -> list[Val]:
    items = _items(sc)
    if items is None:
        raise DecodeError(f"expected a vec, got {_name(sc)}")
    return items


def unit(sc: Val) -> None:
    """``()``: void (or an empty vec, which some SDK versions emit for the unit tuple)."""
    if _code(sc) == _VOID:
        return None
    if _items(sc) == []:
        return None
    raise DecodeError(f"expected (), got {_name(sc)}")


def _variants(enum: type[E]) -> tuple[tuple[str, ...], dict[str, E]]:
    """``enum``'s Rust variant names in discriminant order, and the member of each (cached)."""
    table = _VARIANTS.get(enum)
    if table is None:
        names = enum.variants()
        table = _VARIANTS[enum] = (names, {n: enum.from_variant(n) for n in names})
    return table  # the table of ``enum``: its members are E


_VARIANTS: dict[type[ContractEnum], tuple[tuple[str, ...], dict[str, Any]]] = {}


def enum_variant(sc: Val, enum: type[E]) -> E:
    """A ``#[contracttype]`` unit enum value ``Vec[Symbol(name)]`` -> its member.

    A ``#[repr(u32)]`` enum (U32 discriminant) is accepted too, indexing the variants.
    """
    variants, members = _variants(enum)
    name: str | None = None
    code = _code(sc)
    items = _items(sc)
    if items is not None and len(items) == 1:
        name = topic_symbol(items[0])
    elif code == _SYMBOL:
        name = topic_symbol(sc)
    elif code == _U32 and u32(sc) < len(variants):
        name = variants[u32(sc)]
    member = members.get(name) if name is not None else None
    if member is None:
        raise DecodeError(f"expected one of {variants}")
    return member


def encode_variant(member: ContractEnum) -> xdr.SCVal:
    """Inverse of :func:`enum_variant` for the contracttype encoding (``yes`` -> ``[Yes]``)."""
    return sv.enum_unit(member.variant)


def decoded_variant(value: Any, enum: type[E]) -> E | None:
    """A unit enum as a decoded call argument (``["Yes"]``, ``"Yes"`` or a U32 index)."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    variants, members = _variants(enum)
    if isinstance(value, str):
        return members.get(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(variants):
        return members[variants[value]]
    return None


def topic_symbol(sc: Val) -> str | None:
    if isinstance(sc, TVal):
        return str(sc.plain) if sc.code == _SYMBOL else None
    if sc.type == T.SCV_SYMBOL and sc.sym is not None:
        return sc.sym.sc_symbol.decode(errors="replace")
    return None


def sym(name: str) -> xdr.SCVal:
    return sv.symbol(name)


# ── call arguments (decoded ScVals: addresses and symbols are str, integers int) ──


def arg_address(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise CallError(f"{name}: expected an address, got {type(value).__name__}")
    return value


def arg_int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CallError(f"{name}: expected an integer, got {type(value).__name__}")
    return value


def arg_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise CallError(f"{name}: expected a bool, got {type(value).__name__}")
    return value


def arg_text(value: Any) -> str | None:
    """A ``Symbol``/``String`` argument kept only as a label: anything else is no label."""
    return value if isinstance(value, str) else None


def arg_addresses(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise CallError(f"{name}: expected a vec of addresses, got {type(value).__name__}")
    return tuple(arg_address(v, f"{name}[{i}]") for i, v in enumerate(value))
