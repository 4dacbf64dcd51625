"""observe reads what the crash rules need: init containers, termination messages, bare Pods."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.observe import MAX_TERMINATION_MESSAGE, _container_specs, _pod_state, build_observation
from cli.eval import observe_scenario
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, incident_from_group
from integrations.kubernetes import KubeClient
from sandbox.cluster import SandboxCluster
from sandbox.scenario import load_named
from sandbox.server import SandboxServer

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _incident(name: str) -> Incident:
    return incident_from_group(f"wf-{name}", AlertGroup.model_validate(load_named(name, SCENARIOS).alert))


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[KubeClient]:
    with SandboxServer(SandboxCluster(load_named(request.param, SCENARIOS))) as server:
        client = KubeClient.from_settings(server.url)
        try:
            yield client
        finally:
            client.close()


@pytest.mark.parametrize("sandbox", ["init-render-config-read-only-fs"], indirect=True)
def test_a_failing_init_container_is_described_and_its_log_read(sandbox: KubeClient) -> None:
    observation = build_observation(sandbox, _incident("init-render-config-read-only-fs"))
    pod = observation.pods[0]
    (init,) = pod.init_containers
    assert init.name == "render-config" and init.state_reason == "CrashLoopBackOff"
    assert init.last_state_reason == "Error" and init.last_exit_code == 1 and init.restart_count == 8
    assert pod.owner_kind == "ReplicaSet" and pod.phase == "Pending"
    logs = {(log.pod, log.container, log.previous): log.text for log in observation.logs}
    assert "Read-only file system" in logs[(pod.name, "render-config", True)]


@pytest.mark.parametrize("sandbox", ["bare-pod-missing-env-keyerror"], indirect=True)
def test_a_bare_pod_named_by_the_alert_is_observed_without_a_workload(sandbox: KubeClient) -> None:
    observation = build_observation(sandbox, _incident("bare-pod-missing-env-keyerror"))
    assert observation.workloads == []
    (pod,) = observation.pods
    assert pod.name == "notebook-exporter" and pod.owner == "" and pod.owner_kind == ""
    assert any("belongs to no workload" in note for note in observation.notes)
    assert any(log.previous and "KeyError" in log.text for log in observation.logs)


@pytest.mark.parametrize("sandbox", ["start-error-executable-not-found"], indirect=True)
def test_the_last_termination_message_and_exit_code_are_kept(sandbox: KubeClient) -> None:
    observation = build_observation(sandbox, _incident("start-error-executable-not-found"))
    container = observation.pods[0].containers[0]
    assert container.last_state_reason == "StartError" and container.last_exit_code == 128
    assert 'exec: "gunicorn": executable file not found in $PATH' in container.last_state_message


def test_termination_messages_are_clipped_and_redacted() -> None:
    secret = "password=hunter2-very-secret"
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "status": {
            "containerStatuses": [
                {
                    "name": "app",
                    "state": {"terminated": {"reason": "Error", "exitCode": 3}},
                    "lastState": {
                        "terminated": {"reason": "Error", "exitCode": 3, "message": secret + "x" * 5000}
                    },
                }
            ]
        },
    }
    (container,) = _pod_state(pod).containers
    assert container.state_exit_code == 3
    assert len(container.last_state_message) <= MAX_TERMINATION_MESSAGE + 1
    assert "hunter2" not in container.last_state_message


def test_a_containers_configmaps_and_secrets_are_named_never_read() -> None:
    template = {
        "spec": {
            "containers": [
                {
                    "name": "api",
                    "image": "api:1",
                    "env": [
                        {"name": "DB_DSN", "valueFrom": {"secretKeyRef": {"name": "api-db", "key": "dsn"}}}
                    ],
                    "envFrom": [{"configMapRef": {"name": "api-config"}}],
                    "volumeMounts": [{"name": "certs", "mountPath": "/etc/tls"}],
                }
            ],
            "volumes": [
                {"name": "certs", "secret": {"secretName": "api-tls"}},
                {"name": "unused", "configMap": {"name": "not-mounted"}},
            ],
        }
    }
    (spec,) = _container_specs(template)
    assert spec.config_refs == [
        "Secret api-db (key dsn, env DB_DSN)",
        "ConfigMap api-config (all keys as env)",
        "Secret api-tls (mounted at /etc/tls)",
    ]


def test_a_bare_pod_argo_cd_tracks_brings_its_application_and_manifest() -> None:
    _, observation = observe_scenario(load_named("bare-pod-argocd-tracked-missing-key", SCENARIOS))
    (pod,) = observation.pods
    assert pod.owner_kind == "" and pod.tracking == "payments-toolbox:/Pod:payments-tools/ledger-replay"
    (app,) = observation.argocd
    assert app.name == "payments-toolbox" and app.manages("Pod", "payments-tools", "ledger-replay")
    assert "toolbox/ledger-replay.yaml" in {f.path for f in observation.gitops_files}


def test_a_bare_pod_without_a_tracking_id_has_none() -> None:
    _, observation = observe_scenario(load_named("bare-pod-missing-env-keyerror", SCENARIOS))
    (pod,) = observation.pods
    assert pod.tracking == "" and observation.argocd == []
