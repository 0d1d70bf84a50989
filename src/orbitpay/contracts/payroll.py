"""Payroll streams: events and calls.

Events: ``("init",) admin``, ``("s_create", sender) id``,
``("b_create", sender) Vec<u32>``, ``("claim", recipient) amount``,
``("cancel", sender) id``. ``s_create`` lacks every stream field and
``b_create`` every per-stream field: they come from the call's arguments;
``claim`` lacks the stream id: it comes from the call.

Calls: ``initialize(admin)``, ``create_stream(sender, recipient, token,
total_amount, start_time, end_time) -> u32``, ``create_batch_streams(sender,
Vec<CreateStreamParams>) -> Vec<u32>``, ``claim(recipient, stream_id) ->
i128``, ``cancel_stream(sender, stream_id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stellar_sdk import xdr

from orbitpay.contracts.base import (
    CallError,
    ContractCall,
    ContractEvent,
    address,
    arg_address,
    arg_int,
    expect_arity,
    i128,
    sym,
    u32,
    vec,
)
from orbitpay.enums import ContractKind
from orbitpay.stellar import scval as sv

KIND = ContractKind.PAYROLL

# ── calls ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Initialize(ContractCall):
    function = "initialize"
    names = ("admin",)
    admin: str

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Initialize:
        cls.check_arity(args)
        return cls(arg_address(args[0], "admin"))


@dataclass(frozen=True, slots=True)
class StreamParams:
    """One stream of a batch: the contract's ``CreateStreamParams`` struct."""

    recipient: str
    token: str
    total_amount: int
    start_time: int
    end_time: int

    @classmethod
    def parse(cls, value: Any, name: str) -> StreamParams:
        """From the decoded struct (a map keyed by field name; extra keys are ignored)."""
        if not isinstance(value, dict):
            raise CallError(f"{name}: expected a CreateStreamParams map")
        try:
            return cls(
                arg_address(value["recipient"], f"{name}.recipient"),
                arg_address(value["token"], f"{name}.token"),
                arg_int(value["total_amount"], f"{name}.total_amount"),
                arg_int(value["start_time"], f"{name}.start_time"),
                arg_int(value["end_time"], f"{name}.end_time"),
            )
        except KeyError as exc:
            raise CallError(f"{name}: no field {exc.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class CreateStream(ContractCall):
    function = "create_stream"
    names = ("sender", "recipient", "token", "total_amount", "start_time", "end_time")
    sender: str
    recipient: str
    token: str
    total_amount: int
    start_time: int
    end_time: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> CreateStream:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "sender"),
            arg_address(args[1], "recipient"),
            arg_address(args[2], "token"),
            arg_int(args[3], "total_amount"),
            arg_int(args[4], "start_time"),
            arg_int(args[5], "end_time"),
        )

    @property
    def params(self) -> StreamParams:
        return StreamParams(
            self.recipient, self.token, self.total_amount, self.start_time, self.end_time
        )


@dataclass(frozen=True, slots=True)
class CreateBatchStreams(ContractCall):
    function = "create_batch_streams"
    names = ("sender", "streams")
    sender: str
    streams: tuple[StreamParams, ...]

    @classmethod
    def parse(cls, args: Sequence[Any]) -> CreateBatchStreams:
        cls.check_arity(args)
        streams = args[1]
        if not isinstance(streams, list | tuple):
            raise CallError("streams: expected a vec of CreateStreamParams")
        return cls(
            arg_address(args[0], "sender"),
            tuple(StreamParams.parse(p, f"streams[{i}]") for i, p in enumerate(streams)),
        )


@dataclass(frozen=True, slots=True)
class Claim(ContractCall):
    function = "claim"
    names = ("recipient", "stream_id")
    recipient: str
    stream_id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Claim:
        cls.check_arity(args)
        return cls(arg_address(args[0], "recipient"), arg_int(args[1], "stream_id"))


@dataclass(frozen=True, slots=True)
class CancelStream(ContractCall):
    function = "cancel_stream"
    names = ("sender", "stream_id")
    sender: str
    stream_id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> CancelStream:
        cls.check_arity(args)
        return cls(arg_address(args[0], "sender"), arg_int(args[1], "stream_id"))


CALLS: dict[str, type[ContractCall]] = {
    c.function: c for c in (Initialize, CreateStream, CreateBatchStreams, Claim, CancelStream)
}

# ── events ──────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Initialized(ContractEvent):
    symbol = "init"
    kind = KIND
    call = Initialize
    admin: str

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, Initialize) and call.admin == self.admin

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("init")], sv.address(self.admin)


@dataclass(frozen=True, slots=True)
class StreamCreated(ContractEvent):
    symbol = "s_create"
    kind = KIND
    call = CreateStream
    sender: str
    stream_id: int

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, CreateStream) and call.sender == self.sender

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("s_create"), sv.address(self.sender)], sv.u32(self.stream_id)


@dataclass(frozen=True, slots=True)
class BatchCreated(ContractEvent):
    symbol = "b_create"
    kind = KIND
    call = CreateBatchStreams
    sender: str
    stream_ids: tuple[int, ...]

    def agrees(self, call: ContractCall) -> bool:
        return (
            isinstance(call, CreateBatchStreams)
            and call.sender == self.sender
            and len(call.streams) == len(self.stream_ids)
        )

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("b_create"), sv.address(self.sender)], sv.vec(
            [sv.u32(i) for i in self.stream_ids]
        )


@dataclass(frozen=True, slots=True)
class StreamClaimed(ContractEvent):
    symbol = "claim"
    kind = KIND
    call = Claim
    recipient: str
    amount: int

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, Claim) and call.recipient == self.recipient

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


EVENTS: tuple[type[ContractEvent], ...] = (
    Initialized,
    StreamCreated,
    BatchCreated,
    StreamClaimed,
    StreamCancelled,
)
DECODERS = {
    "init": _init,
    "s_create": _s_create,
    "b_create": _b_create,
    "claim": _claim,
    "cancel": _cancel,
}
