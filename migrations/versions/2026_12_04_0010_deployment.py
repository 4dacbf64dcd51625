"""deployment: one row per watched deploy (an Argo CD Application synced to a revision)

Revision ID: 5b2d7e9a4c13
Revises: 3f6c1d8e2b47
Create Date: 2026-12-04 00:10:00+00:00

`deployment` is keyed by the watch's workflow id (one per Application and revision), read by
Application newest first (the index on `application, started_at`) and across Applications newest
first (the index on `started_at`). A new table takes no lock on existing ones; the lock timeout
set in `migrations/env.py` still bounds every statement.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b2d7e9a4c13"
down_revision: str | Sequence[str] | None = "3f6c1d8e2b47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the column type as of this revision; never import it from the application.
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("watch_id", sa.String(255), nullable=False),
        sa.Column("application", sa.String(253), nullable=False),
        sa.Column("app_namespace", sa.String(253), nullable=False),
        sa.Column("project", sa.String(253), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("previous_revision", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.String(255), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("watch_id", name="pk_deployment"),
    )
    op.create_index("ix_deployment_application", "deployment", ["application", "started_at"])
    op.create_index("ix_deployment_started_at", "deployment", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_deployment_started_at", table_name="deployment")
    op.drop_index("ix_deployment_application", table_name="deployment")
    op.drop_table("deployment")
