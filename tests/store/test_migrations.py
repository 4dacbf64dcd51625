"""The migrations build the schema the models describe, and undo it completely."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from store import migrate
from store.db import normalize_url
from store.memory import autogenerate_include_name
from store.models import Base

TABLES = {
    "incident",
    "audit_event",
    "snapshot",
    "approval",
    "action",
    "incident_memory",
    "pull_request",
    "drift_scan",
    "drift_finding",
    "console_session_generation",
    "ingest_outbox",
    "change_review",
    "review_comment",
    "commit_status",
    "deployment",
}
# Tables that hang off `incident`; the drift tables hang off `drift_scan`.
INCIDENT_TABLES = TABLES - {
    "incident",
    "drift_scan",
    "drift_finding",
    "console_session_generation",
    "ingest_outbox",
    "change_review",
    "review_comment",
    "commit_status",
    "deployment",
}


def _tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        # Without SQLite's FTS5 table of incident memory and its shadow tables (store.memory).
        names = {t for t in inspect(engine).get_table_names() if autogenerate_include_name(t, "table", {})}
        return names - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trips(db_url: str) -> None:
    # The PostgreSQL database is shared by the run; start from nothing whatever ran before.
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert _tables(db_url) == set()

    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
    assert _tables(db_url) == TABLES

    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert _tables(db_url) == set()

    migrate.upgrade(db_url, "head")
    assert _tables(db_url) == TABLES


def test_upgrade_is_idempotent(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_models_match_migrations(migrated_url: str) -> None:
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


def test_index_and_constraint_names_follow_the_convention(migrated_url: str) -> None:
    engine = create_engine(normalize_url(migrated_url), poolclass=NullPool)
    try:
        inspector = inspect(engine)
        indexes = {ix["name"] for table in TABLES for ix in inspector.get_indexes(table)}
        uniques = {uq["name"] for table in TABLES for uq in inspector.get_unique_constraints(table)}
        foreign_keys = {fk["name"] for table in TABLES for fk in inspector.get_foreign_keys(table)}
    finally:
        engine.dispose()
    assert {
        "ix_incident_status",
        "ix_incident_created_at",
        "ix_audit_event_incident_id",
        "ix_drift_scan_scope",
        "ix_drift_finding_app_key",
        "ix_ingest_outbox_workflow_id",
        "ix_change_review_workflow_id",
        "ix_deployment_application",
        "ix_deployment_started_at",
    } <= indexes
    assert uniques == {
        "uq_audit_event_incident_id_seq",
        "uq_snapshot_incident_id_resource_key",
        "uq_approval_incident_id_approver_plan_hash",
        "uq_action_incident_id_action_index_phase",
        "uq_pull_request_branch",
        "uq_pull_request_host_number",
        "uq_drift_finding_scan_id_app_key_resource_key",
        "uq_ingest_outbox_notification_id",
        "uq_review_comment_workflow_id_marker_part",
        "uq_commit_status_repository_sha_context",
    }
    assert foreign_keys == {f"fk_{table}_incident_id_incident" for table in INCIDENT_TABLES} | {
        "fk_drift_finding_scan_id_drift_scan"
    }


def test_current_of_a_missing_sqlite_file_is_none_and_creates_nothing(tmp_path) -> None:
    path = tmp_path / "absent" / "medic.db"
    assert migrate.current(f"sqlite:///{path}") is None
    assert not path.parent.exists()


def test_migrations_work_from_any_working_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'nested' / 'medic.db'}"
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()


def test_the_reason_columns_come_with_0007_and_leave_with_its_downgrade(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url, "6e1f3a8b2c47")
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO incident (id, source, title, status, created_at, updated_at) "
                "VALUES ('old', 'alert', 't', 'failed', '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
            )
        migrate.upgrade(url)
        columns = {c["name"] for c in inspect(engine).get_columns("incident")}
        assert {"reason", "model_unusable"} <= columns
        with engine.begin() as connection:
            # A row written before the revision keeps its data and has no reason yet.
            assert connection.exec_driver_sql(
                "SELECT status, reason, model_unusable FROM incident WHERE id = 'old'"
            ).one() == ("failed", None, None)
            connection.exec_driver_sql("UPDATE incident SET reason = 'observe failed: x' WHERE id = 'old'")
        migrate.downgrade(url, "6e1f3a8b2c47")
        columns = {c["name"] for c in inspect(engine).get_columns("incident")}
        assert not {"reason", "model_unusable"} & columns
        with engine.begin() as connection:
            row = connection.exec_driver_sql("SELECT status FROM incident WHERE id = 'old'").one()
            assert row == ("failed",)
    finally:
        engine.dispose()
