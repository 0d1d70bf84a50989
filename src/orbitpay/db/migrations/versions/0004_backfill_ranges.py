"""backfill ranges claimed by workers (FOR UPDATE SKIP LOCKED)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:10:00

``backfill_ranges``: the ledgers ``from_ledger..to_ledger`` of some contracts
to read from the ledger data lake. A worker claims a ``pending`` range (or a
``claimed`` one whose ``heartbeat_at`` is stale: its worker died) with
``FOR UPDATE SKIP LOCKED``, commits each batch of rows together with
``next_ledger`` (where the range resumes), and marks it ``done``. The state
CHECK spells its values out: a migration is history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_ranges",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("from_ledger", sa.Integer(), nullable=False),
        sa.Column("to_ledger", sa.Integer(), nullable=False),
        sa.Column("contract_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("state", sa.Text(), server_default="pending", nullable=False),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_ledger", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'claimed', 'done')", name=op.f("ck_backfill_ranges_state")
        ),
        sa.CheckConstraint("from_ledger <= to_ledger", name=op.f("ck_backfill_ranges_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_ranges")),
        sa.UniqueConstraint(
            "from_ledger",
            "to_ledger",
            "contract_ids",
            name=op.f("uq_backfill_ranges_from_ledger_to_ledger_contract_ids"),
        ),
    )
    op.create_index(
        op.f("ix_backfill_ranges_state_from_ledger"), "backfill_ranges", ["state", "from_ledger"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_backfill_ranges_state_from_ledger"), table_name="backfill_ranges")
    op.drop_table("backfill_ranges")
