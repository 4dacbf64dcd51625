"""record_drift_findings and finish_drift_scan, run in an activity environment on a migrated SQLite
store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.drift.report import REPORT_FINDINGS_LIMIT, DriftReportActivities
from domain.drift.model import (
    AppDrift,
    DriftFindingsInput,
    DriftScanFinished,
    DriftScanResult,
    FieldDrift,
    ResourceDrift,
)
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.drift import DriftRepository

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
SCAN_ID = "drift-scan-all-20261124T0600"
TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.fixture
def sessions(tmp_path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _app(name: str, resources: int = 1) -> AppDrift:
    return AppDrift(
        application=name,
        project="payments",
        resources=[
            ResourceDrift(
                group="apps",
                kind="Deployment",
                namespace="payments",
                name=f"{name}-{i}",
                fields=[FieldDrift(path="/spec/replicas", desired=3, live=5)],
            )
            for i in range(resources)
        ],
        disposition="sync",
    )


def _finished(drifted_apps: int) -> DriftScanFinished:
    result = DriftScanResult(
        scan_id=SCAN_ID,
        scope="all",
        apps_scanned=30,
        resources_scanned=400,
        drifted_apps=drifted_apps,
        incidents={"argocd/ledger": "drift.argocd.ledger"},
        errors=[f"argocd/shop: 401 for token {TOKEN}"],
        duration_seconds=120,
    )
    return DriftScanFinished(result=result, started_at=T0, finished_at=T0 + timedelta(minutes=2))


def test_recording_returns_the_page_findings_and_a_retry_records_nothing_twice(
    sessions: sessionmaker[Session],
) -> None:
    activities = DriftReportActivities(sessions)
    page = DriftFindingsInput(scan_id=SCAN_ID, scope="all", started_at=T0, drifted=[_app("ledger", 3)])
    env = ActivityEnvironment()

    assert env.run(activities.record_drift_findings, page) == 3
    assert env.run(activities.record_drift_findings, page) == 3

    with transaction(sessions) as session:
        assert DriftRepository(session).finding_count(SCAN_ID) == 3


def test_secrets_in_drifted_values_and_errors_are_redacted_before_they_are_stored(
    sessions: sessionmaker[Session],
) -> None:
    activities = DriftReportActivities(sessions)
    config = ResourceDrift(
        kind="ConfigMap",
        namespace="payments",
        name="ledger-env",
        fields=[
            FieldDrift(path="/data/DB_PASSWORD", desired="from-vault", live="hunter2-live"),
            FieldDrift(path="/data/NOTE", desired="", live=f"pushed with {TOKEN}"),
            FieldDrift(path="/data/REPLICAS", desired="3", live="5"),
        ],
    )
    app = AppDrift(application="ledger", resources=[config], reason=f"set by {TOKEN}")
    env = ActivityEnvironment()
    env.run(
        activities.record_drift_findings,
        DriftFindingsInput(scan_id=SCAN_ID, scope="all", started_at=T0, drifted=[app]),
    )
    report = env.run(activities.finish_drift_scan, _finished(drifted_apps=1))

    stored = repr(report)
    assert "hunter2-live" not in stored and "from-vault" not in stored and TOKEN not in stored
    (finding,) = report.findings
    password, note, replicas = finding.resource.fields
    assert password.live.startswith("[REDACTED") and password.desired.startswith("[REDACTED")
    assert note.live.startswith("pushed with [REDACTED")
    assert (replicas.desired, replicas.live) == ("3", "5")
    assert report.errors[0].startswith("argocd/shop: 401 for token [REDACTED")


def test_finishing_returns_the_report_with_its_findings_and_linked_incidents(
    sessions: sessionmaker[Session],
) -> None:
    activities = DriftReportActivities(sessions)
    env = ActivityEnvironment()
    env.run(
        activities.record_drift_findings,
        DriftFindingsInput(scan_id=SCAN_ID, scope="all", started_at=T0, drifted=[_app("ledger", 2)]),
    )

    report = env.run(activities.finish_drift_scan, _finished(drifted_apps=1))
    again = env.run(activities.finish_drift_scan, _finished(drifted_apps=1))

    assert report == again
    assert report.status == "finished" and report.finished_at == T0 + timedelta(minutes=2)
    assert (report.apps_scanned, report.resources_scanned, report.drifted_apps) == (30, 400, 1)
    assert [(f.resource.name, f.incident_id, f.first_seen) for f in report.findings] == [
        ("ledger-0", "drift.argocd.ledger", T0),
        ("ledger-1", "drift.argocd.ledger", T0),
    ]


def test_a_report_with_more_findings_than_the_limit_comes_back_without_them(
    sessions: sessionmaker[Session],
) -> None:
    activities = DriftReportActivities(sessions)
    env = ActivityEnvironment()
    apps = [_app(f"app-{i}", 30) for i in range(7)]
    assert sum(len(a.resources) for a in apps) > REPORT_FINDINGS_LIMIT
    env.run(
        activities.record_drift_findings,
        DriftFindingsInput(scan_id=SCAN_ID, scope="all", started_at=T0, drifted=apps),
    )

    report = env.run(activities.finish_drift_scan, _finished(drifted_apps=7))

    assert report.findings == [] and report.drifted_apps == 7
    with transaction(sessions) as session:
        stored = DriftRepository(session).report(SCAN_ID)
    assert stored is not None and len(stored.findings) == 210
