"""drift_scan, drift_finding: what each scheduled drift scan found

Revision ID: 4d7a9c2e5f13
Revises: 9b4e2d7a1c58
Create Date: 2026-11-24 00:05:00+00:00

One `drift_scan` row per scan, keyed by the scan id (its workflow id), and one `drift_finding` row
per drifted resource of a scan. (scan_id, app_key, resource_key) is unique, so a retried
`record_drift_findings` rewrites its rows instead of adding them; (app_key, resource_key) is
indexed for the resource's previous findings, from which `first_seen_at` is carried. A finding's
`incident_id` is not a foreign key: the scan names the drift incident before that workflow has
recorded its row.

Two new tables take no lock on an existing one (no foreign key to `incident`); the lock timeout
set in `migrations/env.py` still bounds every statement.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision: str = "4d7a9c2e5f13"
down_revision: str | Sequence[str] | None = "9b4e2d7a1c58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision; never import them from the application.
JSON_DOCUMENT = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
SCAN_ID = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drift_scan",
        sa.Column("id", SCAN_ID, nullable=False),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("apps_scanned", sa.Integer(), nullable=False),
        sa.Column("resources_scanned", sa.Integer(), nullable=False),
        sa.Column("drifted_apps", sa.Integer(), nullable=False),
        sa.Column("errors", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drift_scan"),
    )
    op.create_index("ix_drift_scan_scope", "drift_scan", ["scope", "started_at"])

    op.create_table(
        "drift_finding",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("scan_id", SCAN_ID, nullable=False),
        sa.Column("app_key", sa.String(600), nullable=False),
        sa.Column("application", sa.String(253), nullable=False),
        sa.Column("app_namespace", sa.String(253), nullable=False),
        sa.Column("project", sa.String(253), nullable=False),
        sa.Column("resource_key", sa.String(600), nullable=False),
        sa.Column("group", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("fields", JSON_DOCUMENT, nullable=False),
        sa.Column("live_missing", sa.Boolean(), nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("incident_id", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_drift_finding"),
        sa.ForeignKeyConstraint(["scan_id"], ["drift_scan.id"], name="fk_drift_finding_scan_id_drift_scan"),
        sa.UniqueConstraint(
            "scan_id", "app_key", "resource_key", name="uq_drift_finding_scan_id_app_key_resource_key"
        ),
    )
    op.create_index("ix_drift_finding_app_key", "drift_finding", ["app_key", "resource_key"])


def downgrade() -> None:
    op.drop_index("ix_drift_finding_app_key", table_name="drift_finding")
    op.drop_table("drift_finding")
    op.drop_index("ix_drift_scan_scope", table_name="drift_scan")
    op.drop_table("drift_scan")
