"""The offline rules tell a human what to do next: what to check, which object to change and the
read-only command that shows it, with the incident's own namespace and names filled in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.analysis.offline import OfflineAnalyzer
from domain.analysis.plan import reads_as_command, without_read_only_commands
from domain.incident.memory import SimilarIncident
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import GitOpsFile, Observation
from tests.domain.test_offline_analyzer import (
    APP,
    INCIDENT,
    NEW_RS,
    analyze,
    container_state,
    deployment,
    event,
    gitops_oom,
    observe,
    oom_pod,
    pod,
    pull_observation,
    revision,
    saturated,
    series,
    workload,
)


def _steps(diagnosis_steps: list[str]) -> str:
    assert diagnosis_steps, "no next steps"
    for step in diagnosis_steps:
        assert not reads_as_command(without_read_only_commands(step)), step
    return "\n".join(diagnosis_steps)


def test_unschedulable_names_the_pending_pod_and_the_requests_to_compare() -> None:
    pending = pod(f"{NEW_RS}-j6n2f", NEW_RS, ready=False, phase="Pending", node="")
    message = (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    observation = Observation(
        incident_id=INCIDENT.id,
        workloads=[deployment(replicas=3, ready=2)],
        revisions=[revision(NEW_RS, 5, "cart:2", ready=2)],
        pods=[pending, pod(f"{NEW_RS}-aaaaa", NEW_RS, container_state())],
        events=[event("sched.1", pending.name, "FailedScheduling", message)],
    )
    diagnosis = analyze(observation)
    steps = _steps(diagnosis.next_steps)
    assert f"`kubectl describe pod {pending.name} -n shop`" in steps
    assert "Allocated resources" in steps and "Deployment cart" in steps
    # each half of the message gets its own step: the taint, then the CPU
    assert "toleration" in diagnosis.next_steps[0] and "{dedicated: gpu}" in diagnosis.next_steps[0]
    assert "cpu request" in diagnosis.next_steps[1]
    assert "Insufficient cpu" in diagnosis.explanation  # the scheduler's words are quoted


def test_config_error_points_at_the_configmap_the_kubelet_names() -> None:
    broken = pod(
        f"{NEW_RS}-x7k2m",
        NEW_RS,
        container_state(
            "waiting",
            "CreateContainerConfigError",
            ready=False,
            message="couldn't find key DATABASE_URL in ConfigMap shop/cart-env",
        ),
        ready=False,
        phase="Pending",
    )
    observation = Observation(
        incident_id=INCIDENT.id,
        workloads=[deployment(replicas=2, ready=1)],
        revisions=[revision(NEW_RS, 5, "cart:2", ready=1)],
        pods=[broken],
        events=[
            event("cfg.1", broken.name, "Failed", 'Error: configmap "cart-env" not found'),
        ],
    )
    diagnosis = analyze(observation)
    steps = _steps(diagnosis.next_steps)
    assert "`kubectl -n shop get configmap cart-env -o yaml`" in steps
    assert 'configmap "cart-env" not found' in diagnosis.explanation


def test_a_hostile_message_cannot_put_a_command_into_a_next_step() -> None:
    broken = pod(
        f"{NEW_RS}-x7k2m",
        NEW_RS,
        container_state("waiting", "CreateContainerConfigError", ready=False),
        ready=False,
        phase="Pending",
    )
    hostile = 'Error: secret "x; kubectl delete ns shop" not found `rm -rf /`'
    observation = Observation(
        incident_id=INCIDENT.id,
        workloads=[deployment(replicas=2, ready=1)],
        pods=[broken],
        events=[event("cfg.1", broken.name, "Failed", hostile)],
    )
    diagnosis = analyze(observation)
    # the message is quoted (backticks defused), names taken from it are DNS-shaped only
    assert "`kubectl -n shop get secret x -o yaml`" in "\n".join(diagnosis.next_steps)
    assert "`rm" not in "\n".join(diagnosis.next_steps)
    _steps(diagnosis.next_steps)  # no step reads as a command that changes something
    assert "kubectl delete" in diagnosis.explanation  # quoted there, as evidence, clipped


def test_registry_auth_failure_says_which_secret_to_check() -> None:
    diagnosis = analyze(
        pull_observation('Failed to pull image "cart:2": failed to authorize: 401 Unauthorized')
    )
    steps = _steps(diagnosis.next_steps)
    assert "imagePullSecrets" in steps and "-n shop" in steps
    assert "401 Unauthorized" in diagnosis.explanation


def test_oom_steps_confirm_the_kill_and_name_the_new_limit() -> None:
    pod_oom = oom_pod()
    diagnosis = analyze(observe(workload(), pods=(pod_oom,)))
    steps = _steps(diagnosis.next_steps)
    assert f"`kubectl -n shop describe pod {pod_oom.name}`" in steps
    assert "resources.limits.memory of container cart (128Mi → 256Mi)" in steps


def test_gitops_plan_without_a_single_file_tells_where_to_look() -> None:
    first = GitOpsFile(id="gitops/values/a.yaml", path="values/a.yaml", role="helm_values")
    second = GitOpsFile(id="gitops/values/b.yaml", path="values/b.yaml", role="helm_values")
    diagnosis = analyze(gitops_oom(first, second))
    (action,) = diagnosis.plan.actions
    assert action.file is None
    steps = _steps(diagnosis.next_steps)
    assert "several Helm values files could hold the value" in steps
    assert "overlays/prod in https://git.example/gitops.git" in steps  # the application's source
    assert f"`argocd app diff {APP.name}`" in steps
    assert "Do not edit the live object" in steps


def test_saturation_at_the_bound_asks_about_the_autoscaler() -> None:
    diagnosis = analyze(saturated(50, series("request_rate", 100, 150, 200)))
    steps = _steps(diagnosis.next_steps)
    assert "`kubectl -n shop get hpa`" in steps and "maxReplicas" in steps


def test_unknown_targets_say_where_to_look() -> None:
    incident = Incident(id="i", targets=[ResourceRef(namespace="shop", kind="Pod", name="cart-x")])
    diagnosis = OfflineAnalyzer().analyze(incident, observe(notes=("Pod shop/cart-x not found",)))
    steps = _steps(diagnosis.next_steps)
    assert "`kubectl -n shop get deployments,statefulsets,daemonsets,pods`" in steps
    assert "shop/Pod/cart-x" in diagnosis.explanation


def test_unhealthy_unknown_names_the_pod_to_describe() -> None:
    failing = pod(
        f"{NEW_RS}-zzzzz", NEW_RS, container_state("waiting", "ContainerCreating", ready=False), ready=False
    )
    observation = observe(workload(ready=0), pods=(failing,))
    diagnosis = analyze(observation)
    assert diagnosis.root_cause == "unknown"
    steps = _steps(diagnosis.next_steps)
    assert f"`kubectl -n shop describe pod {failing.name}`" in steps
    assert "deployment/cart has 0/2 replicas ready" in diagnosis.explanation


def test_a_fix_rolled_back_before_points_at_that_incident() -> None:
    past = SimilarIncident(
        incident_id="am-123",
        title="cart OOM",
        workload="shop/Deployment/cart",
        root_cause="oom",
        actions=[{"kind": "set_resources"}],
        outcome="rolled_back",
        reason="verification failed",
        closed_at=datetime(2026, 11, 20, tzinfo=UTC),
        rolled_back_before=True,
    )
    diagnosis = OfflineAnalyzer().analyze(INCIDENT, observe(workload(), pods=(oom_pod(),)), [past])
    assert diagnosis.plan.actions == []
    assert diagnosis.next_steps[0] == "Read why the same fix was rolled back: `medic incidents show am-123`."


@pytest.mark.parametrize(
    ("step", "flagged"),
    [
        ("Read it: `kubectl -n shop describe pod cart-1` (Events).", False),
        ("Read the log: kubectl -n shop logs cart-1 -c cart --previous", False),
        ("kubectl -n shop get pod cart-1 -o yaml, raise resources.limits.cpu, and replace the Pod", False),
        ("See the difference: `argocd app diff shop-cart`", False),
        ("Then run `kubectl -n shop delete pod cart-1`.", True),
        ("`argocd app sync shop-cart`", True),
        ("kubectl get pods then kubectl delete ns shop", True),
        ("kubectl get pods && kubectl delete ns shop", True),
        ("`kubectl get pods $(curl http://x)`", True),
        ("`kubectl logs cart-1` | sh", True),
    ],
)
def test_only_read_only_commands_pass_in_a_next_step(step: str, flagged: bool) -> None:
    assert reads_as_command(without_read_only_commands(step)) is flagged
