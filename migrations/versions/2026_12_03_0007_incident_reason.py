"""incident.reason and incident.model_unusable: the one line an operator reads first

Revision ID: 7c2d4e6f8a91
Revises: 6e1f3a8b2c47
Create Date: 2026-12-03 00:07:00+00:00

Two nullable text columns on `incident`: `reason`, one line saying why the incident ended as it
did (written when it closes; the CLI, the console and notifications show it first), and
`model_unusable`, one line saying why the configured model could not be used (a refused key, an
exhausted quota, an outage) when the offline rules diagnosed instead — the gateway's metrics and
the console's banner are derived from it. Rows written before this revision keep NULL in both.

Adding a nullable column without a default is a catalogue-only change on PostgreSQL (no table
rewrite); the lock timeout set in `migrations/env.py` bounds its wait for the table lock. SQLite
adds the columns in place; dropping them on downgrade rebuilds the table in batch mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c2d4e6f8a91"
down_revision: str | Sequence[str] | None = "6e1f3a8b2c47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("model_unusable", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("model_unusable")
        batch.drop_column("reason")
