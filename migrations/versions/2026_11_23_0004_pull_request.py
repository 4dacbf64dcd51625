"""pull_request: the PRs medic opens against the GitOps repository

Revision ID: 9b4e2d7a1c58
Revises: 5a1f0c9d2e77
Create Date: 2026-11-23 00:04:00+00:00

One row per branch (`medic/<incident id>`, `...-revert`): the branch is unique, so a retried
"open the PR" can never record a second one, and (host, number) is unique so the local host can
number its PRs. The local host (the embedded default) keeps its PRs only here; GitHub's are
mirrored.

Creating a table takes no lock on an existing one except the brief reference check of the new
foreign key on `incident`, which the lock timeout set in `migrations/env.py` bounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision: str = "9b4e2d7a1c58"
down_revision: str | Sequence[str] | None = "5a1f0c9d2e77"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision; never import them from the application.
JSON_DOCUMENT = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
INCIDENT_ID = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pull_request",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("host", sa.String(16), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("incident_id", INCIDENT_ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("base", sa.String(255), nullable=False),
        sa.Column("head_commit", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("merge_commit", sa.String(64), nullable=True),
        sa.Column("merged_by", sa.String(255), nullable=True),
        sa.Column("closed_by", sa.String(255), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("comments", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pull_request"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name="fk_pull_request_incident_id_incident"
        ),
        sa.UniqueConstraint("branch", name="uq_pull_request_branch"),
        sa.UniqueConstraint("host", "number", name="uq_pull_request_host_number"),
    )
    op.create_index("ix_pull_request_incident_id", "pull_request", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_pull_request_incident_id", table_name="pull_request")
    op.drop_table("pull_request")
