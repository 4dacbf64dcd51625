"""Repositories: idempotent writes under retries, filters and order, the transaction boundary.

Tests that need real commits (the transaction boundary, concurrent retries) delete what they
wrote; every other test runs in the rolled-back `session` fixture. Ids are unique per test
because the PostgreSQL database is shared by the whole run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError, InvalidRequestError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from domain.analysis.plan import Plan, Restart
from domain.incident.model import ResourceRef
from store.db import make_engine, normalize_url, session_factory, transaction
from store.models import Action, Approval, AuditEvent, Incident, Snapshot
from store.repositories import (
    ActionRepository,
    ApprovalRepository,
    AuditRepository,
    IncidentRepository,
    SnapshotRepository,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _new_id() -> str:
    return f"remediation-{uuid.uuid4().hex[:12]}"


def _count(session: Session, model: type, incident_id: str) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.incident_id == incident_id))


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def purge(factory: sessionmaker[Session]) -> Iterator[Callable[[str], str]]:
    """Registers incident ids whose committed rows are deleted after the test."""
    ids: list[str] = []

    def register(incident_id: str) -> str:
        ids.append(incident_id)
        return incident_id

    yield register
    with transaction(factory) as session:
        for model in (AuditEvent, Snapshot, Approval, Action):
            session.execute(delete(model).where(model.incident_id.in_(ids)))
        session.execute(delete(Incident).where(Incident.id.in_(ids)))


# --- engine and transaction boundary ---------------------------------------------------------


def test_bare_postgres_urls_get_the_psycopg_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    engine = make_engine("postgresql://postgres@127.0.0.1:1/none")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_sqlite_engine_creates_its_directory_and_sets_pragmas(tmp_path) -> None:
    path = tmp_path / "a" / "b" / "medic.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
        assert path.exists()
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_one_database_for_every_session() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()


def test_transaction_commits_on_success_and_values_outlive_the_session(factory, purge) -> None:
    incident_id = purge(_new_id())
    with transaction(factory) as session:
        incident = IncidentRepository(session).upsert(incident_id, title="OOMKilled", status="observing")
    # Session closed: columns stay readable (expire_on_commit=False) ...
    assert incident.title == "OOMKilled"
    # ... and the row is really committed.
    with transaction(factory) as session:
        assert IncidentRepository(session).get(incident_id) is not None


def test_transaction_rolls_back_everything_on_error(factory) -> None:
    incident_id = _new_id()
    with pytest.raises(RuntimeError, match="activity failed"), transaction(factory) as session:
        IncidentRepository(session).upsert(incident_id, title="t")
        AuditRepository(session).record(incident_id, 1, "observe", "started")
        raise RuntimeError("activity failed")
    with transaction(factory) as session:
        assert IncidentRepository(session).get(incident_id) is None
        assert AuditRepository(session).list(incident_id=incident_id) == []


def test_relationships_refuse_lazy_loading(session: Session) -> None:
    incident = IncidentRepository(session).upsert(_new_id())
    with pytest.raises(InvalidRequestError, match="lazy=.raise."):
        _ = incident.audit_events


# --- incident ------------------------------------------------------------------------------------


def test_incident_upsert_twice_keeps_one_row_and_updates_only_given_fields(session: Session) -> None:
    repo = IncidentRepository(session)
    incident_id = _new_id()
    first = repo.upsert(
        incident_id, source="alert", title="OOMKilled", status="observing", namespace="shop", created_at=T0
    )
    second = repo.upsert(incident_id, status="analyzing", risk="medium")

    assert session.scalar(select(func.count()).select_from(Incident).where(Incident.id == incident_id)) == 1
    assert second.status == "analyzing"
    assert second.risk == "medium"
    assert second.title == "OOMKilled"
    assert second.namespace == "shop"
    # created_at is the first write's; a later upsert never moves it.
    assert second.created_at == T0
    assert second.updated_at >= first.updated_at


def test_incident_upsert_refuses_unknown_fields(session: Session) -> None:
    with pytest.raises(TypeError, match="colour"):
        IncidentRepository(session).upsert(_new_id(), colour="red")


def test_incident_json_fields_take_models_and_none_is_sql_null(session: Session) -> None:
    repo = IncidentRepository(session)
    plan = Plan(actions=[Restart(target=ResourceRef(namespace="shop", kind="Deployment", name="api"))])
    incident_id = _new_id()
    incident = repo.upsert(incident_id, plan=plan, plan_hash=plan.plan_hash(), diagnosis=None)

    assert incident.plan is not None
    assert incident.plan["actions"][0]["kind"] == "restart"
    assert Plan.model_validate(incident.plan).plan_hash() == incident.plan_hash
    unset = session.scalars(
        select(Incident.id).where(Incident.id == incident_id, Incident.diagnosis.is_(None))
    ).all()
    assert unset == [incident_id]


def test_timestamps_come_back_aware_in_utc(session: Session) -> None:
    plus_two = timezone(timedelta(hours=2))
    incident_id = _new_id()
    IncidentRepository(session).upsert(incident_id, created_at=datetime(2026, 11, 23, 11, 0, tzinfo=plus_two))
    session.expire_all()
    stored = IncidentRepository(session).get(incident_id)
    assert stored is not None
    assert stored.created_at == T0
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.updated_at.tzinfo is not None


def test_naive_timestamps_are_refused(session: Session) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        IncidentRepository(session).upsert(_new_id(), closed_at=datetime(2026, 11, 23, 9, 0))


def test_incident_update_sets_fields_and_reports_missing(session: Session) -> None:
    repo = IncidentRepository(session)
    incident_id = _new_id()
    repo.upsert(incident_id, status="executing")
    closed = repo.update(incident_id, status="resolved", outcome="resolved", closed_at=T0)
    assert closed is not None
    assert (closed.status, closed.outcome, closed.closed_at) == ("resolved", "resolved", T0)
    assert repo.get(incident_id) is closed
    assert repo.update(_new_id(), status="resolved") is None


def test_incident_list_filters_and_orders_newest_first(session: Session) -> None:
    repo = IncidentRepository(session)
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    rows = [
        ("a", "awaiting_approval", "medium", 0),
        ("b", "resolved", "low", 1),
        ("c", "awaiting_approval", "high", 2),
        ("d", "awaiting_approval", "medium", 3),
    ]
    ids = {}
    for name, status, risk, minutes in rows:
        ids[name] = repo.upsert(
            f"{namespace}-{name}",
            status=status,
            risk=risk,
            namespace=namespace,
            created_at=T0 + timedelta(minutes=minutes),
        ).id
    repo.upsert(_new_id(), status="awaiting_approval", namespace=f"other-{namespace}", risk="medium")

    def listed(**filters) -> list[str]:
        return [incident.id for incident in repo.list(namespace=namespace, **filters)]

    assert listed() == [ids["d"], ids["c"], ids["b"], ids["a"]]
    assert listed(status="awaiting_approval") == [ids["d"], ids["c"], ids["a"]]
    assert listed(status="awaiting_approval", risk="medium") == [ids["d"], ids["a"]]
    assert listed(limit=2) == [ids["d"], ids["c"]]
    assert listed(risk="deny") == []
    newest = repo.list(status="awaiting_approval", limit=500)
    assert [i.created_at for i in newest] == sorted((i.created_at for i in newest), reverse=True)


# --- audit ---------------------------------------------------------------------------------------


def test_audit_same_seq_twice_keeps_one_row_and_the_first_write(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    repo = AuditRepository(session)
    first = repo.record(incident_id, 7, "execute", "completed", detail={"changed": True}, duration_ms=120)
    retried = repo.record(incident_id, 7, "execute", "completed", detail={"changed": False}, duration_ms=9)

    assert _count(session, AuditEvent, incident_id) == 1
    assert retried.id == first.id
    assert retried.detail == {"changed": True}
    assert retried.duration_ms == 120


def test_audit_defaults(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    event = AuditRepository(session).record(incident_id, 1, "observe", "started")
    assert (event.actor, event.detail, event.plan_hash, event.duration_ms) == ("medic", {}, None, None)
    assert event.occurred_at.tzinfo is not None


def test_audit_list_orders_by_incident_then_seq_and_filters_by_step(session: Session) -> None:
    prefix = uuid.uuid4().hex[:8]
    incidents = [IncidentRepository(session).upsert(f"{prefix}-{n}").id for n in ("a", "b")]
    repo = AuditRepository(session)
    for incident_id in reversed(incidents):
        for seq, step in ((3, "execute"), (1, "observe"), (2, "analyze")):
            repo.record(incident_id, seq, step, "completed", actor="alice" if step == "execute" else "medic")

    events = [(e.incident_id, e.seq) for e in repo.list() if e.incident_id in incidents]
    assert events == [(i, seq) for i in incidents for seq in (1, 2, 3)]
    assert [e.seq for e in repo.list(incident_id=incidents[1])] == [1, 2, 3]
    executed = repo.list(incident_id=incidents[0], step="execute")
    assert [(e.seq, e.actor) for e in executed] == [(3, "alice")]
    assert len(repo.list(incident_id=incidents[0], limit=2)) == 2


def test_audit_for_an_unknown_incident_is_refused(session: Session) -> None:
    with pytest.raises(IntegrityError):
        AuditRepository(session).record(_new_id(), 1, "observe", "started")


# --- snapshot ------------------------------------------------------------------------------------


def test_snapshot_first_wins(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    repo = SnapshotRepository(session)
    key = "shop/Deployment/api"
    before = {"spec": {"replicas": 2}}
    first = repo.save_if_absent(incident_id, key, before, resource_version="41", generation=3, taken_at=T0)
    # A retry after the change was applied sees the changed object; it must not replace the original.
    again = repo.save_if_absent(
        incident_id, key, {"spec": {"replicas": 5}}, resource_version="42", generation=4
    )

    assert again.id == first.id
    assert (again.content, again.resource_version, again.generation, again.taken_at) == (before, "41", 3, T0)
    assert _count(session, Snapshot, incident_id) == 1
    assert repo.get(incident_id, key) is again
    assert repo.get(incident_id, "shop/Deployment/other") is None


def test_snapshot_list_is_per_incident_in_order_taken(session: Session) -> None:
    incidents = [IncidentRepository(session).upsert(_new_id()).id for _ in range(2)]
    repo = SnapshotRepository(session)
    repo.save_if_absent(incidents[0], "shop/Deployment/web", {"a": 1})
    repo.save_if_absent(incidents[1], "shop/Deployment/web", {"b": 1})
    repo.save_if_absent(incidents[0], "shop/Deployment/api", {"a": 2})
    assert [s.resource_key for s in repo.list(incidents[0])] == ["shop/Deployment/web", "shop/Deployment/api"]
    assert [s.content for s in repo.list(incidents[1])] == [{"b": 1}]


# --- approval ------------------------------------------------------------------------------------


def test_approval_is_recorded_once_per_approver_and_plan(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    repo = ApprovalRepository(session)
    first = repo.record(incident_id, "alice", "approve", "hash-1", reason="ok", via="update", decided_at=T0)
    again = repo.record(incident_id, "alice", "reject", "hash-1", reason="changed my mind")
    repo.record(incident_id, "bob", "approve", "hash-1")
    # A new plan is a new question.
    repo.record(incident_id, "alice", "approve", "hash-2")

    assert again.id == first.id
    assert (again.decision, again.reason, again.via, again.decided_at) == ("approve", "ok", "update", T0)
    assert [(a.approver, a.plan_hash) for a in repo.list(incident_id)] == [
        ("alice", "hash-1"),
        ("bob", "hash-1"),
        ("alice", "hash-2"),
    ]


# --- action --------------------------------------------------------------------------------------


def test_action_record_replaces_the_same_index_and_phase(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    repo = ActionRepository(session)
    common = {"kind": "scale", "target": "shop/Deployment/api", "mode": "direct", "plan_hash": "h"}
    first = repo.record(incident_id, 0, "execute", status="pending", **common)
    done = repo.record(incident_id, 0, "execute", status="applied", detail={"generation": 5}, **common)
    repo.record(incident_id, 0, "dry_run", status="ok", **common)
    repo.record(incident_id, 1, "dry_run", status="ok", **{**common, "kind": "restart"})

    assert done.id == first.id
    assert (done.status, done.detail) == ("applied", {"generation": 5})
    assert _count(session, Action, incident_id) == 3
    assert [(a.action_index, a.phase, a.status) for a in repo.list(incident_id)] == [
        (0, "execute", "applied"),
        (0, "dry_run", "ok"),
        (1, "dry_run", "ok"),
    ]


# --- concurrent retries --------------------------------------------------------------------------


def _wait_until_blocked(engine: Engine, deadline_s: float = 10.0) -> None:
    """Poll until some session of this database waits for a lock (the racing attempt)."""
    deadline = time.monotonic() + deadline_s
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
            connection.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the racing attempt never waited for the first one's lock")


def _race(engine: Engine, factory: sessionmaker[Session], first, second) -> None:
    """Run `first` in an open transaction, start `second` concurrently, then commit `first`."""
    errors: list[BaseException] = []

    def run_second() -> None:
        try:
            with transaction(factory) as session:
                second(session)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    with transaction(factory) as session:
        first(session)
        racer = threading.Thread(target=run_second)
        racer.start()
        _wait_until_blocked(engine)
    racer.join(timeout=30)
    assert not racer.is_alive()
    assert errors == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_incident_upserts_both_succeed(engine, factory, purge) -> None:
    incident_id = purge(_new_id())
    _race(
        engine,
        factory,
        lambda s: IncidentRepository(s).upsert(incident_id, status="observing", title="first"),
        lambda s: IncidentRepository(s).upsert(incident_id, status="analyzing"),
    )
    with transaction(factory) as session:
        stored = IncidentRepository(session).get(incident_id)
        assert stored is not None
        assert (stored.title, stored.status) == ("first", "analyzing")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_concurrent_audit_writes_of_one_seq_keep_one_row(engine, factory, purge) -> None:
    incident_id = purge(_new_id())
    with transaction(factory) as session:
        IncidentRepository(session).upsert(incident_id)
    _race(
        engine,
        factory,
        lambda s: AuditRepository(s).record(incident_id, 1, "execute", "completed", detail={"n": 1}),
        lambda s: AuditRepository(s).record(incident_id, 1, "execute", "completed", detail={"n": 2}),
    )
    with transaction(factory) as session:
        assert [e.detail for e in AuditRepository(session).list(incident_id=incident_id)] == [{"n": 1}]
