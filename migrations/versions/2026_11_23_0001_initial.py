"""initial: incident, audit_event, snapshot, approval, action

Revision ID: 7c2f4e1a9b03
Revises:
Create Date: 2026-11-23 00:01:00+00:00

Every table hangs off `incident` (keyed by the workflow id) and carries the natural key that
makes a retried activity's write a no-op: (incident_id, seq) for audit events, (incident_id,
resource_key) for snapshots, (incident_id, approver, plan_hash) for approvals, (incident_id,
action_index, phase) for actions.

Constraint and index names follow store.models.NAMING_CONVENTION and are spelled out here, so
later migrations can refer to them on every database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision: str = "7c2f4e1a9b03"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision; never import them from the application.
JSON_DOCUMENT = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
# SQLite auto-increments only INTEGER PRIMARY KEY.
BIG_ID = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
INCIDENT_ID = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", INCIDENT_ID, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("risk", sa.String(16), nullable=True),
        sa.Column("root_cause", sa.String(64), nullable=True),
        sa.Column("namespace", sa.String(253), nullable=True),
        sa.Column("target", sa.String(600), nullable=True),
        sa.Column("plan_hash", sa.String(64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("alert_group", JSON_DOCUMENT, nullable=True),
        sa.Column("diagnosis", JSON_DOCUMENT, nullable=True),
        sa.Column("plan", JSON_DOCUMENT, nullable=True),
        sa.Column("policy_decision", JSON_DOCUMENT, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incident"),
    )
    op.create_index("ix_incident_status", "incident", ["status"])
    op.create_index("ix_incident_created_at", "incident", ["created_at"])

    op.create_table(
        "audit_event",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", INCIDENT_ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=True),
        sa.Column("detail", JSON_DOCUMENT, nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_event"),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], name="fk_audit_event_incident_id_incident"),
        sa.UniqueConstraint("incident_id", "seq", name="uq_audit_event_incident_id_seq"),
    )
    op.create_index("ix_audit_event_incident_id", "audit_event", ["incident_id"])

    op.create_table(
        "snapshot",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", INCIDENT_ID, nullable=False),
        sa.Column("resource_key", sa.String(600), nullable=False),
        sa.Column("resource_version", sa.String(64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("content", JSON_DOCUMENT, nullable=False),
        sa.Column("taken_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_snapshot"),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], name="fk_snapshot_incident_id_incident"),
        sa.UniqueConstraint("incident_id", "resource_key", name="uq_snapshot_incident_id_resource_key"),
    )

    op.create_table(
        "approval",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", INCIDENT_ID, nullable=False),
        sa.Column("approver", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("via", sa.String(32), nullable=False),
        sa.Column("decided_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approval"),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], name="fk_approval_incident_id_incident"),
        sa.UniqueConstraint(
            "incident_id", "approver", "plan_hash", name="uq_approval_incident_id_approver_plan_hash"
        ),
    )

    op.create_table(
        "action",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", INCIDENT_ID, nullable=False),
        sa.Column("action_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(600), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", JSON_DOCUMENT, nullable=False),
        sa.Column("executed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_action"),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], name="fk_action_incident_id_incident"),
        sa.UniqueConstraint(
            "incident_id", "action_index", "phase", name="uq_action_incident_id_action_index_phase"
        ),
    )


def downgrade() -> None:
    # Children first: each of them references incident.
    op.drop_table("action")
    op.drop_table("approval")
    op.drop_table("snapshot")
    op.drop_index("ix_audit_event_incident_id", table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_index("ix_incident_created_at", table_name="incident")
    op.drop_index("ix_incident_status", table_name="incident")
    op.drop_table("incident")
