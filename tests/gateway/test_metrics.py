"""GET /metrics on the gateway: incident metrics computed from the store at scrape time."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from domain.settings import Settings
from gateway.app import create_app
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository
from store.models import utcnow
from store.repositories import ApprovalRepository, AuditRepository, IncidentRepository

# The store tests' databases: a SQLite file per test and, when reachable, PostgreSQL.
from tests.store.conftest import db_url, postgres_url, sqlite_url  # noqa: F401

FAMILIES = {
    "medic_store_up": "gauge",
    "medic_incidents": "counter",
    "medic_incidents_open": "gauge",
    "medic_approvals_pending": "gauge",
    "medic_approval_pending_age_seconds": "gauge",
    "medic_time_to_decision_seconds": "histogram",
    "medic_time_to_resolve_seconds": "histogram",
    "medic_activity_failures": "counter",
    # From incident.model_unusable: analyses that fell back because the model could not be used.
    "medic_model_fallbacks": "counter",
    "medic_model_unusable": "gauge",
    # Per scope, from the latest finished drift scan (tests/store/test_drift_reports.py).
    "medic_drift_applications": "gauge",
    "medic_drift_oldest_seconds": "gauge",
    "medic_drift_scan_duration_seconds": "gauge",
    "medic_drift_resources_scanned": "gauge",
    "medic_drift_last_scan_timestamp_seconds": "gauge",
    # From the deployment table: finished deploy watches.
    "medic_deploys": "counter",
    "medic_deploy_watch_duration_seconds": "histogram",
}


def seed(url: str) -> None:
    now = utcnow()
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            incidents = IncidentRepository(session)
            audit = AuditRepository(session)
            approvals = ApprovalRepository(session)

            # Resolved after an approval that took 2 minutes; 10 minutes from alert to fix.
            t0 = now - timedelta(minutes=10)
            incidents.upsert(
                "inc-resolved", created_at=t0, source="alert", status="resolved", outcome="resolved"
            )
            incidents.update("inc-resolved", closed_at=now)
            audit.record(
                "inc-resolved", 1, "awaiting_approval", "started", occurred_at=t0 + timedelta(seconds=60)
            )
            audit.record(
                "inc-resolved",
                2,
                "decision",
                "approve",
                actor="alice",
                occurred_at=t0 + timedelta(seconds=180),
            )
            approvals.record("inc-resolved", "alice", "approve", "h1", decided_at=t0 + timedelta(seconds=180))
            # The same event written again by a retried activity counts once.
            audit.record("inc-resolved", 2, "decision", "approve", actor="alice", occurred_at=now)

            incidents.upsert(
                "inc-rejected", source="alert", status="rejected", outcome="rejected", closed_at=now
            )
            incidents.upsert(
                "inc-manual", created_at=now - timedelta(seconds=90), source="manual", status="resolved",
                outcome="resolved", closed_at=now,
            )  # fmt: skip

            # Waiting for a decision for 5 minutes.
            incidents.upsert("inc-pending", source="alert", status="awaiting_approval")
            audit.record(
                "inc-pending", 1, "awaiting_approval", "started", occurred_at=now - timedelta(minutes=5)
            )

            # Still running, after a failed step.
            incidents.upsert("inc-failing", source="alert", status="observing")
            audit.record(
                "inc-failing", 1, "observing", "failed", detail={"error": "boom", "type": "KubeApiError"}
            )
            audit.record("inc-failing", 2, "verifying", "failed", detail={"reason": "not healthy"})
    finally:
        engine.dispose()


@pytest.fixture
def store_url(db_url: str) -> str:  # noqa: F811
    migrate.upgrade(db_url)
    seed(db_url)
    return db_url


async def scrape(settings: Settings) -> httpx.Response:
    async def no_temporal() -> None:
        raise AssertionError("/metrics must not need Temporal")

    app = create_app(settings, no_temporal)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        return await http.get("/metrics")


def samples(text: str) -> dict[str, list[Sample]]:
    by_family: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        assert FAMILIES.get(family.name, family.type) == family.type, family.name
        by_family[family.name] = family.samples
    return by_family


def value(found: dict[str, list[Sample]], family: str, name: str, **labels: str) -> float:
    (match,) = [s.value for s in found[family] if s.name == name and s.labels == labels]
    return match


async def test_metrics_are_computed_from_the_store(store_url: str) -> None:
    response = await scrape(Settings(database_url=store_url))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    assert set(FAMILIES) <= set(found)
    assert value(found, "medic_store_up", "medic_store_up") == 1

    total = "medic_incidents_total"
    assert value(found, "medic_incidents", total, source="alert", outcome="resolved") == 1
    assert value(found, "medic_incidents", total, source="alert", outcome="rejected") == 1
    assert value(found, "medic_incidents", total, source="manual", outcome="resolved") == 1
    assert value(found, "medic_incidents_open", "medic_incidents_open", status="awaiting_approval") == 1
    assert value(found, "medic_incidents_open", "medic_incidents_open", status="observing") == 1

    assert value(found, "medic_approvals_pending", "medic_approvals_pending") == 1
    age = value(found, "medic_approval_pending_age_seconds", "medic_approval_pending_age_seconds")
    assert 300 <= age < 600

    decision = "medic_time_to_decision_seconds"
    assert value(found, decision, f"{decision}_count") == 1
    assert value(found, decision, f"{decision}_sum") == pytest.approx(120)
    assert value(found, decision, f"{decision}_bucket", le="60.0") == 0
    assert value(found, decision, f"{decision}_bucket", le="300.0") == 1

    mttr = "medic_time_to_resolve_seconds"
    assert value(found, mttr, f"{mttr}_count") == 2
    assert value(found, mttr, f"{mttr}_sum") == pytest.approx(600 + 90, abs=1)
    assert value(found, mttr, f"{mttr}_bucket", le="120.0") == 1
    assert value(found, mttr, f"{mttr}_bucket", le="600.0") == 2
    assert value(found, mttr, f"{mttr}_bucket", le="+Inf") == 2

    failures = "medic_activity_failures_total"
    assert value(found, "medic_activity_failures", failures, step="observing", type="KubeApiError") == 1
    assert value(found, "medic_activity_failures", failures, step="verifying", type="unknown") == 1


async def test_an_empty_store_exposes_every_family(sqlite_url: str) -> None:  # noqa: F811
    migrate.upgrade(sqlite_url)
    found = samples((await scrape(Settings(database_url=sqlite_url))).text)
    assert set(FAMILIES) <= set(found)
    assert value(found, "medic_approvals_pending", "medic_approvals_pending") == 0
    assert value(found, "medic_approval_pending_age_seconds", "medic_approval_pending_age_seconds") == 0


async def test_an_unreadable_store_still_answers_with_store_up_zero(sqlite_url: str) -> None:  # noqa: F811
    # Not migrated: the tables do not exist.
    response = await scrape(Settings(database_url=sqlite_url))
    assert response.status_code == 200
    found = samples(response.text)
    assert value(found, "medic_store_up", "medic_store_up") == 0
    assert "medic_incidents" not in found


REFUSED = "model unusable: anthropic refused the API key (HTTP 401); diagnosed by the offline rules"
OFFLINE = {"root_cause": "oom", "summary": "s", "analyzer": "offline"}
MODEL = {"root_cause": "oom", "summary": "s", "analyzer": "anthropic"}


def analysed(url: str, *incidents: tuple[str, timedelta, dict[str, object]]) -> None:
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            for incident_id, ago, fields in incidents:
                IncidentRepository(session).upsert(incident_id, created_at=utcnow() - ago, **fields)
    finally:
        engine.dispose()


def model_figures(found: dict[str, list[Sample]]) -> tuple[float, float]:
    return (
        value(found, "medic_model_fallbacks", "medic_model_fallbacks_total"),
        value(found, "medic_model_unusable", "medic_model_unusable"),
    )


async def test_an_unusable_model_is_counted_and_flagged_while_it_is_the_latest_analysis(
    sqlite_url: str,  # noqa: F811
) -> None:
    migrate.upgrade(sqlite_url)
    settings = Settings(database_url=sqlite_url)
    assert model_figures(samples((await scrape(settings)).text)) == (0, 0)

    analysed(
        sqlite_url,
        ("inc-old-fallback", timedelta(hours=5), {"diagnosis": OFFLINE, "model_unusable": REFUSED}),
        ("inc-model", timedelta(minutes=30), {"diagnosis": MODEL}),
        ("inc-fallback", timedelta(minutes=10), {"diagnosis": OFFLINE, "model_unusable": REFUSED}),
        # Neither says anything of the model: a drift incident, and a fallback for a prompt too large.
        ("inc-drift", timedelta(minutes=5), {"source": "drift", "diagnosis": {"analyzer": "drift"}}),
        ("inc-too-large", timedelta(minutes=2), {"diagnosis": OFFLINE}),
    )
    assert model_figures(samples((await scrape(settings)).text)) == (2, 1)

    # A later analysis used the model again: no longer flagged, still counted.
    analysed(sqlite_url, ("inc-model-back", timedelta(minutes=1), {"diagnosis": MODEL}))
    assert model_figures(samples((await scrape(settings)).text)) == (2, 0)


async def test_a_fallback_older_than_the_window_is_counted_not_flagged(sqlite_url: str) -> None:  # noqa: F811
    migrate.upgrade(sqlite_url)
    analysed(
        sqlite_url, ("inc-fallback", timedelta(hours=2), {"diagnosis": OFFLINE, "model_unusable": REFUSED})
    )
    assert model_figures(samples((await scrape(Settings(database_url=sqlite_url))).text)) == (1, 0)


async def test_deploy_watches_are_counted_by_verdict_once_however_often_finished(
    sqlite_url: str,  # noqa: F811
) -> None:
    migrate.upgrade(sqlite_url)
    now = utcnow()
    engine = make_engine(sqlite_url)
    try:
        with transaction(session_factory(engine)) as session:
            deploys = DeploymentRepository(session)
            for name, state, minutes in [
                ("cart", "verified", 10),
                ("checkout", "degraded", 3),
                ("ledger", "verified", 12),
                ("search", "superseded", 4),
                ("orders", None, 0),  # still watching
            ]:
                watch_id = f"deploy/argocd/{name}/abc"
                deploys.start(
                    watch_id, application=name, revision="a" * 40, started_at=now - timedelta(minutes=minutes)
                )
                if state is not None:
                    deploys.finish(watch_id, state, "", {}, finished_at=now)
                    deploys.finish(watch_id, state, "", {}, finished_at=now)  # a retried activity
    finally:
        engine.dispose()

    found = samples((await scrape(Settings(database_url=sqlite_url))).text)
    total = "medic_deploys_total"
    assert value(found, "medic_deploys", total, verdict="verified") == 2
    assert value(found, "medic_deploys", total, verdict="degraded") == 1
    assert value(found, "medic_deploys", total, verdict="superseded") == 1
    assert value(found, "medic_deploys", total, verdict="inconclusive") == 0
    duration = "medic_deploy_watch_duration_seconds"
    assert value(found, duration, f"{duration}_count") == 4
    assert value(found, duration, f"{duration}_sum") == pytest.approx((10 + 3 + 12 + 4) * 60, abs=1)
    assert value(found, duration, f"{duration}_bucket", le="300.0") == 2
    assert value(found, duration, f"{duration}_bucket", le="600.0") == 3
    assert value(found, duration, f"{duration}_bucket", le="+Inf") == 4
