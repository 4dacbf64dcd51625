"""Databases for the store tests: a fresh SQLite file per test, one fresh PostgreSQL database per run.

The schema always comes from the real migrations (`store.migrate.upgrade`), never from
`metadata.create_all`, so the tests see exactly what production sees. Repository tests run
inside a transaction that is rolled back, so they leave nothing behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import URL, Engine, make_url
from sqlalchemy.orm import Session

from store import migrate
from store.db import make_engine

POSTGRES_URL_ENV = "MEDIC_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq_url(url: URL) -> str:
    # psycopg speaks libpq URIs, which know no "+driver" suffix.
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database created for this test run and dropped after it.

    The server is `$MEDIC_TEST_POSTGRES_URL` (default: local, user postgres). An unreachable
    server skips the PostgreSQL tests locally and fails them when `$CI` is set, so CI can never
    pass by silently testing less.
    """
    server = make_url(os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL)
    try:
        admin = psycopg.connect(_libpq_url(server), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = (
            f"PostgreSQL at {server.render_as_string(hide_password=True)} is unreachable "
            f"(set {POSTGRES_URL_ENV} to a server where this user may CREATE DATABASE): {exc}"
        )
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI requires PostgreSQL for the store tests. {reason}", pytrace=False)
        pytest.skip(reason)

    name = f"medic_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            # FORCE: a connection a failed test left open must not keep the database alive.
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite database file of this test only (in a directory that does not exist yet)."""
    return f"sqlite:///{tmp_path / 'store' / 'medic.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The test runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def migrated_url(db_url: str) -> str:
    """`db_url`, migrated to the newest revision."""
    migrate.upgrade(db_url)
    return db_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, expire_on_commit=False, autoflush=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()
