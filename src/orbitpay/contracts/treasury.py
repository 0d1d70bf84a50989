"""Treasury (multi-sig vault): its events and calls.

Events are ``("init",) admin``, ``("deposit", from) amount``,
``("w_create", proposer) id``, ``("approve", signer) id``,
``("w_exec", recipient) amount``, ``("s_add",) signer``,
``("s_remove",) signer``, ``("t_upd",) threshold``. ``deposit`` names no
token and ``w_exec`` no id: both come from the call's arguments.

Calls (one record per contract function): ``initialize(admin, signers,
threshold)``, ``deposit(from, token, amount)``, ``create_withdrawal(proposer,
token, recipient, amount, memo) -> u32``, ``approve_withdrawal(signer, id)``,
``execute_withdrawal(executor, id)``, ``add_signer(admin, new_signer)``,
``remove_signer(admin, signer)``, ``update_threshold(admin, new_threshold)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stellar_sdk import xdr

from orbitpay.contracts.base import (
    ContractCall,
    ContractEvent,
    address,
    arg_address,
    arg_addresses,
    arg_int,
    arg_text,
    expect_arity,
    i128,
    sym,
    u32,
)
from orbitpay.enums import ContractKind
from orbitpay.stellar import scval as sv

KIND = ContractKind.TREASURY

# ── calls ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Initialize(ContractCall):
    function = "initialize"
    names = ("admin", "signers", "threshold")
    admin: str
    signers: tuple[str, ...]
    threshold: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Initialize:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "admin"),
            arg_addresses(args[1], "signers"),
            arg_int(args[2], "threshold"),
        )


@dataclass(frozen=True, slots=True)
class Deposit(ContractCall):
    function = "deposit"
    names = ("from", "token", "amount")
    from_: str
    token: str
    amount: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Deposit:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "from"),
            arg_address(args[1], "token"),
            arg_int(args[2], "amount"),
        )


@dataclass(frozen=True, slots=True)
class CreateWithdrawal(ContractCall):
    function = "create_withdrawal"
    names = ("proposer", "token", "recipient", "amount", "memo")
    proposer: str
    token: str
    recipient: str
    amount: int
    memo: str | None

    @classmethod
    def parse(cls, args: Sequence[Any]) -> CreateWithdrawal:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "proposer"),
            arg_address(args[1], "token"),
            arg_address(args[2], "recipient"),
            arg_int(args[3], "amount"),
            arg_text(args[4]),
        )


@dataclass(frozen=True, slots=True)
class ApproveWithdrawal(ContractCall):
    function = "approve_withdrawal"
    names = ("signer", "id")
    signer: str
    id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> ApproveWithdrawal:
        cls.check_arity(args)
        return cls(arg_address(args[0], "signer"), arg_int(args[1], "id"))


@dataclass(frozen=True, slots=True)
class ExecuteWithdrawal(ContractCall):
    function = "execute_withdrawal"
    names = ("executor", "id")
    executor: str
    id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> ExecuteWithdrawal:
        cls.check_arity(args)
        return cls(arg_address(args[0], "executor"), arg_int(args[1], "id"))


@dataclass(frozen=True, slots=True)
class AddSigner(ContractCall):
    function = "add_signer"
    names = ("admin", "new_signer")
    admin: str
    new_signer: str

    @classmethod
    def parse(cls, args: Sequence[Any]) -> AddSigner:
        cls.check_arity(args)
        return cls(arg_address(args[0], "admin"), arg_address(args[1], "new_signer"))


@dataclass(frozen=True, slots=True)
class RemoveSigner(ContractCall):
    function = "remove_signer"
    names = ("admin", "signer")
    admin: str
    signer: str

    @classmethod
    def parse(cls, args: Sequence[Any]) -> RemoveSigner:
        cls.check_arity(args)
        return cls(arg_address(args[0], "admin"), arg_address(args[1], "signer"))


@dataclass(frozen=True, slots=True)
class UpdateThreshold(ContractCall):
    function = "update_threshold"
    names = ("admin", "new_threshold")
    admin: str
    new_threshold: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> UpdateThreshold:
        cls.check_arity(args)
        return cls(arg_address(args[0], "admin"), arg_int(args[1], "new_threshold"))


CALLS: dict[str, type[ContractCall]] = {
    c.function: c
    for c in (
        Initialize,
        Deposit,
        CreateWithdrawal,
        ApproveWithdrawal,
        ExecuteWithdrawal,
        AddSigner,
        RemoveSigner,
        UpdateThreshold,
    )
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
class Deposited(ContractEvent):
    symbol = "deposit"
    kind = KIND
    call = Deposit
    from_: str
    amount: int

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, Deposit) and (call.from_, call.amount) == (self.from_, self.amount)

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("deposit"), sv.address(self.from_)], sv.i128(self.amount)


@dataclass(frozen=True, slots=True)
class WithdrawalCreated(ContractEvent):
    symbol = "w_create"
    kind = KIND
    call = CreateWithdrawal
    proposer: str
    withdrawal_id: int

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, CreateWithdrawal) and call.proposer == self.proposer

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("w_create"), sv.address(self.proposer)], sv.u32(self.withdrawal_id)


@dataclass(frozen=True, slots=True)
class WithdrawalApproved(ContractEvent):
    symbol = "approve"
    kind = KIND
    signer: str
    withdrawal_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("approve"), sv.address(self.signer)], sv.u32(self.withdrawal_id)


@dataclass(frozen=True, slots=True)
class WithdrawalExecuted(ContractEvent):
    symbol = "w_exec"
    kind = KIND
    call = ExecuteWithdrawal
    recipient: str
    amount: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("w_exec"), sv.address(self.recipient)], sv.i128(self.amount)


@dataclass(frozen=True, slots=True)
class SignerAdded(ContractEvent):
    symbol = "s_add"
    kind = KIND
    signer: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("s_add")], sv.address(self.signer)


@dataclass(frozen=True, slots=True)
class SignerRemoved(ContractEvent):
    symbol = "s_remove"
    kind = KIND
    signer: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("s_remove")], sv.address(self.signer)


@dataclass(frozen=True, slots=True)
class ThresholdUpdated(ContractEvent):
    symbol = "t_upd"
    kind = KIND
    threshold: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("t_upd")], sv.u32(self.threshold)


def _init(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return Initialized(address(v))


def _deposit(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return Deposited(address(t[1]), i128(v))


def _w_create(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return WithdrawalCreated(address(t[1]), u32(v))


def _approve(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return WithdrawalApproved(address(t[1]), u32(v))


def _w_exec(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return WithdrawalExecuted(address(t[1]), i128(v))


def _s_add(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return SignerAdded(address(v))


def _s_remove(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return SignerRemoved(address(v))


def _t_upd(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return ThresholdUpdated(u32(v))


EVENTS: tuple[type[ContractEvent], ...] = (
    Initialized,
    Deposited,
    WithdrawalCreated,
    WithdrawalApproved,
    WithdrawalExecuted,
    SignerAdded,
    SignerRemoved,
    ThresholdUpdated,
)
DECODERS = {
    "init": _init,
    "deposit": _deposit,
    "w_create": _w_create,
    "approve": _approve,
    "w_exec": _w_exec,
    "s_add": _s_add,
    "s_remove": _s_remove,
    "t_upd": _t_upd,
}
