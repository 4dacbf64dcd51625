"""recall_similar_incidents and remember_incident, called directly on a migrated SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.memory import MemoryActivities
from activities.record import RecordActivities
from domain.analysis.plan import Diagnosis, Plan, SetResources
from domain.incident.alerts import AlertGroup
from domain.incident.memory import RecallInput, RememberInput, describe_similar, memory_of, recall_keys
from domain.incident.model import Incident, ResourceRef, incident_from_group
from domain.kube.observation import ContainerSpec, ContainerState, EventItem, Observation, PodState, Workload
from domain.steps.record import IncidentUpdate
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.models import IncidentMemory as IncidentMemoryRow

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _group(workflow_id: str, alertname: str, namespace: str, pod: str, summary: str) -> Incident:
    labels = {"alertname": alertname, "namespace": namespace, "pod": pod, "container": pod.split("-")[0]}
    group = AlertGroup.model_validate(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{alertname}"}}',
            "status": "firing",
            "receiver": "medic",
            "groupLabels": {"alertname": alertname, "namespace": namespace},
            "commonLabels": labels,
            "commonAnnotations": {"summary": summary},
            "alerts": [
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {"summary": summary},
                    "startsAt": T0.isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": workflow_id[-16:],
                }
            ],
        }
    )
    return incident_from_group(workflow_id, group)


def _oom_observation(incident_id: str, namespace: str = "payments", name: str = "ledger") -> Observation:
    ref = ResourceRef(namespace=namespace, kind="Deployment", name=name)
    return Observation(
        incident_id=incident_id,
        workloads=[
            Workload(
                id=f"workload/{ref.key}",
                ref=ref,
                containers=[ContainerSpec(name=name, image=f"{name}:1.4.2", limits={"memory": "256Mi"})],
            )
        ],
        pods=[
            PodState(
                id=f"pod/{namespace}/{name}-5c6b7d8f9-b7xkq",
                name=f"{name}-5c6b7d8f9-b7xkq",
                namespace=namespace,
                containers=[
                    ContainerState(
                        name=name,
                        state="waiting",
                        state_reason="CrashLoopBackOff",
                        last_state_reason="OOMKilled",
                        last_exit_code=137,
                        restart_count=9,
                    )
                ],
            )
        ],
        events=[
            EventItem(
                id=f"event/{namespace}/{name}.1",
                namespace=namespace,
                object_kind="Pod",
                object_name=f"{name}-5c6b7d8f9-b7xkq",
                reason="BackOff",
                type="Warning",
                message="Back-off restarting failed container",
            )
        ],
    )


def _oom_diagnosis(namespace: str = "payments", name: str = "ledger") -> Diagnosis:
    target = ResourceRef(namespace=namespace, kind="Deployment", name=name, container=name)
    return Diagnosis(
        root_cause="oom",
        summary=f"{name} was OOMKilled at its 256Mi memory limit",
        plan=Plan(actions=[SetResources(target=target, limits={"memory": "384Mi"})]),
    )


def _close(
    sessions: sessionmaker[Session],
    activities: MemoryActivities,
    incident: Incident,
    observation: Observation,
    diagnosis: Diagnosis | None,
    outcome: str,
    closed_at: datetime = T0,
    reason: str = "",
) -> None:
    # As the workflow does: the incident row first, then its memory.
    RecordActivities(sessions).record_incident(IncidentUpdate(incident_id=incident.id, title=incident.title))
    memory = memory_of(
        incident,
        outcome=outcome,
        reason=reason,
        closed_at=closed_at,
        observation=observation,
        diagnosis=diagnosis,
    )
    activities.remember_incident(RememberInput(memory=memory))


def _oom_incident(workflow_id: str, namespace: str = "payments", name: str = "ledger") -> Incident:
    return _group(
        workflow_id,
        "KubePodCrashLooping",
        namespace,
        f"{name}-5c6b7d8f9-b7xkq",
        f"Container {name} in {namespace} is restarting (OOMKilled)",
    )


def test_a_second_oom_on_the_same_workload_recalls_the_resolved_one_first(
    sessions: sessionmaker[Session],
) -> None:
    activities = MemoryActivities(sessions)
    past = _oom_incident("incident-past-oom")
    _close(sessions, activities, past, _oom_observation(past.id), _oom_diagnosis(), "resolved")
    image = _group("incident-past-image", "KubePodNotReady", "shop", "checkout-7d9-x1", "checkout not ready")
    _close(sessions, activities, image, Observation(incident_id=image.id), None, "rejected")
    other_ns = _oom_incident("incident-other-oom", namespace="search", name="indexer")
    _close(
        sessions,
        activities,
        other_ns,
        _oom_observation(other_ns.id, "search", "indexer"),
        _oom_diagnosis("search", "indexer"),
        "resolved",
    )

    current = _oom_incident("incident-now")
    result = activities.recall_similar_incidents(
        RecallInput(incident=current, observation=_oom_observation(current.id))
    )

    assert [s.incident_id for s in result.similar][:2] == ["incident-past-oom", "incident-other-oom"]
    best = result.similar[0]
    assert (best.outcome, best.root_cause, best.workload) == ("resolved", "oom", "payments/Deployment/ledger")
    assert best.actions == [
        {
            "kind": "set_resources",
            "target": "payments/Deployment/ledger",
            "mode": "direct",
            "container": "ledger",
            "requests": {},
            "limits": {"memory": "384Mi"},
        }
    ]
    assert best.signals == ["CrashLoopBackOff", "OOMKilled", "BackOff"]
    assert not best.rolled_back_before


def test_the_incident_itself_is_never_recalled(sessions: sessionmaker[Session]) -> None:
    activities = MemoryActivities(sessions)
    incident = _oom_incident("incident-rerun")
    observation = _oom_observation(incident.id)
    _close(sessions, activities, incident, observation, _oom_diagnosis(), "resolved")

    result = activities.recall_similar_incidents(RecallInput(incident=incident, observation=observation))

    assert result.similar == []


def test_a_rolled_back_fix_is_flagged_for_the_analyzer(sessions: sessionmaker[Session]) -> None:
    activities = MemoryActivities(sessions)
    past = _oom_incident("incident-rolled-back")
    _close(
        sessions,
        activities,
        past,
        _oom_observation(past.id),
        _oom_diagnosis(),
        "rolled_back",
        reason="verification failed: pods still restarting",
    )

    current = _oom_incident("incident-again")
    result = activities.recall_similar_incidents(
        RecallInput(incident=current, observation=_oom_observation(current.id), limit=1)
    )

    (similar,) = result.similar
    assert similar.incident_id == "incident-rolled-back" and similar.rolled_back_before
    (line,) = describe_similar(result.similar)
    assert "rolled_back" in line and "WARNING" in line and "set_resources" in line


def test_remember_twice_keeps_one_memory_with_the_latest_content(sessions: sessionmaker[Session]) -> None:
    activities = MemoryActivities(sessions)
    incident = _oom_incident("incident-retried")
    observation = _oom_observation(incident.id)
    _close(sessions, activities, incident, observation, _oom_diagnosis(), "resolved")
    _close(
        sessions,
        activities,
        incident,
        observation,
        _oom_diagnosis(),
        "resolved",
        closed_at=T0 + timedelta(minutes=1),
    )

    with transaction(sessions) as session:
        rows = session.scalars(select(IncidentMemoryRow)).all()
        fts_rows = session.scalar(text("SELECT count(*) FROM incident_memory_fts"))
    assert [(r.incident_id, r.closed_at) for r in rows] == [("incident-retried", T0 + timedelta(minutes=1))]
    assert fts_rows == 1


def test_remembering_an_unrecorded_incident_fails_without_retry(sessions: sessionmaker[Session]) -> None:
    incident = _oom_incident("incident-never-recorded")
    memory = memory_of(incident, outcome="failed", closed_at=T0)

    with pytest.raises(ApplicationError) as raised:
        MemoryActivities(sessions).remember_incident(RememberInput(memory=memory))

    assert raised.value.type == "IncidentNotRecorded" and raised.value.non_retryable


def test_recall_query_comes_from_the_alert_the_workload_and_the_signals() -> None:
    incident = _oom_incident("incident-q")
    keys = recall_keys(incident, _oom_observation(incident.id))

    assert keys.alertname == "KubePodCrashLooping"
    assert (keys.namespace, keys.workload) == ("payments", "payments/Deployment/ledger")
    for word in ("OOMKilled", "CrashLoopBackOff", "BackOff", "payments Deployment ledger", "restarting"):
        assert word in keys.query_text
