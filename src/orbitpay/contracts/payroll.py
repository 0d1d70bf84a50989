"""Payroll streams: events and calls.

Events: ``("init",) admin``, ``("s_create", sender) id``,
``("b_create", sender) Vec<u32>``, ``("claim", recipient) amount``,
``("cancel", sender) id``. ``s_create`` lacks every stream field and
``b_create`` every per-stream field: they come from the call's arguments;
``claim`` lacks the stream id: it comes from the call.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import xdr

from orbitpay.contracts.base import ContractEvent, address, expect_arity, i128, sym, u32, vec
from orbitpay.stellar import scval as sv

KIND = "payroll"

FUNCTIONS: dict[str, tuple[str, ...]] = {
    "initialize": ("admin",),
    "create_stream": ("sender", "recipient", "token", "total_amount", "start_time", "end_time"),
    "create_batch_streams": ("sender", "streams"),
    "claim": ("recipient", "stream_id"),
    "cancel_stream": ("sender", "stream_id"),
}
STREAM_STATUSES = ("Active", "Paused", "Cancelled", "Completed")


@dataclass(frozen=True, slots=True)
class Initialized(ContractEvent):
    symbol = "init"
    kind = KIND
    admin: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("init")], sv.address(self.admin)


@dataclass(frozen=True, slots=True)
class StreamCreated(ContractEvent):
    symbol = "s_create"
    kind = KIND
    sender: str
    stream_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("s_create"), sv.address(self.sender)], sv.u32(self.stream_id)


@dataclass(frozen=True, slots=True)
class BatchCreated(ContractEvent):
    symbol = "b_create"
    kind = KIND
    sender: str
    stream_ids: tuple[int, ...]

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("b_create"), sv.address(self.sender)], sv.vec(
            [sv.u32(i) for i in self.stream_ids]
        )


@dataclass(frozen=True, slots=True)
class StreamClaimed(ContractEvent):
    symbol = "claim"
    kind = KIND
    recipient: str
    amount: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("claim"), sv.address(self.recipient)], sv.i128(self.amount)


@dataclass(frozen=True, slots=True)
class StreamCancelled(ContractEvent):
    symbol = "cancel"
    kind = KIND
    sender: str
    stream_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("cancel"), sv.address(self.sender)], sv.u32(self.stream_id)


def _init(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return Initialized(address(v))


def _s_create(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return StreamCreated(address(t[1]), u32(v))


def _b_create(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return BatchCreated(address(t[1]), tuple(u32(x) for x in vec(v)))


def _claim(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return StreamClaimed(address(t[1]), i128(v))


def _cancel(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return StreamCancelled(address(t[1]), u32(v))


DECODERS = {
    "init": _init,
    "s_create": _s_create,
    "b_create": _b_create,
    "claim": _claim,
    "cancel": _cancel,
}
