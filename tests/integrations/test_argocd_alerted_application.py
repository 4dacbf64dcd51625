"""What an Argo CD alert needs of the API: the Application's last operation and history, and
managed resources whose target state is Git's (the frozen sandbox renders it from the scenario's
GitOps files)."""

from __future__ import annotations

import json
from pathlib import Path

from integrations.argocd import ArgoClient, to_argo_application
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "argocd-outofsync-hand-scaled.yaml"


def test_managed_resources_carry_gits_target_state_and_mark_the_hand_scaled_deployment_modified() -> None:
    scenario = load_scenario(SCENARIO)
    cluster = SandboxCluster(scenario)
    with SandboxArgoCD(scenario.argocd, cluster=cluster, gitops=scenario.gitops) as server:
        client = ArgoClient(server.url)
        try:
            items = {(i["kind"], i["name"]): i for i in client.managed_resources("storefront-web", "argocd")}
        finally:
            client.close()
    deployment = items[("Deployment", "web")]
    assert json.loads(deployment["targetState"])["spec"]["replicas"] == 6
    assert json.loads(deployment["liveState"])["spec"]["replicas"] == 2
    assert deployment["modified"] is True
    assert json.loads(deployment["diff"])["spec"]["replicas"] == 6
    assert items[("Service", "web")]["modified"] is False


def test_without_gitops_files_the_frozen_sandbox_serves_the_live_state_as_before() -> None:
    scenario = load_scenario(SCENARIO)
    cluster = SandboxCluster(scenario)
    with SandboxArgoCD(scenario.argocd, cluster=cluster) as server:
        client = ArgoClient(server.url)
        try:
            items = client.managed_resources("storefront-web")
        finally:
            client.close()
    deployment = next(i for i in items if i["kind"] == "Deployment")
    assert deployment["targetState"] == deployment["liveState"]


def test_to_argo_application_keeps_the_last_operation_and_the_newest_deployments() -> None:
    history = [
        {"id": n, "revision": f"{n:040x}", "deployedAt": f"2026-11-{n:02d}T00:00:00Z"} for n in range(1, 7)
    ]
    app = {
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {"project": "shop"},
        "status": {
            "history": history,
            "operationState": {
                "phase": "Failed",
                "message": "one or more objects failed to apply",
                "operation": {"sync": {"revision": "abc1234"}},
            },
            "conditions": [{"type": "SyncError", "message": "Failed sync attempt to abc1234"}],
        },
    }
    view = to_argo_application(app, [])
    assert view.operation_phase == "Failed" and view.operation_revision == "abc1234"
    assert view.operation_message == "one or more objects failed to apply"
    assert [h["id"] for h in view.history] == [6, 5, 4]
    assert view.conditions == ["SyncError: Failed sync attempt to abc1234"]
