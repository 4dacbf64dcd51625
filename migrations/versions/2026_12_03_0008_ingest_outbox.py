"""ingest_outbox: Alertmanager notifications accepted while Temporal was unreachable

Revision ID: 8a3e5b7c9d02
Revises: 7c2d4e6f8a91
Create Date: 2026-12-03 00:08:00+00:00

One row per notification the gateway answered 2xx but could not hand to Temporal yet; the
gateway's delivery task deletes it once its group's workflow has it. Rows of one group are
delivered in `id` order, so the table is read by group (the index on `workflow_id`). A new table
takes no lock on an existing one; the lock timeout set in `migrations/env.py` still bounds every
statement.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision: str = "8a3e5b7c9d02"
down_revision: str | Sequence[str] | None = "7c2d4e6f8a91"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision; never import them from the application.
TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ingest_outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_outbox"),
        sa.UniqueConstraint("notification_id", name="uq_ingest_outbox_notification_id"),
    )
    op.create_index("ix_ingest_outbox_workflow_id", "ingest_outbox", ["workflow_id"])


def downgrade() -> None:
    op.drop_index("ix_ingest_outbox_workflow_id", table_name="ingest_outbox")
    op.drop_table("ingest_outbox")
