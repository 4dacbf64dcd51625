"""build_observation against the sandbox API: Jobs (and their CronJob), the claims pending pods
mount with their StorageClass, and the nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.observe import build_observation
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, ResourceRef, incident_from_group
from integrations.kubernetes import KubeClient
from sandbox.cluster import SandboxCluster
from sandbox.scenario import Scenario, load_named, load_scenario
from sandbox.server import SandboxServer

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _scenario(name: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.yaml")


def _incident(scenario: Scenario) -> Incident:
    return incident_from_group(f"wf-{scenario.name}", AlertGroup.model_validate(scenario.alert))


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[tuple[KubeClient, Scenario]]:
    scenario = _scenario(request.param)
    with SandboxServer(SandboxCluster(scenario)) as server:
        client = KubeClient.from_settings(server.url)
        try:
            yield client, scenario
        finally:
            client.close()


@pytest.mark.parametrize("sandbox", ["cronjob-report-db-refused"], indirect=True)
def test_a_job_alert_observes_the_job_its_cronjob_pods_and_logs(sandbox: tuple[KubeClient, Scenario]) -> None:
    kube, scenario = sandbox
    incident = _incident(scenario)
    assert incident.targets == [
        ResourceRef(namespace="finance", kind="Job", name="settlement-report-29923320")
    ]

    observation = build_observation(kube, incident)

    (job,) = observation.jobs
    assert (job.cronjob, job.failed, job.backoff_limit) == ("settlement-report", 5, 4)
    assert [(c.type, c.reason) for c in job.conditions][-1] == ("Failed", "BackoffLimitExceeded")
    assert job.tracking == "finance-reporting:batch/CronJob:finance/settlement-report", "the CronJob's"
    assert {p.owner for p in observation.pods} == {job.name}
    assert {c.state_exit_code for p in observation.pods for c in p.containers} == {2}
    assert {log.pod for log in observation.logs} == {p.name for p in observation.pods}
    assert any(e.object_kind == "Job" and e.reason == "BackoffLimitExceeded" for e in observation.events)
    assert job.id in observation.item_ids()


@pytest.mark.parametrize("sandbox", ["statefulset-storageclass-missing"], indirect=True)
def test_a_pending_pods_claim_is_read_with_whether_its_storage_class_exists(
    sandbox: tuple[KubeClient, Scenario],
) -> None:
    kube, scenario = sandbox
    observation = build_observation(kube, _incident(scenario))

    (pod,) = observation.pods
    assert pod.claims == ["data-orders-db-0"]
    assert pod.scheduling_message.startswith("0/4 nodes are available: pod has unbound immediate")
    (claim,) = observation.claims
    assert (claim.phase, claim.storage_class, claim.storage_class_exists) == ("Pending", "fast-ssd", False)
    assert any(
        e.object_kind == "PersistentVolumeClaim" and e.reason == "ProvisioningFailed"
        for e in observation.events
    )


@pytest.mark.parametrize("sandbox", ["statefulset-ordinal-zone-volume"], indirect=True)
def test_nodes_come_with_conditions_taints_and_allocatable_troubled_ones_first(
    sandbox: tuple[KubeClient, Scenario],
) -> None:
    kube, scenario = sandbox
    observation = build_observation(kube, _incident(scenario))

    assert observation.nodes_complete and len(observation.nodes) == 5
    first = observation.nodes[0]
    assert first.name == "ip-10-20-2-45.eu-west-1.compute.internal"
    assert first.conditions["Ready"] == "Unknown"
    assert "node.kubernetes.io/unreachable:NoExecute" in first.taints
    assert first.labels["topology.kubernetes.io/zone"] == "eu-west-1b"
    assert observation.nodes[1].allocatable == {
        "cpu": "3920m",
        "memory": "31482432Ki",
        "pods": "58",
        "ephemeral-storage": "95491281146",
    }
    (claim,) = observation.claims
    assert (claim.name, claim.phase, claim.storage_class_exists) == ("data-kafka-1", "Bound", True)


def test_when_every_pod_is_ready_no_claims_or_nodes_are_read() -> None:
    scenario = load_named("no-fault-transient")
    with SandboxServer(SandboxCluster(scenario)) as server:
        kube = KubeClient.from_settings(server.url)
        try:
            observation = build_observation(kube, _incident(scenario))
        finally:
            kube.close()
    assert observation.pods and all(p.ready for p in observation.pods)
    assert (observation.claims, observation.nodes, observation.jobs) == ([], [], [])
