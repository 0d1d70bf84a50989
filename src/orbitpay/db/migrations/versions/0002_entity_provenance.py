"""entity rows know where their data came from: origin, state_ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:20:00

``origin`` on withdrawals, streams, vesting_schedules, proposals and
governance_members: ``events`` (the RPC's getEvents; the default, so every
existing row and every row the projection writes gets it), ``archive`` (events
read from a SEP-54 ledger data lake) or ``ledger_state`` (the contract's
storage read with getLedgerEntries, when the entity's events are out of reach).
The CHECK constraint spells its values out: a migration is history.

``state_ledger`` (nullable) on the same tables: for a row written from a
ledger entry, the entry's ``lastModifiedLedgerSeq``; the row's state already
includes every event up to the end of that ledger.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("withdrawals", "streams", "vesting_schedules", "proposals", "governance_members")
ORIGINS = "origin IN ('events', 'archive', 'ledger_state')"


def upgrade() -> None:
    for table in TABLES:
        # A constant default: PostgreSQL adds the column without rewriting the table.
        op.add_column(
            table, sa.Column("origin", sa.Text(), server_default="events", nullable=False)
        )
        op.add_column(table, sa.Column("state_ledger", sa.Integer(), nullable=True))
        op.create_check_constraint(op.f(f"ck_{table}_origin"), table, ORIGINS)


def downgrade() -> None:
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_origin"), table, type_="check")
        op.drop_column(table, "state_ledger")
        op.drop_column(table, "origin")
