"""change_review: the reviews of GitOps pull requests, and the local host's comments and statuses

Revision ID: 3f6c1d8e2b47
Revises: 8a3e5b7c9d02
Create Date: 2026-12-04 00:09:00+00:00

`change_review` holds one row per reviewed head (key: the review workflow's id "@" the head's
sha, so a retried review rewrites its row), read by workflow (the index on `workflow_id`).
`review_comment` and `commit_status` are what a forge would keep for the local host: a review's
comment in parts (unique per workflow, marker and part) and the last status of a context on a
commit (unique per repository, sha and context). New tables take no lock on existing ones; the
lock timeout set in `migrations/env.py` still bounds every statement.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision: str = "3f6c1d8e2b47"
down_revision: str | Sequence[str] | None = "8a3e5b7c9d02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision; never import them from the application.
TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "change_review",
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("host", sa.String(16), nullable=False),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("head_ref", sa.String(255), nullable=False),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("base_sha", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("risk", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("monthly_delta_usd", sa.Float(), nullable=False),
        sa.Column("objects_changed", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_change_review"),
    )
    op.create_index("ix_change_review_workflow_id", "change_review", ["workflow_id"])
    op.create_table(
        "review_comment",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("marker", sa.String(100), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_review_comment"),
        sa.UniqueConstraint(
            "workflow_id", "marker", "part", name="uq_review_comment_workflow_id_marker_part"
        ),
    )
    op.create_table(
        "commit_status",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("repository", sa.String(1000), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("target_url", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_commit_status"),
        sa.UniqueConstraint("repository", "sha", "context", name="uq_commit_status_repository_sha_context"),
    )


def downgrade() -> None:
    op.drop_table("commit_status")
    op.drop_table("review_comment")
    op.drop_index("ix_change_review_workflow_id", table_name="change_review")
    op.drop_table("change_review")
