"""The values handed from stage to stage: an event with its context, rows, a snapshot, changes.

``Item``: one ``getEvents`` event, its decoding, its contract and (when the
event is thin) its transaction context and the typed call it came from
(``indexer.enrich``). The rows (``ContractRow``, ``StreamRow``, ...) are the
tables' rows as dataclasses whose field names are the column names, so the
store writes them without a per-row mapping: the rows written through JSON
(entities, history rows, discrepancies) are plain dataclasses, not slots ones,
because orjson encodes a dataclass's ``__dict__`` directly and is about three
times slower reading slots (10,000 rows: 1.9 ms against 6.3 ms), which would
make the bulk writes slower than the dicts they replace. ``Snapshot``: the current
rows of the entities a page touches, keyed like the tables' primary keys.
``Changes``: the rows a page produces, and which families of data changed
(``Changed``, for the read cache). The projection rules (``indexer.project``)
are functions from (items, snapshot) to changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from orbitpay.contracts.base import ContractCall
from orbitpay.contracts.registry import Decoded
from orbitpay.enums import (
    ClaimKind,
    DiscrepancyEntity,
    DiscrepancySource,
    ProposalStatus,
    ScheduleStatus,
    StreamStatus,
    TreasuryEventType,
    VoteChoice,
    WithdrawalStatus,
)
from orbitpay.stellar.rpc import RawEvent
from orbitpay.stellar.tx import TxContext

Key = tuple[str, int]  # (contract_id, on-chain id)
MemberKey = tuple[str, str]  # (contract_id, address)
VoteKey = tuple[str, int, str]  # (contract_id, proposal_id, voter)


@dataclass(frozen=True, slots=True)
class ContractInfo:
    contract_id: str
    kind: str
    organization_id: int


@dataclass(slots=True)
class Item:
    """One event on its way through the stages.

    ``call`` is the typed record of the contract call behind a thin event
    (set by enrichment); ``problem`` says why it could not be found or read,
    and the event is then stored but not applied (a ``discrepancies`` row).
    """

    raw: RawEvent
    contract: ContractInfo
    decoded: Decoded
    tx: TxContext | None = None
    tx_error: str | None = None
    call: ContractCall | None = None
    call_top_level: bool = False
    problem: str | None = None

    @property
    def applies(self) -> bool:
        """True when the event may change state (successful call, successful transaction)."""
        if not self.raw.in_successful_contract_call or self.decoded.event is None:
            return False
        return not (self.tx is not None and not self.tx.successful)


# ── entity rows (mutable: the projection updates them in place) ─────────────────


@dataclass(slots=True)
class ContractParams:
    """``contracts.params``: what the projection tracks per contract kind.

    None means unknown (e.g. the contract's ``init`` is not indexed). Keys the
    indexer does not know (written by another version) are kept in ``other``.
    """

    signers: list[str] | None = None
    threshold: int | None = None
    withdrawal_count: int | None = None
    stream_count: int | None = None
    schedule_count: int | None = None
    quorum_percentage: int | None = None
    voting_duration: int | None = None
    grace_period: int | None = None
    total_weight: int | None = None
    proposal_count: int | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> ContractParams:
        params = cls()
        for k, v in (value or {}).items():
            if k in _PARAM_NAMES and k != "other":
                setattr(params, k, list(v) if k == "signers" and v is not None else v)
            else:
                params.other[k] = v
        return params

    def to_json(self) -> dict[str, Any]:
        out = dict(self.other)
        for name in _PARAM_NAMES:
            value = getattr(self, name)
            if value is not None and name != "other":
                out[name] = value
        return out


_PARAM_NAMES = tuple(f.name for f in fields(ContractParams))


@dataclass(slots=True)
class ContractRow:
    contract_id: str
    kind: str
    organization_id: int
    admin: str | None = None
    params: ContractParams = field(default_factory=ContractParams)
    initialized_ledger: int | None = None
    last_ledger: int | None = None


@dataclass(slots=True)
class OrganizationRow:
    id: int
    admin: str | None


@dataclass
class WithdrawalRow:
    contract_id: str
    withdrawal_id: int
    proposer: str
    token: str
    recipient: str
    amount: int
    memo: str | None
    status: WithdrawalStatus
    executed_ledger: int | None
    executed_at: datetime | None
    created_ledger: int
    created_tx_hash: str
    created_at: datetime
    last_ledger: int
    # The row's state includes every event up to here (a ledger-entry read); see
    # indexer.bootstrap. Events at or below it write history rows only.
    state_ledger: int | None = None


@dataclass
class StreamRow:
    contract_id: str
    stream_id: int
    sender: str
    recipient: str
    token: str
    total_amount: int
    claimed_amount: int
    refunded_amount: int
    rate_per_second: int | None
    start_time: int
    end_time: int
    last_claim_time: int | None
    status: StreamStatus
    batch: bool
    cancelled_at: datetime | None
    created_ledger: int
    created_tx_hash: str
    created_at: datetime
    last_ledger: int
    # The row's state includes every event up to here (a ledger-entry read); see
    # indexer.bootstrap. Events at or below it write history rows only.
    state_ledger: int | None = None


@dataclass
class ScheduleRow:
    contract_id: str
    schedule_id: int
    grantor: str
    beneficiary: str
    token: str
    total_amount: int
    original_total_amount: int
    claimed_amount: int
    start_time: int
    cliff_duration: int
    cliff_time: int
    cliff_amount: int
    total_duration: int
    end_time: int
    label: str | None
    revocable: bool
    status: ScheduleStatus
    revoked_at: datetime | None
    revoked_amount: int | None
    created_ledger: int
    created_tx_hash: str
    created_at: datetime
    last_ledger: int
    # The row's state includes every event up to here (a ledger-entry read); see
    # indexer.bootstrap. Events at or below it write history rows only.
    state_ledger: int | None = None


@dataclass
class ProposalRow:
    contract_id: str
    proposal_id: int
    proposer: str
    title: str | None
    token: str
    amount: int
    recipient: str
    status: ProposalStatus
    yes_votes: int
    no_votes: int
    abstain_votes: int
    start_time: int
    end_time: int
    finalized_at: datetime | None
    executed_at: datetime | None
    created_ledger: int
    created_tx_hash: str
    created_at: datetime
    last_ledger: int
    # The row's state includes every event up to here (a ledger-entry read); see
    # indexer.bootstrap. Events at or below it write history rows only.
    state_ledger: int | None = None


@dataclass
class MemberRow:
    contract_id: str
    member: str
    weight: int
    active: bool
    added_ledger: int | None
    removed_ledger: int | None
    last_ledger: int
    # The row's state includes every event up to here (a ledger-entry read); see
    # indexer.bootstrap. Events at or below it write history rows only.
    state_ledger: int | None = None


# ── history rows (written once) ────────────────────────────────────────────────


@dataclass
class EventRow:
    id: str
    contract_id: str
    ledger: int
    ledger_closed_at: datetime
    tx_hash: str
    transaction_index: int | None
    operation_index: int | None
    event_type: str
    type: str | None
    topic_symbols: list[str]
    topics: list[Any] | None
    value: Any
    topics_xdr: list[str]
    value_xdr: str
    recognised: bool
    in_successful_contract_call: bool
    decode_error: str | None


@dataclass
class TreasuryEventRow:
    event_id: str
    contract_id: str
    type: TreasuryEventType
    address: str | None
    amount: int | None
    token: str | None
    withdrawal_id: int | None
    ledger: int
    tx_hash: str
    timestamp: datetime


@dataclass
class ApprovalRow:
    contract_id: str
    withdrawal_id: int
    signer: str
    ledger: int
    tx_hash: str
    approved_at: datetime


@dataclass
class StreamClaimRow:
    event_id: str
    contract_id: str
    stream_id: int
    kind: ClaimKind
    recipient: str
    token: str
    amount: int
    ledger: int
    tx_hash: str
    claimed_at: datetime


@dataclass
class VestingClaimRow:
    event_id: str
    contract_id: str
    schedule_id: int
    beneficiary: str
    token: str
    amount: int
    ledger: int
    tx_hash: str
    claimed_at: datetime


@dataclass
class VoteRow:
    contract_id: str
    proposal_id: int
    voter: str
    choice: VoteChoice
    weight: int
    event_id: str
    ledger: int
    tx_hash: str
    voted_at: datetime


@dataclass
class Discrepancy:
    """A ``discrepancies`` row: something the chain says that the index cannot take as is.

    Build it with :meth:`of`, which stores values as text the way the table
    does; :meth:`as_row` is the column mapping for SQL writers.
    """

    source: DiscrepancySource
    contract_id: str | None
    entity: str  # a DiscrepancyEntity, or another noun a later stage uses
    entity_id: str | None
    field: str | None
    indexed_value: str | None
    chain_value: str | None
    ledger: int | None
    message: str
    details: dict[str, Any] | None
    corrected: bool = False

    @classmethod
    def of(
        cls,
        source: DiscrepancySource,
        entity: DiscrepancyEntity | str,
        message: str,
        *,
        contract_id: str | None = None,
        entity_id: object = None,
        field: str | None = None,
        indexed: object = None,
        chain: object = None,
        ledger: int | None = None,
        details: dict[str, Any] | None = None,
        corrected: bool = False,
    ) -> Discrepancy:
        return cls(
            source,
            contract_id,
            entity,
            None if entity_id is None else str(entity_id),
            field,
            None if indexed is None else str(indexed),
            None if chain is None else str(chain),
            ledger,
            message,
            details,
            corrected,
        )

    def as_row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in DISCREPANCY_COLUMNS}


DISCREPANCY_COLUMNS = tuple(f.name for f in fields(Discrepancy))


# ── what a page reads and writes ─────────────────────────────────────────────


@dataclass(slots=True)
class Snapshot:
    """Current rows, loaded before a page is applied; the projection mutates them in place."""

    contracts: dict[str, ContractRow] = field(default_factory=dict)
    organizations: dict[int, OrganizationRow] = field(default_factory=dict)
    withdrawals: dict[Key, WithdrawalRow] = field(default_factory=dict)
    approvals: dict[Key, set[str]] = field(default_factory=dict)
    streams: dict[Key, StreamRow] = field(default_factory=dict)
    schedules: dict[Key, ScheduleRow] = field(default_factory=dict)
    proposals: dict[Key, ProposalRow] = field(default_factory=dict)
    voted: set[VoteKey] = field(default_factory=set)
    members: dict[MemberKey, MemberRow] = field(default_factory=dict)


@dataclass(slots=True)
class Needs:
    """Which rows a page needs loaded (computed before loading)."""

    withdrawals: set[Key] = field(default_factory=set)
    streams: set[Key] = field(default_factory=set)
    schedules: set[Key] = field(default_factory=set)
    proposals: set[Key] = field(default_factory=set)
    members: set[MemberKey] = field(default_factory=set)
    votes: set[VoteKey] = field(default_factory=set)


class Changed(StrEnum):
    """A family of indexed data a page changed; the read cache maps it to its own keys.

    Every stored event changes ``events`` and the family of its contract's kind
    (named like ``ContractKind``).
    """

    EVENTS = "events"
    TREASURY = "treasury"
    PAYROLL = "payroll"
    VESTING = "vesting"
    GOVERNANCE = "governance"


@dataclass(slots=True)
class Changes:
    """Rows to write for one page, in one database transaction."""

    events: list[EventRow] = field(default_factory=list)
    treasury_events: list[TreasuryEventRow] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)
    stream_claims: list[StreamClaimRow] = field(default_factory=list)
    vesting_claims: list[VestingClaimRow] = field(default_factory=list)
    votes: list[VoteRow] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    dirty_contracts: set[str] = field(default_factory=set)
    dirty_organizations: set[int] = field(default_factory=set)
    dirty_withdrawals: set[Key] = field(default_factory=set)
    dirty_streams: set[Key] = field(default_factory=set)
    dirty_schedules: set[Key] = field(default_factory=set)
    dirty_proposals: set[Key] = field(default_factory=set)
    dirty_members: set[MemberKey] = field(default_factory=set)
    # metrics, applied after the commit
    indexed: dict[tuple[str, str], int] = field(default_factory=dict)
    unrecognised: dict[tuple[str, str], int] = field(default_factory=dict)
    changed: set[Changed] = field(default_factory=set)
