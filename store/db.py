"""Engines, sessions and the transaction boundary.

One engine per process, one session per activity: the activity opens `transaction(factory)`,
hands the session to repositories (which never commit), and the commit happens when the block
exits cleanly. Any exception rolls the whole activity's writes back, so a retried activity starts
from the same state as the first attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

# How long a SQLite writer waits for another writer's lock before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000

# Bare PostgreSQL schemes as found in the wild (libpq, Heroku-style, docker-compose files); all mean
# "PostgreSQL with the driver we ship", which is psycopg 3.
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def normalize_url(url: str | URL) -> URL:
    """`url` as SQLAlchemy should see it: bare `postgresql://` / `postgres://` URLs get psycopg 3.

    An explicit driver (`postgresql+psycopg2://`, `sqlite+pysqlite://`) is left alone.
    """
    parsed = make_url(url)
    if parsed.drivername in _POSTGRES_SCHEMES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def ensure_sqlite_directory(url: URL) -> None:
    """Create the directory a file-backed SQLite database lives in; no-op for anything else."""
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url):
        return
    database = url.database or ""
    if database.startswith("file:"):
        # URI filenames (`?uri=true`) are the caller's business.
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


# libpq's connect_timeout: a store that does not answer is as unreachable as one that refuses.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for `url`, configured for how medic uses the database.

    SQLite: the parent directory is created, the connection may be used from the activity thread
    pool, and every connection runs in WAL mode with foreign keys enforced and a busy timeout, so
    concurrent writers wait for each other instead of failing. An in-memory database is shared by
    all sessions of the engine.

    PostgreSQL: `postgresql://` is served by psycopg 3; connections are pinged before use so a
    restarted server does not fail the first activity after it, and a connection attempt gives up
    after POSTGRES_CONNECT_TIMEOUT_SECONDS (unless the URL sets `connect_timeout`), so a server that
    does not answer fails an attempt as unreachable instead of holding it to its step's timeout.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, echo=echo)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_SECONDS
    return create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def _make_sqlite_engine(url: URL, *, echo: bool) -> Engine:
    ensure_sqlite_directory(url)
    kwargs: dict[str, Any] = {
        "echo": echo,
        "connect_args": {
            "check_same_thread": False,
            # pysqlite's own wait, in seconds; the PRAGMA below covers connections opened elsewhere.
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        },
    }
    if is_sqlite_memory(url):
        # Each connection to :memory: is a different database; keep exactly one.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (the console) run while an activity writes; it is a property of the
        # file, so setting it again on every connection is cheap. In-memory databases answer
        # "memory" and stay as they are.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        # Safe with WAL: a power loss may lose the last commits, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit and close (`expire_on_commit=False`).

    Autoflush is off: repositories write with explicit statements and never rely on pending
    objects being flushed by a later query.
    """
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits when the block exits normally, rolls back if it raises.

    The exception is re-raised unchanged, so activity code classifies it as it would any other.
    The session is closed either way.
    """
    with factory() as session, session.begin():
        yield session
