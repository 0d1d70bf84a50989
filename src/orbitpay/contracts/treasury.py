"""Treasury (multi-sig vault): its events and calls.

Events are ``("init",) admin``, ``("deposit", from) amount``,
``("w_create", proposer) id``, ``("approve", signer) id``,
``("w_exec", recipient) amount``, ``("s_add",) signer``,
``("s_remove",) signer``, ``("t_upd",) threshold``. ``deposit`` names no
token and ``w_exec`` no id: both come from the call's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import xdr

from orbitpay.contracts.base import (
    ContractEvent,
    address,
    expect_arity,
    i128,
    sym,
    u32,
)
from orbitpay.stellar import scval as sv

KIND = "treasury"

# Argument names of the contract functions, in order.
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "initialize": ("admin", "signers", "threshold"),
    "deposit": ("from", "token", "amount"),
    "create_withdrawal": ("proposer", "token", "recipient", "amount", "memo"),
    "approve_withdrawal": ("signer", "id"),
    "execute_withdrawal": ("executor", "id"),
    "add_signer": ("admin", "new_signer"),
    "remove_signer": ("admin", "signer"),
    "update_threshold": ("admin", "new_threshold"),
}
WITHDRAWAL_STATUSES = ("Pending", "Approved", "Executed", "Cancelled")


@dataclass(frozen=True, slots=True)
class Initialized(ContractEvent):
    symbol = "init"
    kind = KIND
    admin: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("init")], sv.address(self.admin)


@dataclass(frozen=True, slots=True)
class Deposited(ContractEvent):
    symbol = "deposit"
    kind = KIND
    from_: str
    amount: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("deposit"), sv.address(self.from_)], sv.i128(self.amount)


@dataclass(frozen=True, slots=True)
class WithdrawalCreated(ContractEvent):
    symbol = "w_create"
    kind = KIND
    proposer: str
    withdrawal_id: int

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
