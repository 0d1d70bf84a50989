"""Governance (budget proposals, weighted votes): events and calls.

Events: ``("init",) admin``, ``("p_create", proposer) id``, ``("vote",
voter) id`` (no choice, no weight), ``("finalize",) status`` (no id),
``("execute",) id``, ``("p_cancel", proposer) id``, ``("m_add",) member``,
``("m_remove",) member``, ``("w_set", member) weight``. ``finalize`` is
silent when it rejects for quorum or grace period: reconciliation finds those.

Calls: ``initialize(admin, members, quorum_percentage, voting_duration,
grace_period)``, ``create_proposal(proposer, title, token, amount, recipient)
-> u32``, ``vote(voter, proposal_id, choice: VoteChoice)``,
``finalize(caller, proposal_id) -> ProposalStatus``, ``execute(admin,
proposal_id)``, ``cancel_proposal(proposer, proposal_id)``,
``add_member(admin, member)``, ``remove_member(admin, member)``,
``set_voting_weight(admin, member, weight: u128)``.
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
    arg_addresses,
    arg_int,
    arg_text,
    decoded_variant,
    encode_variant,
    enum_variant,
    expect_arity,
    sym,
    u32,
    u128,
)
from orbitpay.enums import ContractKind, ProposalStatus, VoteChoice
from orbitpay.stellar import scval as sv

KIND = ContractKind.GOVERNANCE

# ── calls ───────────────────────────────────────────────────────────────────


def vote_choice(value: Any) -> VoteChoice | None:
    """``VoteChoice`` as a decoded argument (``["Yes"]``, ``"Yes"`` or a U32 index)."""
    return decoded_variant(value, VoteChoice)


@dataclass(frozen=True, slots=True)
class Initialize(ContractCall):
    function = "initialize"
    names = ("admin", "members", "quorum_percentage", "voting_duration", "grace_period")
    admin: str
    members: tuple[str, ...]
    quorum_percentage: int
    voting_duration: int
    grace_period: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Initialize:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "admin"),
            arg_addresses(args[1], "members"),
            arg_int(args[2], "quorum_percentage"),
            arg_int(args[3], "voting_duration"),
            arg_int(args[4], "grace_period"),
        )


@dataclass(frozen=True, slots=True)
class CreateProposal(ContractCall):
    function = "create_proposal"
    names = ("proposer", "title", "token", "amount", "recipient")
    proposer: str
    title: str | None
    token: str
    amount: int
    recipient: str

    @classmethod
    def parse(cls, args: Sequence[Any]) -> CreateProposal:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "proposer"),
            arg_text(args[1]),
            arg_address(args[2], "token"),
            arg_int(args[3], "amount"),
            arg_address(args[4], "recipient"),
        )


@dataclass(frozen=True, slots=True)
class Vote(ContractCall):
    function = "vote"
    names = ("voter", "proposal_id", "choice")
    voter: str
    proposal_id: int
    choice: VoteChoice

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Vote:
        cls.check_arity(args)
        choice = vote_choice(args[2])
        if choice is None:
            raise CallError(f"vote choice {args[2]!r} not understood")
        return cls(arg_address(args[0], "voter"), arg_int(args[1], "proposal_id"), choice)


@dataclass(frozen=True, slots=True)
class Finalize(ContractCall):
    function = "finalize"
    names = ("caller", "proposal_id")
    caller: str
    proposal_id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Finalize:
        cls.check_arity(args)
        return cls(arg_address(args[0], "caller"), arg_int(args[1], "proposal_id"))


@dataclass(frozen=True, slots=True)
class Execute(ContractCall):
    function = "execute"
    names = ("admin", "proposal_id")
    admin: str
    proposal_id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> Execute:
        cls.check_arity(args)
        return cls(arg_address(args[0], "admin"), arg_int(args[1], "proposal_id"))


@dataclass(frozen=True, slots=True)
class CancelProposal(ContractCall):
    function = "cancel_proposal"
    names = ("proposer", "proposal_id")
    proposer: str
    proposal_id: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> CancelProposal:
        cls.check_arity(args)
        return cls(arg_address(args[0], "proposer"), arg_int(args[1], "proposal_id"))


@dataclass(frozen=True, slots=True)
class AddMember(ContractCall):
    function = "add_member"
    names = ("admin", "member")
    admin: str
    member: str

    @classmethod
    def parse(cls, args: Sequence[Any]) -> AddMember:
        cls.check_arity(args)
        return cls(arg_address(args[0], "admin"), arg_address(args[1], "member"))


@dataclass(frozen=True, slots=True)
class RemoveMember(ContractCall):
    function = "remove_member"
    names = ("admin", "member")
    admin: str
    member: str

    @classmethod
    def parse(cls, args: Sequence[Any]) -> RemoveMember:
        cls.check_arity(args)
        return cls(arg_address(args[0], "admin"), arg_address(args[1], "member"))


@dataclass(frozen=True, slots=True)
class SetVotingWeight(ContractCall):
    function = "set_voting_weight"
    names = ("admin", "member", "weight")
    admin: str
    member: str
    weight: int

    @classmethod
    def parse(cls, args: Sequence[Any]) -> SetVotingWeight:
        cls.check_arity(args)
        return cls(
            arg_address(args[0], "admin"),
            arg_address(args[1], "member"),
            arg_int(args[2], "weight"),
        )


CALLS: dict[str, type[ContractCall]] = {
    c.function: c
    for c in (
        Initialize,
        CreateProposal,
        Vote,
        Finalize,
        Execute,
        CancelProposal,
        AddMember,
        RemoveMember,
        SetVotingWeight,
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
class ProposalCreated(ContractEvent):
    symbol = "p_create"
    kind = KIND
    call = CreateProposal
    proposer: str
    proposal_id: int

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, CreateProposal) and call.proposer == self.proposer

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("p_create"), sv.address(self.proposer)], sv.u32(self.proposal_id)


@dataclass(frozen=True, slots=True)
class Voted(ContractEvent):
    symbol = "vote"
    kind = KIND
    call = Vote
    voter: str
    proposal_id: int

    def agrees(self, call: ContractCall) -> bool:
        return isinstance(call, Vote) and (call.voter, call.proposal_id) == (
            self.voter,
            self.proposal_id,
        )

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("vote"), sv.address(self.voter)], sv.u32(self.proposal_id)


@dataclass(frozen=True, slots=True)
class Finalized(ContractEvent):
    symbol = "finalize"
    kind = KIND
    call = Finalize
    status: ProposalStatus

    def encode(self) -> tuple[list[xdr.SCVal], xdr.SCVal]:
        return [sym("finalize")], encode_variant(ProposalStatus(self.status))


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
    return Finalized(enum_variant(v, ProposalStatus))


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


EVENTS: tuple[type[ContractEvent], ...] = (
    Initialized,
    ProposalCreated,
    Voted,
    Finalized,
    ProposalExecuted,
    ProposalCancelled,
    MemberAdded,
    MemberRemoved,
    WeightSet,
)
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
