"""What the console reads: the stored observation, incident pages, audit filters and order.

Runs in the rolled-back `session` fixture (SQLite and PostgreSQL); ids are unique per test
because the PostgreSQL database is shared by the whole run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from domain.incident.model import ResourceRef
from domain.kube.observation import Observation, Workload
from store import migrate
from store.db import normalize_url
from store.repositories import AuditRepository, IncidentRepository

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# The revision before incident.observation (2026_11_23_0003).
BEFORE_OBSERVATION = "3e8d5b2c6f41"


def _id() -> str:
    return f"console-{uuid.uuid4().hex[:12]}"


def test_observation_is_stored_as_a_document_and_written_alone(session: Session) -> None:
    incident_id = _id()
    incidents = IncidentRepository(session)
    incidents.upsert(incident_id, title="t", status="observing", risk="medium")
    observation = Observation(
        incident_id=incident_id,
        workloads=[
            Workload(
                id="workload/shop/Deployment/cart",
                ref=ResourceRef(namespace="shop", kind="Deployment", name="cart"),
            )
        ],
    )
    stored = incidents.upsert(incident_id, observation=observation)
    assert stored.observation == observation.model_dump(mode="json")
    assert (stored.title, stored.status, stored.risk) == ("t", "observing", "medium"), "other columns kept"
    assert Observation.model_validate(stored.observation) == observation
    assert incidents.upsert(_id(), title="no observation").observation is None


def test_incidents_page_with_offset(session: Session) -> None:
    namespace = _id()
    incidents = IncidentRepository(session)
    ids = [_id() for _ in range(5)]
    for minutes, incident_id in enumerate(ids):
        incidents.upsert(incident_id, namespace=namespace, created_at=T0 + timedelta(minutes=minutes))
    newest_first = list(reversed(ids))
    pages = [
        [i.id for i in incidents.list(namespace=namespace, limit=2, offset=offset)] for offset in (0, 2, 4, 6)
    ]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:], []]


def test_audit_filters_and_newest_first(session: Session) -> None:
    first, second = _id(), _id()
    incidents, audit = IncidentRepository(session), AuditRepository(session)
    for incident_id in (first, second):
        incidents.upsert(incident_id)
    audit.record(first, 1, "received", "completed", occurred_at=T0)
    audit.record(second, 1, "received", "completed", occurred_at=T0 + timedelta(seconds=1))
    audit.record(first, 2, "decision", "approve", actor="alice", occurred_at=T0 + timedelta(seconds=2))
    audit.record(first, 3, "closed", "resolved", occurred_at=T0 + timedelta(seconds=3))
    ours = {first, second}

    def keys(**filters: object) -> list[tuple[str, int]]:
        return [(e.incident_id, e.seq) for e in audit.list(**filters) if e.incident_id in ours]

    assert keys(newest_first=True) == [(first, 3), (first, 2), (second, 1), (first, 1)]
    assert keys(incident_id=first) == [(first, 1), (first, 2), (first, 3)]
    assert keys(actor="alice") == [(first, 2)]
    assert keys(status="completed", newest_first=True) == [(second, 1), (first, 1)]
    assert keys(incident_id=first, step="closed", status="resolved") == [(first, 3)]
    assert keys(incident_id=first, newest_first=True, limit=1) == [(first, 3)]


def _columns(url: str) -> set[str]:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        return {c["name"] for c in inspect(engine).get_columns("incident")}
    finally:
        engine.dispose()


def test_observation_migration_round_trips_keeping_the_rows(db_url: str) -> None:
    migrate.upgrade(db_url)
    incident_id = _id()
    engine = create_engine(normalize_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO incident (id, source, title, status, created_at, updated_at, observation) "
                    "VALUES (:id, 'alert', 't', 'observing', :now, :now, :observation)"
                ),
                {"id": incident_id, "now": T0, "observation": '{"incident_id": "x"}'},
            )
        migrate.downgrade(db_url, BEFORE_OBSERVATION)
        assert "observation" not in _columns(db_url)
        with engine.connect() as connection:
            assert (
                connection.execute(
                    text("SELECT title FROM incident WHERE id = :id"), {"id": incident_id}
                ).scalar()
                == "t"
            )
        migrate.upgrade(db_url)
        assert migrate.current(db_url) == migrate.head()
        assert "observation" in _columns(db_url)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM incident WHERE id = :id"), {"id": incident_id})
    finally:
        engine.dispose()
