"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 09:14:06.226265

The CHECK constraints spell their allowed values out rather than importing
``orbitpay.enums``: a migration is history, and must build the same database
whatever the enums become later. A new value needs a new migration that widens
the constraint; ``tests/integration/test_enum_checks.py`` fails until it exists.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Payroll rollups (payroll_totals, payroll_hourly) kept by statement-level triggers
# on stream_claims: one grouped upsert per statement, however many rows it wrote.
_ROLLUP_ADD = """
    INSERT INTO payroll_totals AS t (contract_id, token, disbursed, claims)
    SELECT contract_id, token, sum(amount), count(*) FROM new_rows GROUP BY 1, 2
    ON CONFLICT (contract_id, token) DO UPDATE
        SET disbursed = t.disbursed + EXCLUDED.disbursed, claims = t.claims + EXCLUDED.claims;
    INSERT INTO payroll_hourly AS h (contract_id, token, hour, disbursed, claims)
    SELECT contract_id, token, date_trunc('hour', claimed_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           sum(amount), count(*)
    FROM new_rows GROUP BY 1, 2, 3
    ON CONFLICT (contract_id, token, hour) DO UPDATE
        SET disbursed = h.disbursed + EXCLUDED.disbursed, claims = h.claims + EXCLUDED.claims;
"""
_ROLLUP_SUBTRACT = """
    UPDATE payroll_totals t SET disbursed = t.disbursed - o.amount, claims = t.claims - o.n
    FROM (SELECT contract_id, token, sum(amount) AS amount, count(*) AS n
          FROM old_rows GROUP BY 1, 2) o
    WHERE t.contract_id = o.contract_id AND t.token = o.token;
    UPDATE payroll_hourly h SET disbursed = h.disbursed - o.amount, claims = h.claims - o.n
    FROM (SELECT contract_id, token,
                 date_trunc('hour', claimed_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
                 sum(amount) AS amount, count(*) AS n
          FROM old_rows GROUP BY 1, 2, 3) o
    WHERE h.contract_id = o.contract_id AND h.token = o.token AND h.hour = o.hour;
"""
PAYROLL_ROLLUP_DDL = [
    f"""
    CREATE FUNCTION orbitpay_payroll_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN {_ROLLUP_SUBTRACT} END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN {_ROLLUP_ADD} END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER payroll_rollup_insert AFTER INSERT ON stream_claims "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION orbitpay_payroll_rollup()",
    "CREATE TRIGGER payroll_rollup_update AFTER UPDATE ON stream_claims "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION orbitpay_payroll_rollup()",
    "CREATE TRIGGER payroll_rollup_delete AFTER DELETE ON stream_claims "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION orbitpay_payroll_rollup()",
]
PAYROLL_ROLLUP_DROP = [
    "DROP TRIGGER IF EXISTS payroll_rollup_insert ON stream_claims",
    "DROP TRIGGER IF EXISTS payroll_rollup_update ON stream_claims",
    "DROP TRIGGER IF EXISTS payroll_rollup_delete ON stream_claims",
    "DROP FUNCTION IF EXISTS orbitpay_payroll_rollup()",
]


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("previous_secret_hash", sa.Text(), nullable=True),
        sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write')", name=op.f("ck_api_keys_scope")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "discrepancies",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Text(), nullable=True),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=True),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("indexed_value", sa.Text(), nullable=True),
        sa.Column("chain_value", sa.Text(), nullable=True),
        sa.Column("ledger", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("corrected", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "detected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancies")),
    )
    op.create_index(
        op.f("ix_discrepancies_contract_id_entity_entity_id"),
        "discrepancies",
        ["contract_id", "entity", "entity_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_discrepancies_detected_at"), "discrepancies", ["detected_at"], unique=False
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("ledger_closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("transaction_index", sa.Integer(), nullable=True),
        sa.Column("operation_index", sa.Integer(), nullable=True),
        sa.Column("event_type", sa.Text(), server_default="contract", nullable=False),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column(
            "topic_symbols", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("topics", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("topics_xdr", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("value_xdr", sa.Text(), nullable=False),
        sa.Column("recognised", sa.Boolean(), nullable=False),
        sa.Column("in_successful_contract_call", sa.Boolean(), nullable=False),
        sa.Column("decode_error", sa.Text(), nullable=True),
        sa.Column(
            "indexed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_contract_id_ledger_id"),
        "events",
        ["contract_id", "ledger", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_events_contract_id_type_ledger_id"),
        "events",
        ["contract_id", "type", "ledger", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_events_ledger_id"), "events", ["ledger", "id"], unique=False)
    op.create_index(op.f("ix_events_tx_hash"), "events", ["tx_hash"], unique=False)
    op.create_index(
        "ix_events_unrecognised",
        "events",
        ["contract_id"],
        unique=False,
        postgresql_where=sa.text("NOT recognised"),
    )
    op.create_table(
        "governance_members",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("member", sa.Text(), nullable=False),
        sa.Column("weight", sa.Numeric(precision=39, scale=0), server_default="1", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("added_ledger", sa.Integer(), nullable=True),
        sa.Column("removed_ledger", sa.Integer(), nullable=True),
        sa.Column("last_ledger", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("contract_id", "member", name=op.f("pk_governance_members")),
    )
    op.create_table(
        "indexer_cursors",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("contract_ids", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("last_ledger", sa.Integer(), nullable=False),
        sa.Column("last_ledger_closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest_ledger", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_indexer_cursors")),
    )
    op.create_table(
        "indexer_status",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rpc_status", sa.Text(), server_default="unknown", nullable=False),
        sa.Column("rpc_error", sa.Text(), nullable=True),
        sa.Column("rpc_latest_ledger", sa.Integer(), nullable=True),
        sa.Column("rpc_latest_ledger_closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rpc_oldest_ledger", sa.Integer(), nullable=True),
        sa.Column("gap_from_ledger", sa.Integer(), nullable=True),
        sa.Column("gap_to_ledger", sa.Integer(), nullable=True),
        sa.Column(
            "heartbeat_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_indexer_status")),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("admin", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations_name")),
    )
    op.create_table(
        "proposals",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.BigInteger(), nullable=False),
        sa.Column("proposer", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "yes_votes", sa.Numeric(precision=39, scale=0), server_default="0", nullable=False
        ),
        sa.Column(
            "no_votes", sa.Numeric(precision=39, scale=0), server_default="0", nullable=False
        ),
        sa.Column(
            "abstain_votes", sa.Numeric(precision=39, scale=0), server_default="0", nullable=False
        ),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_ledger", sa.Integer(), nullable=False),
        sa.Column("created_tx_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ledger", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'approved', 'rejected', 'executed', 'cancelled', 'expired')",
            name=op.f("ck_proposals_status"),
        ),
        sa.PrimaryKeyConstraint("contract_id", "proposal_id", name=op.f("pk_proposals")),
    )
    op.create_index(
        op.f("ix_proposals_contract_id_created_ledger_proposal_id"),
        "proposals",
        ["contract_id", "created_ledger", "proposal_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_proposals_created_ledger_contract_id_proposal_id"),
        "proposals",
        ["created_ledger", "contract_id", "proposal_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_proposals_proposer_created_ledger_proposal_id"),
        "proposals",
        ["proposer", "created_ledger", "proposal_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_proposals_status_created_ledger_proposal_id"),
        "proposals",
        ["status", "created_ledger", "proposal_id"],
        unique=False,
    )
    op.create_table(
        "streams",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("stream_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column(
            "claimed_amount", sa.Numeric(precision=39, scale=0), server_default="0", nullable=False
        ),
        sa.Column(
            "refunded_amount", sa.Numeric(precision=39, scale=0), server_default="0", nullable=False
        ),
        sa.Column("rate_per_second", sa.Numeric(precision=39, scale=0), nullable=True),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("last_claim_time", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("batch", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_ledger", sa.Integer(), nullable=False),
        sa.Column("created_tx_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ledger", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'cancelled', 'completed')",
            name=op.f("ck_streams_status"),
        ),
        sa.CheckConstraint(
            "claimed_amount <= total_amount", name=op.f("ck_streams_claimed_le_total")
        ),
        sa.PrimaryKeyConstraint("contract_id", "stream_id", name=op.f("pk_streams")),
    )
    op.create_index(
        op.f("ix_streams_contract_id_created_ledger_stream_id"),
        "streams",
        ["contract_id", "created_ledger", "stream_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_streams_created_ledger_contract_id_stream_id"),
        "streams",
        ["created_ledger", "contract_id", "stream_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_streams_recipient_created_ledger_stream_id"),
        "streams",
        ["recipient", "created_ledger", "stream_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_streams_sender_created_ledger_stream_id"),
        "streams",
        ["sender", "created_ledger", "stream_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_streams_status_created_ledger_stream_id"),
        "streams",
        ["status", "created_ledger", "stream_id"],
        unique=False,
    )
    op.create_index(op.f("ix_streams_token_status"), "streams", ["token", "status"], unique=False)
    op.create_index(
        "ix_streams_active_token",
        "streams",
        ["token", "contract_id"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
        postgresql_include=["total_amount", "start_time", "end_time"],
    )
    op.create_table(
        "vesting_schedules",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("grantor", sa.Text(), nullable=False),
        sa.Column("beneficiary", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("original_total_amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column(
            "claimed_amount", sa.Numeric(precision=39, scale=0), server_default="0", nullable=False
        ),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("cliff_duration", sa.BigInteger(), nullable=False),
        sa.Column("cliff_time", sa.BigInteger(), nullable=False),
        sa.Column("cliff_amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("total_duration", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("revocable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_amount", sa.Numeric(precision=39, scale=0), nullable=True),
        sa.Column("created_ledger", sa.Integer(), nullable=False),
        sa.Column("created_tx_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ledger", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('active', 'revoked', 'fully_claimed')",
            name=op.f("ck_vesting_schedules_status"),
        ),
        sa.CheckConstraint(
            "claimed_amount <= total_amount", name=op.f("ck_vesting_schedules_claimed_le_total")
        ),
        sa.PrimaryKeyConstraint("contract_id", "schedule_id", name=op.f("pk_vesting_schedules")),
    )
    op.create_index(
        op.f("ix_vesting_schedules_beneficiary_created_ledger_schedule_id"),
        "vesting_schedules",
        ["beneficiary", "created_ledger", "schedule_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_vesting_schedules_cliff_time"), "vesting_schedules", ["cliff_time"], unique=False
    )
    op.create_index(
        op.f("ix_vesting_schedules_contract_id_created_ledger_schedule_id"),
        "vesting_schedules",
        ["contract_id", "created_ledger", "schedule_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_vesting_schedules_created_ledger_contract_id_schedule_id"),
        "vesting_schedules",
        ["created_ledger", "contract_id", "schedule_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_vesting_schedules_grantor_created_ledger_schedule_id"),
        "vesting_schedules",
        ["grantor", "created_ledger", "schedule_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_vesting_schedules_status_created_ledger_schedule_id"),
        "vesting_schedules",
        ["status", "created_ledger", "schedule_id"],
        unique=False,
    )
    op.create_table(
        "withdrawals",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("withdrawal_id", sa.BigInteger(), nullable=False),
        sa.Column("proposer", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("executed_ledger", sa.Integer(), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_ledger", sa.Integer(), nullable=False),
        sa.Column("created_tx_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ledger", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'executed', 'cancelled')",
            name=op.f("ck_withdrawals_status"),
        ),
        sa.PrimaryKeyConstraint("contract_id", "withdrawal_id", name=op.f("pk_withdrawals")),
    )
    op.create_index(
        op.f("ix_withdrawals_contract_id_created_ledger_withdrawal_id"),
        "withdrawals",
        ["contract_id", "created_ledger", "withdrawal_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_withdrawals_contract_id_status_created_ledger_withdrawal_id"),
        "withdrawals",
        ["contract_id", "status", "created_ledger", "withdrawal_id"],
        unique=False,
    )
    op.create_table(
        "contracts",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("admin", sa.Text(), nullable=True),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("initialized_ledger", sa.Integer(), nullable=True),
        sa.Column("last_ledger", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('treasury', 'payroll', 'vesting', 'governance')",
            name=op.f("ck_contracts_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contracts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contract_id", name=op.f("pk_contracts")),
    )
    op.create_index(
        op.f("ix_contracts_organization_id_kind"),
        "contracts",
        ["organization_id", "kind"],
        unique=False,
    )
    op.create_table(
        "stream_claims",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("stream_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), server_default="claim", nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('claim', 'cancel')", name=op.f("ck_stream_claims_kind")),
        sa.ForeignKeyConstraint(
            ["contract_id", "stream_id"],
            ["streams.contract_id", "streams.stream_id"],
            name=op.f("fk_stream_claims_contract_id_streams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_stream_claims_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_stream_claims")),
    )
    op.create_index(
        op.f("ix_stream_claims_contract_id_stream_id_ledger_event_id"),
        "stream_claims",
        ["contract_id", "stream_id", "ledger", "event_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stream_claims_token_claimed_at"),
        "stream_claims",
        ["token", "claimed_at"],
        unique=False,
    )
    op.create_table(
        "payroll_totals",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("disbursed", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("claims", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "token", name=op.f("pk_payroll_totals")),
    )
    op.create_table(
        "payroll_hourly",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disbursed", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("claims", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "token", "hour", name=op.f("pk_payroll_hourly")),
    )
    op.create_index(
        op.f("ix_payroll_hourly_token_hour"),
        "payroll_hourly",
        ["token", "hour"],
        unique=False,
        postgresql_include=["disbursed"],
    )
    for statement in PAYROLL_ROLLUP_DDL:
        op.execute(statement)
    op.create_table(
        "treasury_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=39, scale=0), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("withdrawal_id", sa.BigInteger(), nullable=True),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('initialized', 'deposit', 'withdrawal_created', 'withdrawal_approved', 'withdrawal_executed', 'signer_added', 'signer_removed', 'threshold_updated', 'unknown')",
            name=op.f("ck_treasury_events_type"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_treasury_events_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_treasury_events")),
    )
    op.create_index(
        op.f("ix_treasury_events_contract_id_ledger_event_id"),
        "treasury_events",
        ["contract_id", "ledger", "event_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_treasury_events_contract_id_token_timestamp"),
        "treasury_events",
        ["contract_id", "token", "timestamp"],
        unique=False,
    )
    op.create_index(
        op.f("ix_treasury_events_contract_id_type_ledger_event_id"),
        "treasury_events",
        ["contract_id", "type", "ledger", "event_id"],
        unique=False,
    )
    op.create_table(
        "vesting_claims",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("schedule_id", sa.BigInteger(), nullable=False),
        sa.Column("beneficiary", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id", "schedule_id"],
            ["vesting_schedules.contract_id", "vesting_schedules.schedule_id"],
            name=op.f("fk_vesting_claims_contract_id_vesting_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_vesting_claims_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_vesting_claims")),
    )
    op.create_index(
        op.f("ix_vesting_claims_contract_id_schedule_id_ledger_event_id"),
        "vesting_claims",
        ["contract_id", "schedule_id", "ledger", "event_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_vesting_claims_token_claimed_at"),
        "vesting_claims",
        ["token", "claimed_at"],
        unique=False,
    )
    op.create_table(
        "votes",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.BigInteger(), nullable=False),
        sa.Column("voter", sa.Text(), nullable=False),
        sa.Column("choice", sa.Text(), nullable=False),
        sa.Column("weight", sa.Numeric(precision=39, scale=0), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("choice IN ('yes', 'no', 'abstain')", name=op.f("ck_votes_choice")),
        sa.ForeignKeyConstraint(
            ["contract_id", "proposal_id"],
            ["proposals.contract_id", "proposals.proposal_id"],
            name=op.f("fk_votes_contract_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_votes_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contract_id", "proposal_id", "voter", name=op.f("pk_votes")),
        sa.UniqueConstraint("event_id", name=op.f("uq_votes_event_id")),
    )
    op.create_index(
        op.f("ix_votes_contract_id_proposal_id_ledger_event_id"),
        "votes",
        ["contract_id", "proposal_id", "ledger", "event_id"],
        unique=False,
    )
    op.create_index(op.f("ix_votes_voter"), "votes", ["voter"], unique=False)
    op.create_table(
        "withdrawal_approvals",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("withdrawal_id", sa.BigInteger(), nullable=False),
        sa.Column("signer", sa.Text(), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.Text(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id", "withdrawal_id"],
            ["withdrawals.contract_id", "withdrawals.withdrawal_id"],
            name=op.f("fk_withdrawal_approvals_contract_id_withdrawals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "contract_id", "withdrawal_id", "signer", name=op.f("pk_withdrawal_approvals")
        ),
    )


def downgrade() -> None:
    op.drop_table("withdrawal_approvals")
    op.drop_index(op.f("ix_votes_voter"), table_name="votes")
    op.drop_index(op.f("ix_votes_contract_id_proposal_id_ledger_event_id"), table_name="votes")
    op.drop_table("votes")
    op.drop_index(op.f("ix_vesting_claims_token_claimed_at"), table_name="vesting_claims")
    op.drop_index(
        op.f("ix_vesting_claims_contract_id_schedule_id_ledger_event_id"),
        table_name="vesting_claims",
    )
    op.drop_table("vesting_claims")
    op.drop_index(
        op.f("ix_treasury_events_contract_id_type_ledger_event_id"), table_name="treasury_events"
    )
    op.drop_index(
        op.f("ix_treasury_events_contract_id_token_timestamp"), table_name="treasury_events"
    )
    op.drop_index(
        op.f("ix_treasury_events_contract_id_ledger_event_id"), table_name="treasury_events"
    )
    op.drop_table("treasury_events")
    for statement in PAYROLL_ROLLUP_DROP:
        op.execute(statement)
    op.drop_index(op.f("ix_payroll_hourly_token_hour"), table_name="payroll_hourly")
    op.drop_table("payroll_hourly")
    op.drop_table("payroll_totals")
    op.drop_index(op.f("ix_stream_claims_token_claimed_at"), table_name="stream_claims")
    op.drop_index(
        op.f("ix_stream_claims_contract_id_stream_id_ledger_event_id"), table_name="stream_claims"
    )
    op.drop_table("stream_claims")
    op.drop_index(op.f("ix_contracts_organization_id_kind"), table_name="contracts")
    op.drop_table("contracts")
    op.drop_index(
        op.f("ix_withdrawals_contract_id_status_created_ledger_withdrawal_id"),
        table_name="withdrawals",
    )
    op.drop_index(
        op.f("ix_withdrawals_contract_id_created_ledger_withdrawal_id"), table_name="withdrawals"
    )
    op.drop_table("withdrawals")
    op.drop_index(
        op.f("ix_vesting_schedules_status_created_ledger_schedule_id"),
        table_name="vesting_schedules",
    )
    op.drop_index(
        op.f("ix_vesting_schedules_grantor_created_ledger_schedule_id"),
        table_name="vesting_schedules",
    )
    op.drop_index(
        op.f("ix_vesting_schedules_created_ledger_contract_id_schedule_id"),
        table_name="vesting_schedules",
    )
    op.drop_index(
        op.f("ix_vesting_schedules_contract_id_created_ledger_schedule_id"),
        table_name="vesting_schedules",
    )
    op.drop_index(op.f("ix_vesting_schedules_cliff_time"), table_name="vesting_schedules")
    op.drop_index(
        op.f("ix_vesting_schedules_beneficiary_created_ledger_schedule_id"),
        table_name="vesting_schedules",
    )
    op.drop_table("vesting_schedules")
    op.drop_index("ix_streams_active_token", table_name="streams")
    op.drop_index(op.f("ix_streams_token_status"), table_name="streams")
    op.drop_index(op.f("ix_streams_status_created_ledger_stream_id"), table_name="streams")
    op.drop_index(op.f("ix_streams_sender_created_ledger_stream_id"), table_name="streams")
    op.drop_index(op.f("ix_streams_recipient_created_ledger_stream_id"), table_name="streams")
    op.drop_index(op.f("ix_streams_created_ledger_contract_id_stream_id"), table_name="streams")
    op.drop_index(op.f("ix_streams_contract_id_created_ledger_stream_id"), table_name="streams")
    op.drop_table("streams")
    op.drop_index(op.f("ix_proposals_status_created_ledger_proposal_id"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_proposer_created_ledger_proposal_id"), table_name="proposals")
    op.drop_index(
        op.f("ix_proposals_created_ledger_contract_id_proposal_id"), table_name="proposals"
    )
    op.drop_index(
        op.f("ix_proposals_contract_id_created_ledger_proposal_id"), table_name="proposals"
    )
    op.drop_table("proposals")
    op.drop_table("organizations")
    op.drop_table("indexer_status")
    op.drop_table("indexer_cursors")
    op.drop_table("governance_members")
    op.drop_index(
        "ix_events_unrecognised", table_name="events", postgresql_where=sa.text("NOT recognised")
    )
    op.drop_index(op.f("ix_events_tx_hash"), table_name="events")
    op.drop_index(op.f("ix_events_ledger_id"), table_name="events")
    op.drop_index(op.f("ix_events_contract_id_type_ledger_id"), table_name="events")
    op.drop_index(op.f("ix_events_contract_id_ledger_id"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_discrepancies_detected_at"), table_name="discrepancies")
    op.drop_index(op.f("ix_discrepancies_contract_id_entity_entity_id"), table_name="discrepancies")
    op.drop_table("discrepancies")
    op.drop_table("api_keys")
