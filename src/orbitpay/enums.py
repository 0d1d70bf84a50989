"""Every status and type value set of the project, spelled once.

The values are lowercase snake case, exactly as stored in the tables and served
by the API. These enums feed:

- the tables' CHECK constraints (``db/schema.py``, through :func:`check_in`);
  the Alembic migrations keep their own frozen copy of each constraint, as
  migrations are history, and ``tests/unit/test_enums.py`` compares every enum
  with the constraint of a freshly migrated database, so adding a value without
  a migration that widens the constraint fails a test;
- the API's response models and query parameters (pydantic lists the values in
  the OpenAPI schema);
- the contract decoders and the projection.

A ``StrEnum`` member *is* its value (``StreamStatus.ACTIVE == "active"``), so
rows, JSON and SQL parameters see plain strings. The class docstrings are the
descriptions the OpenAPI schema shows, hence plain text written for API clients.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Self


class ContractEnum(StrEnum):
    """A value set the contracts define as a Rust ``#[contracttype]`` unit enum.

    Members are declared in the Rust declaration order, so a member's position is
    its ``#[repr(u32)]`` discriminant; the Rust variant name is the value in
    CamelCase (``fully_claimed`` <-> ``FullyClaimed``).
    """

    @property
    def variant(self) -> str:
        """The Rust variant name: ``"fully_claimed"`` -> ``"FullyClaimed"``."""
        return "".join(part.capitalize() for part in self.value.split("_"))

    @classmethod
    def variants(cls) -> tuple[str, ...]:
        """Every Rust variant name, in discriminant order."""
        return tuple(member.variant for member in cls)

    @classmethod
    def from_variant(cls, name: str) -> Self:
        """The member of a Rust variant name; ``ValueError`` when there is none."""
        value = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        if value not in cls._value2member_map_ or cls(value).variant != name:
            raise ValueError(f"{name!r} is not a {cls.__name__} variant")
        return cls(value)


class ContractKind(StrEnum):
    """Which of the four OrbitPay contracts a contract is."""

    TREASURY = "treasury"
    PAYROLL = "payroll"
    VESTING = "vesting"
    GOVERNANCE = "governance"


class TreasuryEventType(StrEnum):
    """What a treasury history entry records; unknown: an event the indexer does not understand."""

    INITIALIZED = "initialized"
    DEPOSIT = "deposit"
    WITHDRAWAL_CREATED = "withdrawal_created"
    WITHDRAWAL_APPROVED = "withdrawal_approved"
    WITHDRAWAL_EXECUTED = "withdrawal_executed"
    SIGNER_ADDED = "signer_added"
    SIGNER_REMOVED = "signer_removed"
    THRESHOLD_UPDATED = "threshold_updated"
    UNKNOWN = "unknown"


class WithdrawalStatus(ContractEnum):
    """A treasury withdrawal's status (the contract's WithdrawalStatus)."""

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTED = "executed"
    CANCELLED = "cancelled"


class StreamStatus(ContractEnum):
    """A payroll stream's status (the contract's StreamStatus)."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class ClaimKind(StrEnum):
    """What paid a stream's recipient: a claim, or a cancellation's payout."""

    CLAIM = "claim"
    CANCEL = "cancel"


class ScheduleStatus(ContractEnum):
    """A vesting schedule's status (the contract's ScheduleStatus)."""

    ACTIVE = "active"
    REVOKED = "revoked"
    FULLY_CLAIMED = "fully_claimed"


class ProposalStatus(ContractEnum):
    """A governance proposal's status (the contract's ProposalStatus)."""

    ACTIVE = "active"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class VoteChoice(ContractEnum):
    """A governance vote (the contract's VoteChoice)."""

    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class ApiKeyScope(StrEnum):
    """What an API key may do; write includes read."""

    READ = "read"
    WRITE = "write"


class DiscrepancySource(StrEnum):
    """Which stage found a discrepancy."""

    RECONCILE = "reconcile"
    ENRICH = "enrich"
    DECODE = "decode"
    GAP = "gap"
    BOOTSTRAP = "bootstrap"


class DiscrepancyEntity(StrEnum):
    """What kind of thing a discrepancy is about."""

    EVENT = "event"
    WITHDRAWAL = "withdrawal"
    STREAM = "stream"
    SCHEDULE = "schedule"
    PROPOSAL = "proposal"
    VOTE = "vote"
    CURSOR = "cursor"


class Origin(StrEnum):
    """Where an entity row came from: contract events from the RPC (events), events read from
    the ledger data lake (archive), or the contract's storage read from ledger state when its
    events were out of reach (ledger_state)."""

    EVENTS = "events"
    ARCHIVE = "archive"
    LEDGER_STATE = "ledger_state"


class CoverageSource(StrEnum):
    """Where a covered ledger range of a contract's history was read: the RPC's getEvents (rpc),
    the ledger data lake (archive), or a read of the contract's current storage (ledger_state:
    current state as of one ledger, not history; not recorded today, rows carry state_ledger)."""

    RPC = "rpc"
    ARCHIVE = "archive"
    LEDGER_STATE = "ledger_state"


class BackfillState(StrEnum):
    """A backfill range's state: waiting for a worker (pending), held by one whose heartbeat
    is fresh (claimed; a stale claim is taken over), or read to its end (done)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"


def check_in(column: str, values: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint allowing exactly ``values``: ``kind IN ('a', 'b')``.

    The members are quoted in declaration order, the text PostgreSQL is given
    by the initial migration.
    """
    quoted = ", ".join("'" + member.value.replace("'", "''") + "'" for member in values)
    return f"{column} IN ({quoted})"
