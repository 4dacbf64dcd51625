"""incident.observation: what observe saw, for the console

Revision ID: 5a1f0c9d2e77
Revises: 3e8d5b2c6f41
Create Date: 2026-11-23 00:03:00+00:00

A nullable JSON document on `incident`: the observation the observe activity returned (already
redacted), so the console can show each piece of evidence beside the item it cites. Rows written
before this revision keep NULL; the console says the observation was not recorded.

Adding a nullable column without a default is a catalogue-only change on PostgreSQL (no table
rewrite); the lock timeout set in `migrations/env.py` bounds its wait for the table lock. SQLite
adds the column in place; dropping it on downgrade rebuilds the table in batch mode (foreign-key
enforcement is off while migrations run, see env.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5a1f0c9d2e77"
down_revision: str | Sequence[str] | None = "3e8d5b2c6f41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the column type as of this revision; never import it from the application.
JSON_DOCUMENT = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("observation", JSON_DOCUMENT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("observation")
