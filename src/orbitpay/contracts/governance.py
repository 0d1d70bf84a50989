"""Governance (budget proposals, weighted votes): events and calls.

Events: ``("init",) admin``, ``("p_create", proposer) id``, ``("vote",
voter) id`` (no choice, no weight), ``("finalize",) status`` (no id),
``("execute",) id``, ``("p_cancel", proposer) id``, ``("m_add",) member``,
``("m_remove",) member``, ``("w_set", member) weight``. ``finalize`` is
silent when it rejects for quorum or grace period: reconciliation finds those.
"""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import xdr

from orbitpay.contracts.base import (
    ContractEvent,
    address,
    encode_variant,
    enum_variant,
    expect_arity,
    sym,
    u32,
    u128,
)
from orbitpay.stellar import scval as sv

KIND = "governance"

FUNCTIONS: dict[str, tuple[str, ...]] = {
    "initialize": ("admin", "members", "quorum_percentage", "voting_duration", "grace_period"),
    "create_proposal": ("proposer", "title", "token", "amount", "recipient"),
    "vote": ("voter", "proposal_id", "choice"),
    "finalize": ("caller", "proposal_id"),
    "execute": ("admin", "proposal_id"),
    "cancel_proposal": ("proposer", "proposal_id"),
    "add_member": ("admin", "member"),
    "remove_member": ("admin", "member"),
    "set_voting_weight": ("admin", "member", "weight"),
}
VOTE_CHOICES = ("Yes", "No", "Abstain")
PROPOSAL_STATUSES = ("Active", "Approved", "Rejected", "Executed", "Cancelled", "Expired")


@dataclass(frozen=True, slots=True)
class Initialized(ContractEvent):
    symbol = "init"
    kind = KIND
    admin: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("init")], sv.address(self.admin)


@dataclass(frozen=True, slots=True)
class ProposalCreated(ContractEvent):
    symbol = "p_create"
    kind = KIND
    proposer: str
    proposal_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("p_create"), sv.address(self.proposer)], sv.u32(self.proposal_id)


@dataclass(frozen=True, slots=True)
class Voted(ContractEvent):
    symbol = "vote"
    kind = KIND
    voter: str
    proposal_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("vote"), sv.address(self.voter)], sv.u32(self.proposal_id)


@dataclass(frozen=True, slots=True)
class Finalized(ContractEvent):
    symbol = "finalize"
    kind = KIND
    status: str  # lowercase ProposalStatus

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("finalize")], encode_variant(self.status)


@dataclass(frozen=True, slots=True)
class ProposalExecuted(ContractEvent):
    symbol = "execute"
    kind = KIND
    proposal_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("execute")], sv.u32(self.proposal_id)


@dataclass(frozen=True, slots=True)
class ProposalCancelled(ContractEvent):
    symbol = "p_cancel"
    kind = KIND
    proposer: str
    proposal_id: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("p_cancel"), sv.address(self.proposer)], sv.u32(self.proposal_id)


@dataclass(frozen=True, slots=True)
class MemberAdded(ContractEvent):
    symbol = "m_add"
    kind = KIND
    member: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("m_add")], sv.address(self.member)


@dataclass(frozen=True, slots=True)
class MemberRemoved(ContractEvent):
    symbol = "m_remove"
    kind = KIND
    member: str

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("m_remove")], sv.address(self.member)


@dataclass(frozen=True, slots=True)
class WeightSet(ContractEvent):
    symbol = "w_set"
    kind = KIND
    member: str
    weight: int

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("w_set"), sv.address(self.member)], sv.u128(self.weight)


def _init(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return Initialized(address(v))


def _p_create(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return ProposalCreated(address(t[1]), u32(v))


def _vote(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return Voted(address(t[1]), u32(v))


def _finalize(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return Finalized(enum_variant(v, PROPOSAL_STATUSES))


def _execute(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return ProposalExecuted(u32(v))


def _p_cancel(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return ProposalCancelled(address(t[1]), u32(v))


def _m_add(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return MemberAdded(address(v))


def _m_remove(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 1)
    return MemberRemoved(address(v))


def _w_set(t: list[xdr.SCVal], v: xdr.SCVal) -> ContractEvent:
    expect_arity(t, 2)
    return WeightSet(address(t[1]), u128(v))


DECODERS = {
    "init": _init,
    "p_create": _p_create,
    "vote": _vote,
    "finalize": _finalize,
    "execute": _execute,
    "p_cancel": _p_cancel,
    "m_add": _m_add,
    "m_remove": _m_remove,
    "w_set": _w_set,
}
