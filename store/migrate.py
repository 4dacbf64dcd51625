"""Run the Alembic migrations from code: `upgrade`, `downgrade`, `current`.

The Alembic config is built here from the `alembic.ini` shipped inside the `migrations` package,
so this works from a checkout or an installed wheel, whatever the working directory. Logging is
left as the caller configured it.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from store.db import is_sqlite_memory, normalize_url

# The migration scripts are package data here: located, not imported (they import store.models).
MIGRATIONS_DIR = Path(str(resources.files("migrations"))).resolve()
ALEMBIC_INI = MIGRATIONS_DIR / "alembic.ini"


def _base_config() -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logger"] = False
    return config


def alembic_config(url: str) -> Config:
    """An Alembic `Config` for `url`, independent of the working directory."""
    parsed = normalize_url(url)
    if is_sqlite_memory(parsed):
        # env.py migrates on its own connection; a private in-memory database would vanish with it.
        raise ValueError("cannot migrate an in-memory SQLite database by URL")
    config = _base_config()
    # The ini file is read with interpolation, so a literal '%' (URL-escaped passwords) is doubled.
    rendered = parsed.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (default: the newest). Idempotent."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" removes every table)."""
    command.downgrade(alembic_config(url), revision)


def current(url: str, *, connect_timeout: float | None = None) -> str | None:
    """The revision the database at `url` is at; None for a database never migrated.

    `connect_timeout` (seconds) bounds the connection to a database server (a check must not hang
    on one that does not answer); a missing SQLite file is "never migrated", and is not created."""
    parsed = normalize_url(url)
    # Connecting would create the file (or fail on a missing directory) just to say "none".
    if (
        parsed.get_backend_name() == "sqlite"
        and not is_sqlite_memory(parsed)
        and not Path(parsed.database or "").expanduser().exists()
    ):
        return None
    connect_args: dict[str, object] = {}
    if connect_timeout is not None and parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, math.ceil(connect_timeout))
    engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def known(revision: str) -> bool:
    """Whether `revision` is one of the migrations shipped with this code."""
    try:
        return ScriptDirectory.from_config(_base_config()).get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for an unknown or malformed id
        return False


def head() -> str:
    """The newest revision shipped with this code; `current(url) == head()` means up to date."""
    revision = ScriptDirectory.from_config(_base_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return revision
