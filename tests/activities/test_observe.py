"""build_observation and the observe_incident activity against the sandbox API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.observe import ObserveActivities, ObserveInput, build_observation
from cli.devserver import free_port
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, ResourceRef, incident_from_group
from domain.redaction.text import placeholder
from integrations.kubernetes import KubeClient, KubeForbidden, KubeUnavailable
from sandbox.cluster import SandboxCluster
from sandbox.scenario import load_named
from sandbox.server import SandboxServer
from store.db import make_engine, session_factory


def _incident(scenario_name: str) -> Incident:
    return incident_from_group(
        f"wf-{scenario_name}", AlertGroup.model_validate(load_named(scenario_name).alert)
    )


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[KubeClient]:
    with SandboxServer(SandboxCluster(load_named(request.param))) as server:
        client = KubeClient.from_settings(server.url)
        try:
            yield client
        finally:
            client.close()


@pytest.mark.parametrize("sandbox", ["oom-helm-values"], indirect=True)
def test_oom_pod_resolves_to_its_deployment_with_oom_evidence(sandbox: KubeClient) -> None:
    observation = build_observation(sandbox, _incident("oom-helm-values"))
    assert [w.id for w in observation.workloads] == ["workload/payments/Deployment/ledger"]
    (workload,) = observation.workloads
    assert workload.revision == 7 and workload.replicas == 2 and workload.ready_replicas == 1
    assert workload.containers[0].limits == {"cpu": "1", "memory": "256Mi"}
    # how a change rolls out, for the plan's downtime findings
    assert (workload.strategy, workload.max_unavailable) == ("RollingUpdate", "")
    assert [r.id for r in observation.revisions] == ["revision/payments/ledger-5c6b7d8f9"]
    pods = {p.id: p for p in observation.pods}
    crashing = pods["pod/payments/ledger-5c6b7d8f9-b7xkq"]
    assert crashing.owner == "ledger-5c6b7d8f9" and crashing.node == "node-b" and not crashing.ready
    (container,) = crashing.containers
    assert (container.state, container.state_reason) == ("waiting", "CrashLoopBackOff")
    assert (container.last_state_reason, container.last_exit_code, container.restart_count) == (
        "OOMKilled",
        137,
        9,
    )
    event_ids = {e.id for e in observation.events}
    assert "event/payments/ledger-5c6b7d8f9-b7xkq.1879a2c3d4e5f601" in event_ids
    assert "event/default/node-b.1879a2c3d4e5f777" in event_ids, "node events are collected too"
    logs = {log.id: log for log in observation.logs}
    previous = logs["log-previous/payments/ledger-5c6b7d8f9-b7xkq/ledger"]
    assert previous.previous and "GC overhead" in previous.text
    assert "log/payments/ledger-5c6b7d8f9-b7xkq/ledger" in logs
    assert observation.notes == []
    assert observation.alert_targets == _incident("oom-helm-values").targets


@pytest.mark.parametrize("sandbox", ["crashloop-bad-release"], indirect=True)
def test_bad_release_lists_both_revisions_and_the_panic(sandbox: KubeClient) -> None:
    observation = build_observation(sandbox, _incident("crashloop-bad-release"))
    assert [w.id for w in observation.workloads] == ["workload/shop/Deployment/checkout"]
    revisions = {r.revision: r for r in observation.revisions}
    assert set(revisions) == {11, 12}
    assert revisions[11].containers[0].image == "registry.example/shop/checkout:1.13.2"
    assert revisions[12].containers[0].image == "registry.example/shop/checkout:1.14.0"
    assert len(observation.pods) == 4
    assert {p.owner for p in observation.pods} == {"checkout-7d9f8b6c5", "checkout-577f48fc94"}
    previous = [log for log in observation.logs if log.previous]
    assert previous and all("payments.idempotency.ttl" in log.text for log in previous)
    assert len(observation.item_ids()) == len(observation.workloads) + len(observation.revisions) + len(
        observation.pods
    ) + len(observation.events) + len(observation.logs), "ids are unique"


@pytest.mark.parametrize("sandbox", ["oom-helm-values"], indirect=True)
def test_logs_are_bounded_by_bytes(sandbox: KubeClient) -> None:
    observation = build_observation(sandbox, _incident("oom-helm-values"), log_limit_bytes=40)
    assert observation.logs
    assert all(len(log.text.encode()) <= 40 and log.truncated for log in observation.logs)


@pytest.mark.parametrize("sandbox", ["oom-helm-values"], indirect=True)
def test_a_replaced_pod_still_finds_its_deployment(sandbox: KubeClient) -> None:
    incident = Incident(
        id="wf-gone", targets=[ResourceRef(namespace="payments", kind="Pod", name="ledger-5c6b7d8f9-zzzzz")]
    )
    observation = build_observation(sandbox, incident)
    assert [w.id for w in observation.workloads] == ["workload/payments/Deployment/ledger"]
    assert any("not found" in note for note in observation.notes)


@pytest.mark.parametrize("sandbox", ["oom-helm-values"], indirect=True)
def test_missing_targets_become_notes(sandbox: KubeClient) -> None:
    incident = Incident(
        id="wf-missing",
        targets=[
            ResourceRef(namespace="payments", kind="Deployment", name="nope"),
            ResourceRef(namespace="payments", kind="ConfigMap", name="settings"),
        ],
    )
    observation = build_observation(sandbox, incident)
    assert observation.workloads == [] and observation.pods == []
    assert len(observation.notes) == 2


@pytest.mark.parametrize("sandbox", ["oom-helm-values"], indirect=True)
def test_activity_returns_the_observation(sandbox: KubeClient) -> None:
    activities = ObserveActivities(sandbox)
    result = ActivityEnvironment().run(
        activities.observe_incident, ObserveInput(incident=_incident("oom-helm-values"))
    )
    assert result.workloads[0].ref.name == "ledger"


@pytest.mark.parametrize("sandbox", ["oom-helm-values"], indirect=True)
def test_with_the_store_down_observe_keeps_nothing_itself_and_still_answers(sandbox: KubeClient) -> None:
    # A store nothing listens on: keeping the observation would fail the attempt (StoreUnavailable).
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/medic")
    activities = ObserveActivities(sandbox, sessions=session_factory(engine))
    incident = _incident("oom-helm-values")
    try:
        result = ActivityEnvironment().run(
            activities.observe_incident, ObserveInput(incident=incident, keep=False)
        )
        with pytest.raises(ApplicationError) as kept:
            ActivityEnvironment().run(activities.observe_incident, ObserveInput(incident=incident))
    finally:
        engine.dispose()
    assert result.workloads[0].ref.name == "ledger"
    assert kept.value.type == "StoreUnavailable"


class _RefusingKube:
    """Stands in for KubeClient where the API refuses or is away."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read_object(self, ref: ResourceRef) -> dict[str, object]:
        raise self.error


def test_activity_makes_forbidden_non_retryable() -> None:
    activities = ObserveActivities(cast(KubeClient, _RefusingKube(KubeForbidden("pods is forbidden", 403))))
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(
            activities.observe_incident, ObserveInput(incident=_incident("oom-helm-values"))
        )
    assert caught.value.type == "KubeForbidden" and caught.value.non_retryable


def test_an_unavailable_api_fails_the_attempt_as_retryable_for_temporal_to_retry() -> None:
    activities = ObserveActivities(cast(KubeClient, _RefusingKube(KubeUnavailable("connection refused"))))
    with pytest.raises(ApplicationError) as failure:
        ActivityEnvironment().run(
            activities.observe_incident, ObserveInput(incident=_incident("oom-helm-values"))
        )
    assert failure.value.type == "KubeUnavailable"
    assert not failure.value.non_retryable
    assert "connection refused" in failure.value.message


def test_secrets_in_logs_are_masked() -> None:
    scenario = load_named("oom-helm-values")
    key = "payments/ledger-5c6b7d8f9-b7xkq/ledger"
    leaky = scenario.model_copy(
        update={
            "logs": {
                key: "connecting to postgres://ledger:hunter2@db:5432/ledger\n"
                "Authorization: Bearer abcdefghijklmnop123\npassword=s3cret\n"
            }
        }
    )
    with SandboxServer(SandboxCluster(leaky)) as server:
        client = KubeClient.from_settings(server.url)
        try:
            observation = build_observation(client, _incident("oom-helm-values"))
        finally:
            client.close()
    (log,) = [log for log in observation.logs if log.id == f"log/{key}"]
    for secret in ("hunter2", "abcdefghijklmnop123", "s3cret"):
        assert secret not in log.text
    # The domain's placeholders, typed by what was found.
    for kind in ("database_password", "bearer_token", "password"):
        assert placeholder(kind) in log.text
