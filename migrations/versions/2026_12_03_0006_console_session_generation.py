"""console_session_generation: a console logout ends the user's sessions on every replica

Revision ID: 6e1f3a8b2c47
Revises: 4d7a9c2e5f13
Create Date: 2026-12-03 00:06:00+00:00

One row per console user who has logged out at least once, keyed by the user's name; a session
cookie names the generation it was issued in and is refused once the row's generation has moved
on. A new table takes no lock on an existing one; the lock timeout set in `migrations/env.py`
still bounds every statement.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6e1f3a8b2c47"
down_revision: str | Sequence[str] | None = "4d7a9c2e5f13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as of this revision; never import them from the application.
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_session_generation",
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("user_name", name="pk_console_session_generation"),
    )


def downgrade() -> None:
    op.drop_table("console_session_generation")
