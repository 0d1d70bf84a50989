"""The database schema as SQLAlchemy Core tables.

Conventions, relied on by the indexer and the API:

- Money and vote weights are ``NUMERIC(39,0)`` (``MONEY``): an ``i128`` or
  ``u128`` fits exactly, Python sees ``int``/``Decimal``, JSON gets strings.
- Contract times (``u64`` unix seconds chosen by callers, e.g. a stream's
  ``start_time``) are ``BIGINT`` seconds; ledger times (when something happened
  on chain) are ``TIMESTAMPTZ``. A ``u64`` above ``2**63-1`` cannot be stored
  and is clamped by the projection with a discrepancy row.
- Entities are keyed by ``(contract_id, <on-chain id>)``: on-chain ids count
  from 0 per contract, so that pair is the natural, unique key.
- Every entity row keeps ``last_ledger``: the ledger of the last event applied
  to it, so an older event replayed later never overwrites newer state.
- Enum-like columns hold lowercase snake case values, exactly as the API
  serves them, guarded by CHECK constraints built from ``orbitpay.enums``.

The Alembic migrations in ``db/migrations`` create exactly these tables; a
test compares the migrated database with this metadata.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from orbitpay.enums import (
    ApiKeyScope,
    BackfillState,
    ClaimKind,
    ContractKind,
    CoverageSource,
    Origin,
    ProposalStatus,
    ScheduleStatus,
    StreamStatus,
    TreasuryEventType,
    VoteChoice,
    WithdrawalStatus,
    check_in,
)

MONEY = Numeric(39, 0)
"""Token amounts and vote weights: big enough for i128 and u128, exact."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _now() -> ColumnElement[datetime]:
    """``DEFAULT now()``: the database clock, not the writer's."""
    return func.now()


def _origin() -> list[Any]:
    """Where an entity row's data came from.

    ``origin`` (``Origin``): events from the RPC, events from the ledger data lake, or the
    contract's storage read from ledger state (bootstrap); the projection leaves it to the
    default, and a row keeps the origin of what created it. ``state_ledger``: set when the
    row was written from a ledger entry, that entry's ``lastModifiedLedgerSeq``: the row
    already holds the effect of every event up to the end of that ledger, so an event of a
    ledger at or below it must not change the row's state again."""
    return [
        Column("origin", Text, nullable=False, server_default=Origin.EVENTS.value),
        Column("state_ledger", Integer, nullable=True),
        CheckConstraint(check_in("origin", Origin), name="origin"),
    ]


def _ledger_ref() -> list[Column[Any]]:
    """Where an entity came from and the newest ledger applied to it."""
    return [
        Column("created_ledger", Integer, nullable=False),
        Column("created_tx_hash", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("last_ledger", Integer, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    ]


organizations = Table(
    "organizations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("admin", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)

contracts = Table(
    "contracts",
    metadata,
    Column("contract_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column(
        "organization_id",
        BigInteger,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("admin", Text, nullable=True),
    # Contract-level settings learnt from init and admin calls: treasury
    # signers/threshold, governance quorum_percentage/voting_duration/...
    Column("params", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("initialized_ledger", Integer, nullable=True),
    Column("last_ledger", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    CheckConstraint(check_in("kind", ContractKind), name="kind"),
    Index(None, "organization_id", "kind"),
)

events = Table(
    "events",
    metadata,
    # The RPC's event id: "<19-digit TOID>-<10-digit index>"; sorts in chain order.
    Column("id", Text, primary_key=True),
    Column("contract_id", Text, nullable=False),
    Column("ledger", Integer, nullable=False),
    Column("ledger_closed_at", DateTime(timezone=True), nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("transaction_index", Integer, nullable=True),
    Column("operation_index", Integer, nullable=True),
    Column("event_type", Text, nullable=False, server_default="contract"),
    # First topic when it is a Symbol (e.g. "deposit"); the registry key.
    Column("type", Text, nullable=True),
    Column("topic_symbols", ARRAY(Text), nullable=False, server_default="{}"),
    Column("topics", JSONB, nullable=True),
    Column("value", JSONB, nullable=True),
    Column("topics_xdr", ARRAY(Text), nullable=False),
    Column("value_xdr", Text, nullable=False),
    Column("recognised", Boolean, nullable=False),
    Column("in_successful_contract_call", Boolean, nullable=False),
    Column("decode_error", Text, nullable=True),
    Column("indexed_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Index(None, "contract_id", "ledger", "id"),
    Index(None, "contract_id", "type", "ledger", "id"),
    Index(None, "ledger", "id"),
    Index(None, "tx_hash"),
    Index("ix_events_unrecognised", "contract_id", postgresql_where=text("NOT recognised")),
)

treasury_events = Table(
    "treasury_events",
    metadata,
    Column("event_id", Text, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("contract_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("address", Text, nullable=True),
    Column("amount", MONEY, nullable=True),
    Column("token", Text, nullable=True),
    Column("withdrawal_id", BigInteger, nullable=True),
    Column("ledger", Integer, nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    CheckConstraint(check_in("type", TreasuryEventType), name="type"),
    Index(None, "contract_id", "ledger", "event_id"),
    Index(None, "contract_id", "type", "ledger", "event_id"),
    Index(None, "contract_id", "token", "timestamp"),
)

withdrawals = Table(
    "withdrawals",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("withdrawal_id", BigInteger, nullable=False),
    Column("proposer", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("memo", Text, nullable=True),
    Column("status", Text, nullable=False),
    Column("executed_ledger", Integer, nullable=True),
    Column("executed_at", DateTime(timezone=True), nullable=True),
    *_ledger_ref(),
    *_origin(),
    PrimaryKeyConstraint("contract_id", "withdrawal_id"),
    CheckConstraint(check_in("status", WithdrawalStatus), name="status"),
    Index(None, "contract_id", "status", "created_ledger", "withdrawal_id"),
    Index(None, "contract_id", "created_ledger", "withdrawal_id"),
)

withdrawal_approvals = Table(
    "withdrawal_approvals",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("withdrawal_id", BigInteger, nullable=False),
    Column("signer", Text, nullable=False),
    Column("ledger", Integer, nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("approved_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("contract_id", "withdrawal_id", "signer"),
    ForeignKeyConstraint(
        ["contract_id", "withdrawal_id"],
        ["withdrawals.contract_id", "withdrawals.withdrawal_id"],
        ondelete="CASCADE",
    ),
)

streams = Table(
    "streams",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("stream_id", BigInteger, nullable=False),
    Column("sender", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("total_amount", MONEY, nullable=False),
    Column("claimed_amount", MONEY, nullable=False, server_default="0"),
    Column("refunded_amount", MONEY, nullable=False, server_default="0"),
    Column("rate_per_second", MONEY, nullable=True),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False),
    Column("last_claim_time", BigInteger, nullable=True),
    Column("status", Text, nullable=False),
    Column("batch", Boolean, nullable=False, server_default=text("false")),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    *_ledger_ref(),
    *_origin(),
    PrimaryKeyConstraint("contract_id", "stream_id"),
    CheckConstraint(check_in("status", StreamStatus), name="status"),
    CheckConstraint("claimed_amount <= total_amount", name="claimed_le_total"),
    Index(None, "sender", "created_ledger", "stream_id"),
    Index(None, "recipient", "created_ledger", "stream_id"),
    Index(None, "status", "created_ledger", "stream_id"),
    Index(None, "contract_id", "created_ledger", "stream_id"),
    Index(None, "created_ledger", "contract_id", "stream_id"),
    Index(None, "token", "status"),
    # Payroll analytics: active streams and burn rate by an index-only scan.
    Index(
        "ix_streams_active_token",
        "token",
        "contract_id",
        postgresql_where=text(f"status = '{StreamStatus.ACTIVE.value}'"),
        postgresql_include=["total_amount", "start_time", "end_time"],
    ),
)

stream_claims = Table(
    "stream_claims",
    metadata,
    # The event that paid out; a cancel's payout to the recipient is kind "cancel".
    Column("event_id", Text, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("contract_id", Text, nullable=False),
    Column("stream_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False, server_default=ClaimKind.CLAIM.value),
    Column("recipient", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("ledger", Integer, nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(check_in("kind", ClaimKind), name="kind"),
    ForeignKeyConstraint(
        ["contract_id", "stream_id"],
        ["streams.contract_id", "streams.stream_id"],
        ondelete="CASCADE",
    ),
    Index(None, "contract_id", "stream_id", "ledger", "event_id"),
    Index(None, "token", "claimed_at"),
)

# Rollups of ``stream_claims`` for the payroll analytics, kept by statement-level
# triggers on ``stream_claims`` (insert, update, delete; see the initial migration):
# all-time totals and hourly sums per contract and token, so dashboards never scan
# every claim. Truncating ``stream_claims`` must truncate these too.
payroll_totals = Table(
    "payroll_totals",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("disbursed", MONEY, nullable=False),
    Column("claims", BigInteger, nullable=False),
    PrimaryKeyConstraint("contract_id", "token"),
)

payroll_hourly = Table(
    "payroll_hourly",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("token", Text, nullable=False),
    # The UTC hour the claims fall in.
    Column("hour", DateTime(timezone=True), nullable=False),
    Column("disbursed", MONEY, nullable=False),
    Column("claims", BigInteger, nullable=False),
    PrimaryKeyConstraint("contract_id", "token", "hour"),
    Index(None, "token", "hour", postgresql_include=["disbursed"]),
)

vesting_schedules = Table(
    "vesting_schedules",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("schedule_id", BigInteger, nullable=False),
    Column("grantor", Text, nullable=False),
    Column("beneficiary", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("total_amount", MONEY, nullable=False),
    # total_amount before a revoke capped it at what had vested.
    Column("original_total_amount", MONEY, nullable=False),
    Column("claimed_amount", MONEY, nullable=False, server_default="0"),
    Column("start_time", BigInteger, nullable=False),
    Column("cliff_duration", BigInteger, nullable=False),
    Column("cliff_time", BigInteger, nullable=False),
    Column("cliff_amount", MONEY, nullable=False),
    Column("total_duration", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False),
    Column("label", Text, nullable=True),
    Column("revocable", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_amount", MONEY, nullable=True),
    *_ledger_ref(),
    *_origin(),
    PrimaryKeyConstraint("contract_id", "schedule_id"),
    CheckConstraint(check_in("status", ScheduleStatus), name="status"),
    CheckConstraint("claimed_amount <= total_amount", name="claimed_le_total"),
    Index(None, "beneficiary", "created_ledger", "schedule_id"),
    Index(None, "grantor", "created_ledger", "schedule_id"),
    Index(None, "status", "created_ledger", "schedule_id"),
    Index(None, "contract_id", "created_ledger", "schedule_id"),
    Index(None, "created_ledger", "contract_id", "schedule_id"),
    Index(None, "cliff_time"),
)

vesting_claims = Table(
    "vesting_claims",
    metadata,
    Column("event_id", Text, ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("contract_id", Text, nullable=False),
    Column("schedule_id", BigInteger, nullable=False),
    Column("beneficiary", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("ledger", Integer, nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(
        ["contract_id", "schedule_id"],
        ["vesting_schedules.contract_id", "vesting_schedules.schedule_id"],
        ondelete="CASCADE",
    ),
    Index(None, "contract_id", "schedule_id", "ledger", "event_id"),
    Index(None, "token", "claimed_at"),
)

proposals = Table(
    "proposals",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("proposal_id", BigInteger, nullable=False),
    Column("proposer", Text, nullable=False),
    Column("title", Text, nullable=True),
    Column("token", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("yes_votes", MONEY, nullable=False, server_default="0"),
    Column("no_votes", MONEY, nullable=False, server_default="0"),
    Column("abstain_votes", MONEY, nullable=False, server_default="0"),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False),
    Column("finalized_at", DateTime(timezone=True), nullable=True),
    Column("executed_at", DateTime(timezone=True), nullable=True),
    *_ledger_ref(),
    *_origin(),
    PrimaryKeyConstraint("contract_id", "proposal_id"),
    CheckConstraint(check_in("status", ProposalStatus), name="status"),
    Index(None, "status", "created_ledger", "proposal_id"),
    Index(None, "proposer", "created_ledger", "proposal_id"),
    Index(None, "contract_id", "created_ledger", "proposal_id"),
    Index(None, "created_ledger", "contract_id", "proposal_id"),
)

votes = Table(
    "votes",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("proposal_id", BigInteger, nullable=False),
    Column("voter", Text, nullable=False),
    Column("choice", Text, nullable=False),
    Column("weight", MONEY, nullable=False),
    Column("event_id", Text, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("ledger", Integer, nullable=False),
    Column("tx_hash", Text, nullable=False),
    Column("voted_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("contract_id", "proposal_id", "voter"),
    UniqueConstraint("event_id"),
    CheckConstraint(check_in("choice", VoteChoice), name="choice"),
    ForeignKeyConstraint(
        ["contract_id", "proposal_id"],
        ["proposals.contract_id", "proposals.proposal_id"],
        ondelete="CASCADE",
    ),
    Index(None, "contract_id", "proposal_id", "ledger", "event_id"),
    Index(None, "voter"),
)

governance_members = Table(
    "governance_members",
    metadata,
    Column("contract_id", Text, nullable=False),
    Column("member", Text, nullable=False),
    Column("weight", MONEY, nullable=False, server_default="1"),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("added_ledger", Integer, nullable=True),
    Column("removed_ledger", Integer, nullable=True),
    Column("last_ledger", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    *_origin(),
    PrimaryKeyConstraint("contract_id", "member"),
)

indexer_cursors = Table(
    "indexer_cursors",
    metadata,
    # One row per independently paged filter group (a set of <= 25 contracts).
    Column("name", Text, primary_key=True),
    Column("contract_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("cursor", Text, nullable=True),
    Column("last_ledger", Integer, nullable=False),
    Column("last_ledger_closed_at", DateTime(timezone=True), nullable=True),
    Column("latest_ledger", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)

indexer_status = Table(
    "indexer_status",
    metadata,
    # Written by the running indexer so that an API in another process can
    # report RPC health, lag and gaps in /health.
    Column("name", Text, primary_key=True),
    Column("rpc_status", Text, nullable=False, server_default="unknown"),
    Column("rpc_error", Text, nullable=True),
    Column("rpc_latest_ledger", Integer, nullable=True),
    Column("rpc_latest_ledger_closed_at", DateTime(timezone=True), nullable=True),
    Column("rpc_oldest_ledger", Integer, nullable=True),
    Column("gap_from_ledger", Integer, nullable=True),
    Column("gap_to_ledger", Integer, nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)

coverage = Table(
    "coverage",
    metadata,
    # The ledgers [from_ledger, to_ledger] whose events of this contract, read from this
    # source (a CoverageSource), are all indexed; one row per contiguous stretch (the store
    # merges adjacent and overlapping ranges). Holes are gaps in the contract's history.
    Column(
        "contract_id",
        Text,
        ForeignKey("contracts.contract_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("source", Text, nullable=False),
    Column("from_ledger", Integer, nullable=False),
    Column("to_ledger", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    PrimaryKeyConstraint("contract_id", "source", "from_ledger"),
    CheckConstraint(check_in("source", CoverageSource), name="source"),
    CheckConstraint("from_ledger <= to_ledger", name="range"),
)

indexer_chain = Table(
    "indexer_chain",
    metadata,
    # One ledger of the chain the indexed rows come from (sequence and hash), moved forward
    # as the indexer goes: a network reset shows as this ledger missing or hashing
    # differently on the RPC (orbitpay.indexer.chain).
    Column("name", Text, primary_key=True),
    Column("ledger", Integer, nullable=False),
    Column("ledger_hash", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)

backfill_ranges = Table(
    "backfill_ranges",
    metadata,
    # Ledgers of some contracts to read from the data lake, claimed by backfill workers
    # (FOR UPDATE SKIP LOCKED; a stale heartbeat makes a claim re-claimable); each batch
    # commits with ``next_ledger``, where the range resumes (orbitpay.indexer.backfill).
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("from_ledger", Integer, nullable=False),
    Column("to_ledger", Integer, nullable=False),
    Column("contract_ids", ARRAY(Text), nullable=False),
    Column("state", Text, nullable=False, server_default=BackfillState.PENDING.value),
    Column("claimed_by", Text, nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("next_ledger", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    CheckConstraint(check_in("state", BackfillState), name="state"),
    CheckConstraint("from_ledger <= to_ledger", name="range"),
    UniqueConstraint("from_ledger", "to_ledger", "contract_ids"),
    Index(None, "state", "from_ledger"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("scope", Text, nullable=False),
    # Only a hash of the secret is stored; the secret is shown once.
    Column("secret_hash", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("previous_secret_hash", Text, nullable=True),
    Column("previous_expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("rotated_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(check_in("scope", ApiKeyScope), name="scope"),
)

discrepancies = Table(
    "discrepancies",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # A DiscrepancySource (orbitpay.enums); no CHECK: a new finder needs no migration.
    Column("source", Text, nullable=False),
    Column("contract_id", Text, nullable=True),
    # A DiscrepancyEntity (orbitpay.enums).
    Column("entity", Text, nullable=False),
    Column("entity_id", Text, nullable=True),
    Column("field", Text, nullable=True),
    Column("indexed_value", Text, nullable=True),
    Column("chain_value", Text, nullable=True),
    Column("ledger", Integer, nullable=True),
    Column("message", Text, nullable=False),
    Column("details", JSONB, nullable=True),
    Column("corrected", Boolean, nullable=False, server_default=text("false")),
    Column("detected_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Index(None, "contract_id", "entity", "entity_id"),
    Index(None, "detected_at"),
)
