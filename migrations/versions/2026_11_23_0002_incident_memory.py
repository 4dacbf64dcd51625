"""incident_memory: closed incidents, searchable by text

Revision ID: 3e8d5b2c6f41
Revises: 7c2f4e1a9b03
Create Date: 2026-11-23 00:02:00+00:00

One row per closed incident (keyed by, and referencing, `incident.id`), with the text that
full-text search reads in `search_text`. The search index differs by database:

- PostgreSQL: a GIN index on `to_tsvector('english', search_text)`. Queries must spell the
  same expression (`store.memory` does) for the planner to use it.
- SQLite: an FTS5 table `incident_memory_fts(incident_id UNINDEXED, search_text)` with its own
  copy of the text, kept in sync by AFTER INSERT / UPDATE / DELETE triggers on incident_memory.
  It is not an external-content table on purpose: incident_memory has no INTEGER PRIMARY KEY,
  so its rowids may change on VACUUM, which would silently desynchronise an external index.

Neither index is in `store.models` (it is not portable); autogenerate ignores both through
`store.memory.autogenerate_include_name`.

A later migration that rebuilds incident_memory on SQLite (batch mode copies the table and drops
the original) drops these triggers with it and must create them again. The FTS rows themselves
stay valid across such a rebuild: they are keyed by incident_id, not by rowid.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3e8d5b2c6f41"
down_revision: str | Sequence[str] | None = "7c2f4e1a9b03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision; never import them from the application.
JSON_DOCUMENT = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
INCIDENT_ID = sa.String(255)
TIMESTAMP = sa.DateTime(timezone=True)

POSTGRES_SEARCH_INDEX = "ix_incident_memory_search_text_fts"

SQLITE_FTS = (
    # porter: "limits"/"limit", "crashed"/"crash" match; unicode61 folds case and diacritics.
    "CREATE VIRTUAL TABLE incident_memory_fts USING fts5("
    "incident_id UNINDEXED, search_text, tokenize = 'porter unicode61')",
    "CREATE TRIGGER incident_memory_fts_insert AFTER INSERT ON incident_memory BEGIN "
    "INSERT INTO incident_memory_fts (incident_id, search_text) VALUES (new.incident_id, new.search_text); "
    "END",
    # ON CONFLICT DO UPDATE (the repository's upsert) fires this one.
    "CREATE TRIGGER incident_memory_fts_update AFTER UPDATE ON incident_memory BEGIN "
    "DELETE FROM incident_memory_fts WHERE incident_id = old.incident_id; "
    "INSERT INTO incident_memory_fts (incident_id, search_text) VALUES (new.incident_id, new.search_text); "
    "END",
    "CREATE TRIGGER incident_memory_fts_delete AFTER DELETE ON incident_memory BEGIN "
    "DELETE FROM incident_memory_fts WHERE incident_id = old.incident_id; "
    "END",
)


def upgrade() -> None:
    op.create_table(
        "incident_memory",
        sa.Column("incident_id", INCIDENT_ID, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("alertname", sa.String(255), nullable=True),
        sa.Column("namespace", sa.String(253), nullable=True),
        sa.Column("workload", sa.String(600), nullable=True),
        sa.Column("root_cause", sa.String(64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("actions", JSON_DOCUMENT, nullable=False),
        sa.Column("signals", JSON_DOCUMENT, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name="pk_incident_memory"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name="fk_incident_memory_incident_id_incident"
        ),
    )
    op.create_index("ix_incident_memory_alertname", "incident_memory", ["alertname"])
    op.create_index("ix_incident_memory_workload", "incident_memory", ["workload"])
    op.create_index("ix_incident_memory_root_cause", "incident_memory", ["root_cause"])

    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        # The table is new and empty, so a plain (locking) CREATE INDEX is instant.
        op.create_index(
            POSTGRES_SEARCH_INDEX,
            "incident_memory",
            [sa.text("to_tsvector('english', search_text)")],
            postgresql_using="gin",
        )
    elif dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.drop_index(POSTGRES_SEARCH_INDEX, table_name="incident_memory")
    elif dialect == "sqlite":
        for trigger in (
            "incident_memory_fts_delete",
            "incident_memory_fts_update",
            "incident_memory_fts_insert",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS incident_memory_fts")
    op.drop_index("ix_incident_memory_root_cause", table_name="incident_memory")
    op.drop_index("ix_incident_memory_workload", table_name="incident_memory")
    op.drop_index("ix_incident_memory_alertname", table_name="incident_memory")
    op.drop_table("incident_memory")
