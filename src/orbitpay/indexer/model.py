"""The values handed from stage to stage: an event with its context, a state snapshot, changes.

``Item``: one ``getEvents`` event, its decoding, its contract and (when the
event is thin) its transaction context. ``Snapshot``: the current rows of the
entities a page touches, as plain dicts keyed like the tables' primary keys.
``Changes``: the rows a page produces. The projection rules (``project.py``)
are pure functions from (items, snapshot) to changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orbitpay.contracts.registry import Decoded
from orbitpay.stellar.rpc import RawEvent
from orbitpay.stellar.tx import TxContext

Key = tuple[str, int]  # (contract_id, on-chain id)
MemberKey = tuple[str, str]  # (contract_id, address)


@dataclass(frozen=True, slots=True)
class ContractInfo:
    contract_id: str
    kind: str
    organization_id: int


@dataclass(slots=True)
class Item:
    raw: RawEvent
    contract: ContractInfo
    decoded: Decoded
    tx: TxContext | None = None
    tx_error: str | None = None
    call: dict[str, Any] | None = None
    call_top_level: bool = False
    problem: str | None = None

    @property
    def applies(self) -> bool:
        """True when the event may change state (successful call, successful transaction)."""
        if not self.raw.in_successful_contract_call or self.decoded.event is None:
            return False
        return not (self.tx is not None and not self.tx.successful)


@dataclass
class Snapshot:
    """Current rows, loaded before a page is applied; the projection mutates them in place."""

    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    withdrawals: dict[Key, dict[str, Any]] = field(default_factory=dict)
    approvals: dict[Key, set[str]] = field(default_factory=dict)
    streams: dict[Key, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[Key, dict[str, Any]] = field(default_factory=dict)
    proposals: dict[Key, dict[str, Any]] = field(default_factory=dict)
    voted: set[tuple[str, int, str]] = field(default_factory=set)
    members: dict[MemberKey, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Needs:
    """Which rows a page needs loaded (computed before loading)."""

    withdrawals: set[Key] = field(default_factory=set)
    streams: set[Key] = field(default_factory=set)
    schedules: set[Key] = field(default_factory=set)
    proposals: set[Key] = field(default_factory=set)
    members: set[MemberKey] = field(default_factory=set)
    votes: set[tuple[str, int, str]] = field(default_factory=set)


@dataclass
class Changes:
    """Rows to write for one page, in one database transaction."""

    events: list[dict[str, Any]] = field(default_factory=list)
    treasury_events: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    stream_claims: list[dict[str, Any]] = field(default_factory=list)
    vesting_claims: list[dict[str, Any]] = field(default_factory=list)
    votes: list[dict[str, Any]] = field(default_factory=list)
    discrepancies: list[dict[str, Any]] = field(default_factory=list)
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
    namespaces: set[str] = field(default_factory=set)
