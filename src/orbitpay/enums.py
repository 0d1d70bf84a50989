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
rows, JSON and SQL parameters see plain strings.
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
    """The four OrbitPay contracts (``contracts.kind``)."""

    TREASURY = "treasury"
    PAYROLL = "payroll"
    VESTING = "vesting"
    GOVERNANCE = "governance"


class TreasuryEventType(StrEnum):
    """A treasury history row's type (``treasury_events.type``); ``unknown``: not understood."""

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
    """The treasury's ``WithdrawalStatus`` (``withdrawals.status``)."""

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTED = "executed"
    CANCELLED = "cancelled"


class StreamStatus(ContractEnum):
    """The payroll contract's ``StreamStatus`` (``streams.status``)."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class ClaimKind(StrEnum):
    """What paid a stream's recipient (``stream_claims.kind``): a claim, or a cancellation."""

    CLAIM = "claim"
    CANCEL = "cancel"


class ScheduleStatus(ContractEnum):
    """The vesting contract's ``ScheduleStatus`` (``vesting_schedules.status``)."""

    ACTIVE = "active"
    REVOKED = "revoked"
    FULLY_CLAIMED = "fully_claimed"


class ProposalStatus(ContractEnum):
    """The governance contract's ``ProposalStatus`` (``proposals.status``)."""

    ACTIVE = "active"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class VoteChoice(ContractEnum):
    """The governance contract's ``VoteChoice`` (``votes.choice``)."""

    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class ApiKeyScope(StrEnum):
    """What an API key may do (``api_keys.scope``); ``write`` includes ``read``."""

    READ = "read"
    WRITE = "write"


class DiscrepancySource(StrEnum):
    """Which stage found a discrepancy (``discrepancies.source``)."""

    RECONCILE = "reconcile"
    ENRICH = "enrich"
    DECODE = "decode"
    GAP = "gap"


class DiscrepancyEntity(StrEnum):
    """What a discrepancy is about (``discrepancies.entity``)."""

    EVENT = "event"
    WITHDRAWAL = "withdrawal"
    STREAM = "stream"
    SCHEDULE = "schedule"
    PROPOSAL = "proposal"
    VOTE = "vote"
    CURSOR = "cursor"


def check_in(column: str, values: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint allowing exactly ``values``: ``kind IN ('a', 'b')``.

    The members are quoted in declaration order, the text PostgreSQL is given
    by the initial migration.
    """
    quoted = ", ".join("'" + member.value.replace("'", "''") + "'" for member in values)
    return f"{column} IN ({quoted})"
