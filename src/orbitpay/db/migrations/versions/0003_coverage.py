"""coverage of history per contract and source; the chain the index was built from

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:10:00

``coverage``: the ledger ranges whose events (of one contract, read from one
source) are all in the tables; one row per contiguous stretch, merged on
write. ``source`` is ``rpc`` (getEvents), ``archive`` (a SEP-54 ledger data
lake) or ``ledger_state`` (allowed for a read of current state, which is not
coverage of history; the indexer records none today: bootstrapped rows carry
their ``state_ledger``). Holes between ranges are gaps in the history the API
reports.

``indexer_chain``: one ledger (sequence and hash) of the chain the indexed
rows come from, so a network reset (a new genesis behind the same RPC URL) is
detected and never mixed with the old chain's rows.

The CHECK constraint spells its values out: a migration is history.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coverage",
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("from_ledger", sa.Integer(), nullable=False),
        sa.Column("to_ledger", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "source IN ('rpc', 'archive', 'ledger_state')", name=op.f("ck_coverage_source")
        ),
        sa.CheckConstraint("from_ledger <= to_ledger", name=op.f("ck_coverage_range")),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.contract_id"],
            name=op.f("fk_coverage_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contract_id", "source", "from_ledger", name=op.f("pk_coverage")),
    )
    op.create_table(
        "indexer_chain",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("ledger_hash", sa.Text(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_indexer_chain")),
    )


def downgrade() -> None:
    op.drop_table("indexer_chain")
    op.drop_table("coverage")
