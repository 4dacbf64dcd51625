"""analyze_incident answers meta alerts itself: no analyzer, rules or model, is asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from activities.analyze import AnalyzeActivities
from domain.analysis.plan import Diagnosis
from domain.incident.alerts import Alert
from domain.incident.memory import SimilarIncident
from domain.incident.model import Incident
from domain.kube.observation import Observation
from domain.steps.analyze import AnalyzeInput

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class RefusingModel:
    name = "anthropic"

    def analyze(
        self, incident: Incident, observation: Observation, similar: Sequence[SimilarIncident] = ()
    ) -> Diagnosis:
        raise AssertionError("a meta alert must not reach the model")


def test_watchdog_ends_with_nothing_to_fix_whichever_analyzer_is_configured() -> None:
    watchdog = Alert(
        status="firing",
        labels={"alertname": "Watchdog", "severity": "none"},
        startsAt=T0,
        endsAt=T0,
        fingerprint="1a2b3c4d5e6f7081",
    )
    incident = Incident(id="incident-watchdog", alerts=[watchdog])
    diagnosis = AnalyzeActivities(RefusingModel()).analyze_incident(
        AnalyzeInput(incident=incident, observation=Observation(incident_id=incident.id), analyzer="")
    )
    assert diagnosis.root_cause == "none" and diagnosis.plan.actions == []
    assert diagnosis.summary.startswith("Watchdog is the always-firing heartbeat of the alerting pipeline")
