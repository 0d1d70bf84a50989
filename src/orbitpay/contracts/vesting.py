"""Vesting schedules (cliff + linear): events and calls.

Events: ``("init",) admin``, ``("v_create", grantor, beneficiary)
(total_amount, cliff_duration, total_duration)``, ``("v_claim", beneficiary,
id) amount``, ``("v_fully", id) ()``, ``("v_revoke", grantor, id) unvested``.
``v_create`` carries no schedule id: it is the call's return value.

Calls: ``initialize(admin)``, ``create_schedule(grantor, beneficiary, token,
total_amount, start_time, cliff_duration, cliff_amount, total_duration, label,
revocable) -> u32``, ``claim(beneficiary, schedule_id) -> i128``,
``revoke(grantor, schedule_id) -> i128``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stellar_sdk import xdr

from orbitpay.contracts.base import (
    ContractCall,
    ContractEvent,
    DecodeError,
    address,
    arg_address,
    arg_bool,
    arg_int,
    arg_text,
    expect_arity,
    i128,
    sym,
    u32,
    u64,
    unit,
    vec,
)
from orbitpay.enums import ContractKind
from orbitpay.stellar import scval as sv

KIND = ContractKind.VESTING

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
class CreateSchedule(ContractCall):
    function = "create_schedule"
    names = (
        "grantor",
        "beneficiary",
        "token",
        "total_amount",
        "start_time",
        "cliff_duration",
        "cliff_amount",
        "total_duration",
        "label",
        "revocable",
    )
    grantor: str
    beneficiary: str
    token: str
    total_amount: int
    start_time: int
    cliff_duration: int
    cliff_amount: int
    total_duration: int
    label: str | None
    revocable: bool

    @classmethod
    def parse(cls, args: Sequence[Any]) -> CreateSchedule:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "grantor"),
            arg_address(args[1], "beneficiary"),
            arg_address(args[2], "token"),
            arg_int(args[3], "total_amount"),
            arg_int(args[4], "start_time"),
            arg_int(args[5], "cliff_duration"),
            arg_int(args[6], "cliff_amount"),
            arg_int(args[7], "total_duration"),
            arg_text(args[8]),
            arg_bool(args[9], "revocable"),
        )


@dataclass(frozen=True, slots=True)
class Claim(ContractCall):
    function = "claim"
    names = ("beneficiary", "schedule_id")
    beneficiary: str
    schedule_id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Claim:
        cls.check_arity(args)
        return cls(arg_address(args[0], "beneficiary"), arg_int(args[1], "schedule_id"))


@dataclass(frozen=True, slots=True)
class Revoke(ContractCall):
    function = "revoke"
    names = ("grantor", "schedule_id")
    grantor: str
    schedule_id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Revoke:
        cls.check_arity(args)
        return cls(arg_address(args[0], "grantor"), arg_int(args[1], "schedule_id"))


CALLS: dict[str, type[ContractCall]] = {
    c.function: c for c in (Initialize, CreateSchedule, Claim, Revoke)
}

# ── events ──────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Initialized(ContractEvent):
    symbol = "init"
    kind = KIND
    admin: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("init")], sv.address(self.admin)


@dataclass(frozen=True, slots=True)
class ScheduleCreated(ContractEvent):
    symbol = "v_create"
    kind = KIND
    call = CreateSchedule
    grantor: str
    beneficiary: str
    total_amount: int
    cliff_duration: int
    total_duration: int

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, CreateSchedule) and (
            call.grantor,
            call.beneficiary,
            call.total_amount,
            call.cliff_duration,
            call.total_duration,
        ) == (
            self.grantor,
            self.beneficiary,
            self.total_amount,
            self.cliff_duration,
            self.total_duration,
        )

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("v_create"), sv.address(self.grantor), sv.address(self.beneficiary)], sv.vec(
            [sv.i128(self.total_amount), sv.u64(self.cliff_duration), sv.u64(self.total_duration)]
        )


@dataclass(frozen=True, slots=True)
class ScheduleClaimed(ContractEvent):
    symbol = "v_claim"
    kind = KIND
    beneficiary: str
    schedule_id: int
    amount: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("v_claim"), sv.address(self.beneficiary), sv.u32(self.schedule_id)], sv.i128(
            self.amount
        )


@dataclass(frozen=True, slots=True)
class ScheduleFullyClaimed(ContractEvent):
    symbol = "v_fully"
    kind = KIND
    schedule_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("v_fully"), sv.u32(self.schedule_id)], sv.void()


@dataclass(frozen=True, slots=True)
class ScheduleRevoked(ContractEvent):
    symbol = "v_revoke"
    kind = KIND
    grantor: str
    schedule_id: int
    unvested_amount: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("v_revoke"), sv.address(self.grantor), sv.u32(self.schedule_id)], sv.i128(
            self.unvested_amount
        )


def _init(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return Initialized(address(v))


def _v_create(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 3)
    items = vec(v)
    if len(items) != 3:
        raise DecodeError("v_create value must be (total_amount, cliff_duration, total_duration)")
    return ScheduleCreated(
        address(t[1]), address(t[2]), i128(items[0]), u64(items[1]), u64(items[2])
    )


def _v_claim(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 3)
    return ScheduleClaimed(address(t[1]), u32(t[2]), i128(v))


def _v_fully(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    unit(v)
    return ScheduleFullyClaimed(u32(t[1]))


def _v_revoke(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 3)
    return ScheduleRevoked(address(t[1]), u32(t[2]), i128(v))


EVENTS: tuple[type[ContractEvent], ...] = (
    Initialized,
    ScheduleCreated,
    ScheduleClaimed,
    ScheduleFullyClaimed,
    ScheduleRevoked,
)
DECODERS = {
    "init": _init,
    "v_create": _v_create,
    "v_claim": _v_claim,
    "v_fully": _v_fully,
    "v_revoke": _v_revoke,
}
