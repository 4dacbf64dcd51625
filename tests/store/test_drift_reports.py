"""Drift reports in the store: findings per scan, first-seen carried over consecutive scans, the
incidents that took them, and the drift metrics (SQLite + PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.drift.model import (
    AppDrift,
    DriftFindingsInput,
    DriftScanFinished,
    DriftScanResult,
    FieldDrift,
    ResourceDrift,
)
from store.db import session_factory, transaction
from store.drift import DriftRepository
from store.metrics import StoreCollector
from store.models import DriftFinding as DriftFindingRow
from store.models import DriftScan

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(engine)


@pytest.fixture
def scope() -> str:
    # The PostgreSQL database is shared by the run: every test scans a scope of its own.
    return f"project:p-{uuid.uuid4().hex[:10]}"


def _resource(name: str, replicas: int = 5, kind: str = "Deployment") -> ResourceDrift:
    return ResourceDrift(
        group="apps",
        kind=kind,
        namespace="payments",
        name=name,
        fields=[FieldDrift(path="/spec/replicas", desired=3, live=replicas)],
    )


def _app(name: str, *resources: ResourceDrift, disposition: str = "sync") -> AppDrift:
    return AppDrift.model_validate(
        {
            "application": name,
            "project": "payments",
            "destination_namespace": "payments",
            "resources": list(resources),
            "resources_scanned": 4,
            "disposition": disposition,
            "reason": "auto-sync is on for this project",
        }
    )


def _scan_id(scope: str, started_at: datetime) -> str:
    return f"drift-scan-{scope.replace(':', '-')}-{started_at:%H%M}-{uuid.uuid4().hex[:6]}"


def _record(
    sessions: sessionmaker[Session],
    scan_id: str,
    scope: str,
    started_at: datetime,
    *apps: AppDrift,
    incidents: dict[str, str] | None = None,
) -> int:
    page = DriftFindingsInput(
        scan_id=scan_id, scope=scope, started_at=started_at, drifted=list(apps), incidents=incidents or {}
    )
    with transaction(sessions) as session:
        return DriftRepository(session).record_findings(page)


def _finish(
    sessions: sessionmaker[Session],
    scan_id: str,
    scope: str,
    started_at: datetime,
    *,
    drifted_apps: int = 0,
    incidents: dict[str, str] | None = None,
    seconds: float = 90,
) -> None:
    result = DriftScanResult(
        scan_id=scan_id,
        scope=scope,
        apps_scanned=12,
        resources_scanned=48,
        drifted_apps=drifted_apps,
        incidents=incidents or {},
        errors=["argocd/ledger: the Application could not be read"],
        duration_seconds=seconds,
    )
    finished = DriftScanFinished(
        result=result, started_at=started_at, finished_at=started_at + timedelta(seconds=seconds)
    )
    with transaction(sessions) as session:
        DriftRepository(session).finish_scan(finished)


def _scan(
    sessions: sessionmaker[Session], scope: str, started_at: datetime, *apps: AppDrift, finish: bool = True
) -> str:
    scan_id = _scan_id(scope, started_at)
    _record(sessions, scan_id, scope, started_at, *apps)
    if finish:
        _finish(sessions, scan_id, scope, started_at, drifted_apps=len(apps))
    return scan_id


def _first_seen(sessions: sessionmaker[Session], scan_id: str) -> dict[str, datetime]:
    with transaction(sessions) as session:
        report = DriftRepository(session).report(scan_id)
    assert report is not None
    return {f"{f.app_key} {f.resource.key}": f.first_seen for f in report.findings}


def test_recording_a_page_again_keeps_one_row_per_resource(
    sessions: sessionmaker[Session], scope: str
) -> None:
    scan_id = _scan_id(scope, T0)
    page = [_app("ledger", _resource("ledger"), _resource("ledger-worker")), _app("shop", _resource("web"))]

    assert _record(sessions, scan_id, scope, T0, *page) == 3
    # A retry of the activity, say after its first attempt committed but timed out.
    assert _record(sessions, scan_id, scope, T0, *page) == 3

    with transaction(sessions) as session:
        rows = session.scalar(
            select(func.count()).select_from(DriftFindingRow).where(DriftFindingRow.scan_id == scan_id)
        )
        scans = session.scalar(select(func.count()).select_from(DriftScan).where(DriftScan.id == scan_id))
    assert (rows, scans) == (3, 1)


def test_a_retry_rewrites_the_content_but_keeps_first_seen(
    sessions: sessionmaker[Session], scope: str
) -> None:
    scan_id = _scan_id(scope, T0)
    _record(sessions, scan_id, scope, T0, _app("ledger", _resource("ledger", replicas=5)))
    # A retry given a later start (it is the same scan) keeps the scan's start and the finding's.
    _record(sessions, scan_id, scope, T0 + HOUR, _app("ledger", _resource("ledger", replicas=7)))

    with transaction(sessions) as session:
        report = DriftRepository(session).report(scan_id)
    assert report is not None
    (finding,) = report.findings
    assert finding.resource.fields == [FieldDrift(path="/spec/replicas", desired=3, live=7)]
    assert finding.first_seen == T0 and report.started_at == T0


def test_a_resource_listed_twice_in_a_page_is_stored_once(
    sessions: sessionmaker[Session], scope: str
) -> None:
    # Two API groups of the same kind and name share a resource key.
    knative = ResourceDrift(group="serving.knative.dev", kind="Service", namespace="payments", name="web")
    core = ResourceDrift(group="", kind="Service", namespace="payments", name="web", live_missing=True)
    scan_id = _scan_id(scope, T0)

    assert _record(sessions, scan_id, scope, T0, _app("shop", knative, core)) == 1

    with transaction(sessions) as session:
        report = DriftRepository(session).report(scan_id)
    assert report is not None
    assert [(f.resource.group, f.resource.live_missing) for f in report.findings] == [("", True)]


def test_a_page_larger_than_one_insert_is_recorded_whole(sessions: sessionmaker[Session], scope: str) -> None:
    apps = [_app(f"app-{a:02d}", *(_resource(f"r-{r:03d}") for r in range(60))) for a in range(20)]
    scan_id = _scan(sessions, scope, T0, *apps)
    again = _scan_id(scope, T0 + HOUR)

    assert _record(sessions, again, scope, T0 + HOUR, *apps) == 1200

    seen = _first_seen(sessions, again)
    assert len(seen) == 1200 and set(seen.values()) == {T0}
    assert len(_first_seen(sessions, scan_id)) == 1200


def test_first_seen_is_carried_while_the_drift_lasts_and_restarts_after_a_scan_without_it(
    sessions: sessionmaker[Session], scope: str
) -> None:
    ledger, worker = _resource("ledger"), _resource("ledger-worker")
    first = _scan(sessions, scope, T0, _app("ledger", ledger))
    second = _scan(sessions, scope, T0 + HOUR, _app("ledger", ledger, worker))
    # The worker is back in line with Git; the ledger still drifts.
    third = _scan(sessions, scope, T0 + 2 * HOUR, _app("ledger", ledger))
    fourth = _scan(sessions, scope, T0 + 3 * HOUR, _app("ledger", ledger, worker))
    # No drift at all, then the ledger drifts again.
    _scan(sessions, scope, T0 + 4 * HOUR)
    sixth = _scan(sessions, scope, T0 + 5 * HOUR, _app("ledger", ledger))

    key = "argocd/ledger payments/Deployment/"
    assert _first_seen(sessions, first) == {f"{key}ledger": T0}
    assert _first_seen(sessions, second) == {f"{key}ledger": T0, f"{key}ledger-worker": T0 + HOUR}
    assert _first_seen(sessions, third) == {f"{key}ledger": T0}
    assert _first_seen(sessions, fourth) == {f"{key}ledger": T0, f"{key}ledger-worker": T0 + 3 * HOUR}
    assert _first_seen(sessions, sixth) == {f"{key}ledger": T0 + 5 * HOUR}


def test_first_seen_is_not_carried_from_another_scope_or_an_unfinished_scan(
    sessions: sessionmaker[Session], scope: str
) -> None:
    other = f"{scope}-other"
    ledger = _app("ledger", _resource("ledger"))
    _scan(sessions, other, T0, ledger)
    in_scope = _scan(sessions, scope, T0 + HOUR, ledger)
    # A scan that never finished (its workflow failed) proves nothing about the resources it
    # did not reach: the next scan compares with the last finished one.
    _scan(sessions, scope, T0 + 2 * HOUR, finish=False)
    after_failed = _scan(sessions, scope, T0 + 3 * HOUR, ledger)

    key = "argocd/ledger payments/Deployment/ledger"
    assert _first_seen(sessions, in_scope) == {key: T0 + HOUR}
    assert _first_seen(sessions, after_failed) == {key: T0 + HOUR}


def test_incidents_are_linked_to_every_finding_of_their_application(
    sessions: sessionmaker[Session], scope: str
) -> None:
    scan_id = _scan_id(scope, T0)
    ledger = _app("ledger", _resource("ledger"), _resource("ledger-worker"))
    shop = _app("shop", _resource("web"))
    billing = _app("billing", _resource("billing"))
    # Policy says report only: no incident takes it.
    cart = _app("cart", _resource("cart"), disposition="report")

    _record(sessions, scan_id, scope, T0, ledger, shop, incidents={"argocd/ledger": "drift.argocd.ledger"})
    # The next page names the shop's incident, started after its findings were recorded.
    _record(sessions, scan_id, scope, T0, billing, cart, incidents={"argocd/shop": "drift.argocd.shop"})
    # A retry of the first page without incidents unlinks nothing.
    _record(sessions, scan_id, scope, T0, ledger, shop)
    _finish(
        sessions, scan_id, scope, T0, drifted_apps=4, incidents={"argocd/billing": "drift.argocd.billing"}
    )

    with transaction(sessions) as session:
        report = DriftRepository(session).report(scan_id)
    assert report is not None
    assert {(f.app_key, f.resource.name): f.incident_id for f in report.findings} == {
        ("argocd/billing", "billing"): "drift.argocd.billing",
        ("argocd/cart", "cart"): "",
        ("argocd/ledger", "ledger"): "drift.argocd.ledger",
        ("argocd/ledger", "ledger-worker"): "drift.argocd.ledger",
        ("argocd/shop", "web"): "drift.argocd.shop",
    }


def test_finish_then_report_gives_the_scan_and_its_ordered_findings(
    sessions: sessionmaker[Session], scope: str
) -> None:
    scan_id = _scan_id(scope, T0)
    _record(sessions, scan_id, scope, T0, _app("shop", _resource("web")), _app("ledger", _resource("z")))
    _record(sessions, scan_id, scope, T0, _app("ledger", _resource("a", kind="ConfigMap")))

    with transaction(sessions) as session:
        repo = DriftRepository(session)
        running = repo.report(scan_id)
        # Only finished scans are "the latest".
        assert repo.report(scope=scope) is None
    assert running is not None and running.status == "running" and running.finished_at is None
    assert running.drifted_apps == 2

    _finish(sessions, scan_id, scope, T0, drifted_apps=2, seconds=75)
    _finish(sessions, scan_id, scope, T0, drifted_apps=2, seconds=75)  # a retry

    with transaction(sessions) as session:
        repo = DriftRepository(session)
        report = repo.report(scope=scope)
        brief = repo.report(scan_id, with_findings=False)
        assert repo.finding_count(scan_id) == 3
    assert report is not None and brief is not None
    assert report.scan_id == scan_id and report.scope == scope and report.status == "finished"
    assert report.started_at == T0 and report.finished_at == T0 + timedelta(seconds=75)
    assert (report.apps_scanned, report.resources_scanned, report.drifted_apps) == (12, 48, 2)
    assert report.errors == ["argocd/ledger: the Application could not be read"]
    assert [(f.app_key, f.resource.key) for f in report.findings] == [
        ("argocd/ledger", "payments/ConfigMap/a"),
        ("argocd/ledger", "payments/Deployment/z"),
        ("argocd/shop", "payments/Deployment/web"),
    ]
    web = report.findings[2]
    assert web.application == "shop" and web.app_namespace == "argocd" and web.project == "payments"
    assert web.disposition == "sync" and web.reason == "auto-sync is on for this project"
    assert web.resource == _resource("web")
    assert brief.findings == [] and brief.model_copy(update={"findings": report.findings}) == report


def test_a_scan_without_drift_is_recorded_by_finishing_it(
    sessions: sessionmaker[Session], scope: str
) -> None:
    scan_id = _scan_id(scope, T0)
    _finish(sessions, scan_id, scope, T0)

    with transaction(sessions) as session:
        report = DriftRepository(session).report(scope=scope)
    assert report is not None and report.scan_id == scan_id
    assert report.status == "finished" and report.drifted_apps == 0 and report.findings == []


def test_report_filters_by_scope_and_takes_the_latest_finished_scan(
    sessions: sessionmaker[Session], scope: str
) -> None:
    other = f"{scope}-other"
    older = _scan(sessions, scope, T0, _app("ledger", _resource("ledger")))
    newer = _scan(sessions, scope, T0 + HOUR)
    elsewhere = _scan(sessions, other, T0 + 2 * HOUR, _app("shop", _resource("web")))
    running = _scan(sessions, scope, T0 + 3 * HOUR, finish=False)

    with transaction(sessions) as session:
        repo = DriftRepository(session)
        latest = repo.report(scope=scope)
        latest_other = repo.report(scope=other)
        by_id = repo.report(older)
        running_report = repo.report(running)
        assert repo.report(older, scope=other) is None
        assert repo.report("drift-scan-that-never-ran") is None
        assert repo.report(scope=f"{scope}-never-scanned") is None
    assert latest is not None and latest.scan_id == newer
    assert latest_other is not None and latest_other.scan_id == elsewhere
    assert by_id is not None and by_id.scan_id == older and len(by_id.findings) == 1
    assert running_report is not None and running_report.status == "running"


def test_latest_by_scope_gives_each_scope_its_latest_finished_scan_and_oldest_drift(
    sessions: sessionmaker[Session], scope: str
) -> None:
    other, quiet = f"{scope}-other", f"{scope}-quiet"
    ledger = _app("ledger", _resource("ledger"))
    _scan(sessions, scope, T0, ledger)
    latest = _scan(sessions, scope, T0 + HOUR, ledger, _app("shop", _resource("web")))
    _scan(sessions, scope, T0 + 2 * HOUR, finish=False)
    elsewhere = _scan(sessions, other, T0 + 30 * timedelta(minutes=1), _app("shop", _resource("web")))
    silent = _scan(sessions, quiet, T0)

    with transaction(sessions) as session:
        repo = DriftRepository(session)
        mine = {scope, other, quiet}
        reports = [r for r in repo.latest_by_scope() if r.scope in mine]
        oldest = {r.scope: since for r, since in repo.latest_with_oldest_drift() if r.scope in mine}
    assert [(r.scope, r.scan_id) for r in reports] == sorted(
        [(scope, latest), (other, elsewhere), (quiet, silent)]
    )
    assert all(r.findings == [] and r.status == "finished" for r in reports)
    assert oldest == {scope: T0, other: T0 + 30 * timedelta(minutes=1), quiet: None}


def test_drift_metrics_come_from_the_latest_finished_scan_of_each_scope(
    sessions: sessionmaker[Session], scope: str
) -> None:
    quiet = f"{scope}-quiet"
    now = datetime.now(UTC)
    ledger = _app("ledger", _resource("ledger"))
    _scan(sessions, scope, now - 3 * HOUR, ledger)
    latest = now - 2 * HOUR
    _scan(sessions, scope, latest, ledger, _app("shop", _resource("web")))
    _scan(sessions, scope, now - HOUR, finish=False)
    _scan(sessions, quiet, now - HOUR)

    registry = CollectorRegistry()
    registry.register(StoreCollector(sessions))
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def sample(name: str, scope: str) -> float:
        (value,) = [s.value for s in families[name].samples if s.labels == {"scope": scope}]
        return value

    for name in (
        "medic_drift_applications",
        "medic_drift_oldest_seconds",
        "medic_drift_scan_duration_seconds",
        "medic_drift_resources_scanned",
        "medic_drift_last_scan_timestamp_seconds",
    ):
        assert families[name].type == "gauge"
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text
    assert sample("medic_drift_applications", scope) == 2
    assert sample("medic_drift_applications", quiet) == 0
    # The ledger has drifted since the first of the two consecutive scans.
    assert 3 * 3600 <= sample("medic_drift_oldest_seconds", scope) < 3 * 3600 + 300
    assert sample("medic_drift_oldest_seconds", quiet) == 0
    assert sample("medic_drift_scan_duration_seconds", scope) == pytest.approx(90)
    assert sample("medic_drift_resources_scanned", scope) == 48
    assert sample("medic_drift_last_scan_timestamp_seconds", scope) == pytest.approx(
        (latest + timedelta(seconds=90)).timestamp()
    )
