"""Incident memory: the migration on both databases, idempotent remembering, and recall.

Recall runs on each database's own full-text search (PostgreSQL tsvector, SQLite FTS5), so every
test runs on both. Tests use the rolled-back `session` fixture and ids unique to the test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from domain.incident.memory import IncidentMemory
from store import migrate
from store.db import normalize_url
from store.memory import (
    MAX_QUERY_TERMS,
    POSTGRES_SEARCH_INDEX,
    SQLITE_FTS_TABLE,
    MemoryRepository,
    autogenerate_include_name,
    fts5_query,
    query_terms,
    websearch_query,
)
from store.models import Base
from store.models import IncidentMemory as IncidentMemoryRow
from store.repositories import IncidentRepository

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BEFORE_MEMORY = "7c2f4e1a9b03"

OOM_QUERY = (
    "Container ledger in payments/ledger was OOMKilled KubePodCrashLooping payments Deployment ledger "
    "OOMKilled CrashLoopBackOff BackOff"
)


def _id(label: str) -> str:
    return f"incident-{label}-{uuid.uuid4().hex[:10]}"


def _remember(session: Session, label: str, **fields: object) -> IncidentMemory:
    incident_id = _id(label)
    IncidentRepository(session).upsert(incident_id, title=str(fields.get("title", "")))
    values: dict[str, object] = {"outcome": "resolved", "closed_at": T0, **fields}
    memory = IncidentMemory(incident_id=incident_id, **values)
    MemoryRepository(session).remember(memory)
    return memory


def _oom_on_ledger(session: Session, *, outcome: str = "resolved", **fields: object) -> IncidentMemory:
    values: dict[str, object] = {
        "title": "Container ledger in payments/ledger was OOMKilled",
        "alertname": "KubePodCrashLooping",
        "namespace": "payments",
        "workload": "payments/Deployment/ledger",
        "root_cause": "oom",
        "summary": "ledger exceeded its 256Mi memory limit and was OOMKilled repeatedly",
        "actions": [
            {
                "kind": "set_resources",
                "target": "payments/Deployment/ledger",
                "mode": "gitops",
                "limits": {"memory": "512Mi"},
            }
        ],
        "signals": ["CrashLoopBackOff", "OOMKilled", "BackOff"],
        "outcome": outcome,
        **fields,
    }
    return _remember(session, "oom", **values)


def _unrelated(session: Session) -> list[IncidentMemory]:
    return [
        _remember(
            session,
            "pull",
            title="checkout cannot pull image shop/checkout:v2.0.1-typo",
            alertname="KubePodNotReady",
            namespace="shop",
            workload="shop/Deployment/checkout",
            root_cause="image_pull",
            summary="image tag does not exist in the registry",
            signals=["ErrImagePull", "ImagePullBackOff"],
            actions=[{"kind": "set_image", "target": "shop/Deployment/checkout", "image": "checkout:v2.0.0"}],
        ),
        _remember(
            session,
            "saturation",
            title="payments api latency above SLO",
            alertname="HighLatency",
            namespace="payments",
            workload="payments/Deployment/api",
            root_cause="saturation",
            summary="CPU throttled at its limit under load; scaled out",
            actions=[{"kind": "scale", "target": "payments/Deployment/api", "replicas": 6}],
        ),
        _remember(
            session,
            "config",
            title="search crashes on start: missing configuration key",
            alertname="KubePodCrashLooping",
            namespace="catalog",
            workload="catalog/Deployment/search",
            root_cause="config_error",
            summary="container exits with code 1: config key SEARCH_URL is missing",
            signals=["CrashLoopBackOff", "Error"],
            outcome="needs_review",
        ),
    ]


# -- the migration ---------------------------------------------------------------------------------


def _schema(url: str) -> tuple[set[str], set[str], set[str]]:
    """Tables, triggers (SQLite) and indexes of incident_memory in the database at `url`."""
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            tables = set(inspector.get_table_names())
            triggers: set[str] = set()
            indexes: set[str] = set()
            if connection.dialect.name == "sqlite":
                triggers = set(
                    connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
                )
            if "incident_memory" in tables:
                indexes = set(
                    connection.scalars(
                        text(
                            "SELECT indexname FROM pg_indexes WHERE tablename = 'incident_memory'"
                            if connection.dialect.name == "postgresql"
                            else "SELECT name FROM sqlite_master WHERE type = 'index' "
                            "AND tbl_name = 'incident_memory' AND sql IS NOT NULL"
                        )
                    )
                )
    finally:
        engine.dispose()
    return tables, triggers, indexes


def test_migration_adds_and_removes_incident_memory_with_its_search_index(db_url: str) -> None:
    migrate.upgrade(db_url)
    tables, triggers, indexes = _schema(db_url)
    assert "incident_memory" in tables
    assert {"ix_incident_memory_alertname", "ix_incident_memory_workload"} <= indexes
    if db_url.startswith("sqlite"):
        assert SQLITE_FTS_TABLE in tables
        assert triggers == {
            "incident_memory_fts_insert",
            "incident_memory_fts_update",
            "incident_memory_fts_delete",
        }
    else:
        assert POSTGRES_SEARCH_INDEX in indexes

    migrate.downgrade(db_url, BEFORE_MEMORY)
    tables, triggers, _ = _schema(db_url)
    assert migrate.current(db_url) == BEFORE_MEMORY
    assert not {t for t in tables if t.startswith("incident_memory")}
    assert triggers == set()
    assert {"incident", "audit_event", "snapshot", "approval", "action"} <= tables

    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
    assert "incident_memory" in _schema(db_url)[0]


def test_models_match_migrations_once_the_search_index_is_filtered(migrated_url: str) -> None:
    engine = create_engine(normalize_url(migrated_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": autogenerate_include_name}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_text_search_uses_the_gin_index(session: Session) -> None:
    assert session.get_bind().dialect.name == "postgresql"
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        session.scalars(
            text(
                "EXPLAIN SELECT incident_id FROM incident_memory "
                "WHERE to_tsvector('english', search_text) @@ websearch_to_tsquery('english', 'oomkilled')"
            )
        )
    )
    assert POSTGRES_SEARCH_INDEX in plan


# -- remember ----------------------------------------------------------------------------------


def test_remember_is_idempotent_and_replaces_the_earlier_memory(session: Session) -> None:
    first = _oom_on_ledger(session)
    repo = MemoryRepository(session)
    repo.remember(first)
    again = first.model_copy(update={"outcome": "rolled_back", "summary": "raised limit did not help"})
    row = repo.remember(again)
    repo.remember(again)

    assert (row.outcome, row.summary) == ("rolled_back", "raised limit did not help")
    count = select(func.count()).select_from(IncidentMemoryRow)
    assert session.scalar(count.where(IncidentMemoryRow.incident_id == first.incident_id)) == 1
    if session.get_bind().dialect.name == "sqlite":
        indexed = session.scalar(
            text(f"SELECT count(*) FROM {SQLITE_FTS_TABLE} WHERE incident_id = :id"),
            {"id": first.incident_id},
        )
        assert indexed == 1, "the FTS5 table keeps exactly one entry per memory"
    # The search index follows the update: the new words are found, under the new outcome.
    (found,) = repo.similar("help", exclude_incident_id=None, limit=5)
    assert (found.incident_id, found.outcome) == (first.incident_id, "rolled_back")


def test_remember_keeps_the_fields_it_is_given(session: Session) -> None:
    memory = _oom_on_ledger(session)
    row = MemoryRepository(session).get(memory.incident_id)
    assert row is not None
    assert row.actions == memory.actions and row.signals == memory.signals
    assert row.closed_at == T0
    assert "OOMKilled" in row.search_text and "payments Deployment ledger" in row.search_text


def test_memory_of_an_unknown_incident_is_refused(session: Session) -> None:
    memory = IncidentMemory(incident_id=_id("ghost"), outcome="resolved", closed_at=T0)
    with pytest.raises(IntegrityError):
        MemoryRepository(session).remember(memory)


# -- recall ------------------------------------------------------------------------------------


def test_resolved_oom_on_the_same_workload_is_recalled_first(session: Session) -> None:
    unrelated = _unrelated(session)
    past = _oom_on_ledger(session)

    similar = MemoryRepository(session).similar(
        OOM_QUERY,
        alertname="KubePodCrashLooping",
        namespace="payments",
        workload="payments/Deployment/ledger",
        limit=3,
    )

    assert [s.incident_id for s in similar][0] == past.incident_id
    best = similar[0]
    assert best.outcome == "resolved" and not best.rolled_back_before
    assert best.actions == past.actions and best.root_cause == "oom"
    assert 0.9 <= best.score <= 1.0
    assert all(s.score < best.score for s in similar[1:])
    assert {s.incident_id for s in similar[1:]} <= {u.incident_id for u in unrelated}


def test_text_alone_finds_the_oom_incident(session: Session) -> None:
    _unrelated(session)
    past = _oom_on_ledger(session)

    # Another alert on another workload: only the words link it to the past incident.
    similar = MemoryRepository(session).similar("billing worker OOMKilled, memory limit reached", limit=3)

    assert similar and similar[0].incident_id == past.incident_id


def test_structured_match_without_any_text_match_is_recalled(session: Session) -> None:
    past = _oom_on_ledger(session)
    (found,) = MemoryRepository(session).similar("zzz qqq", workload="payments/Deployment/ledger")
    assert found.incident_id == past.incident_id
    assert found.score == pytest.approx(0.25)


def test_a_fix_that_was_rolled_back_is_flagged(session: Session) -> None:
    rolled_back = _oom_on_ledger(session, outcome="rolled_back", reason="verification failed")
    later = _oom_on_ledger(session, closed_at=T0 + timedelta(days=1))

    similar = MemoryRepository(session).similar(
        OOM_QUERY, alertname="KubePodCrashLooping", workload="payments/Deployment/ledger", limit=5
    )

    flags = {s.incident_id: s.rolled_back_before for s in similar}
    assert flags[rolled_back.incident_id] is True
    assert flags[later.incident_id] is False
    # Equal scores: the most recently closed comes first.
    assert [s.incident_id for s in similar][:2] == [later.incident_id, rolled_back.incident_id]


def test_exclude_incident_id_leaves_the_incident_itself_out(session: Session) -> None:
    past = _oom_on_ledger(session)
    current = _oom_on_ledger(session)

    similar = MemoryRepository(session).similar(
        OOM_QUERY, workload="payments/Deployment/ledger", exclude_incident_id=current.incident_id, limit=5
    )

    ids = [s.incident_id for s in similar]
    assert current.incident_id not in ids
    assert past.incident_id in ids


def test_root_cause_boosts_when_known(session: Session) -> None:
    oom = _oom_on_ledger(session, workload="payments/Deployment/ledger-a")
    other = _oom_on_ledger(session, workload="payments/Deployment/ledger-b", root_cause="bad_release")

    similar = MemoryRepository(session).similar("ledger", root_cause="oom", limit=5)

    scores = {s.incident_id: s.score for s in similar}
    assert scores[oom.incident_id] > scores[other.incident_id]


HOSTILE_QUERIES = [
    "",
    "   ",
    '"',
    '"unbalanced quote',
    "'single' \"double\" `back`",
    "ledger AND OR NOT payments",
    "NEAR(ledger payments, 2)",
    "NEAR/3 ledger",
    "led*",
    "*",
    "((ledger)",
    ")",
    "search_text:ledger",
    "incident_id:x OR title:y",
    "{search_text incident_id}: ledger",
    "^ledger",
    "-ledger +payments",
    "ledger & payments | !oom <-> x",
    "'; DROP TABLE incident_memory; --",
    "AND",
    "OR OR OR",
    "or and not",
    "\x00\x01\x02",
    "ünïcödé 漢字 OOMKilled",
    "a" * 10_000,
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_fts_syntax_in_the_query_is_plain_text(session: Session, query: str) -> None:
    past = _oom_on_ledger(session)
    repo = MemoryRepository(session)

    similar = repo.similar(query, alertname="KubePodCrashLooping", limit=3)

    assert past.incident_id in {s.incident_id for s in similar}


def test_hostile_syntax_around_real_words_still_finds_them(session: Session) -> None:
    past = _oom_on_ledger(session)
    similar = MemoryRepository(session).similar(
        '"OOMKilled" AND (ledger* OR search_text:payments NEAR(x', limit=3
    )
    assert similar and similar[0].incident_id == past.incident_id


def test_query_terms_are_words_only_and_bounded() -> None:
    terms = query_terms(
        'Led*ger "OOMKilled" AND (x) search_text:payments NEAR/3 ' + " ".join(f"w{i}" for i in range(99))
    )
    assert terms[:6] == ["led", "ger", "oomkilled", "and", "search", "text"]
    assert len(terms) == MAX_QUERY_TERMS
    assert all(term.isalnum() for term in terms)
    assert fts5_query(["and", "near"]) == '"and" OR "near"'
    assert websearch_query(["oom", "or", "and", "ledger"]) == "oom or ledger"
