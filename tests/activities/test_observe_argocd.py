"""observe for Argo CD's own alerts: the Application named by the labels, its workloads, its
managed-resource diffs and unhealthy tree nodes, through the real clients against the sandbox."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cli.eval import observe_scenario
from sandbox.scenario import Scenario, load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def scenario(file: str, **labels: str) -> Scenario:
    loaded = load_scenario(SCENARIOS / f"{file}.yaml")
    if not labels:
        return loaded
    alert: dict[str, Any] = copy.deepcopy(loaded.alert)
    for item in alert["alerts"]:
        item["labels"].update(labels)
    return loaded.model_copy(update={"alert": alert})


def test_the_controller_pod_and_argocd_namespace_are_not_read_as_the_target() -> None:
    incident, observation = observe_scenario(scenario("argocd-outofsync-exported-namespace"))
    assert incident.targets == []
    assert [w.id for w in observation.workloads] == ["workload/payments/Deployment/gateway"]
    assert all(p.namespace == "payments" for p in observation.pods) and observation.pods
    (app,) = observation.argocd
    assert (app.id, app.sync_status) == ("argocd/argocd/payments-gateway", "OutOfSync")
    assert app.manages("Deployment", "payments", "gateway")
    (diff,) = observation.argocd_diffs
    assert diff.id == "argocd-diff/argocd/payments-gateway/payments/Deployment/gateway"
    assert [(f.path, f.desired, f.live) for f in diff.fields] == [
        ("/spec/template/spec/containers/0/resources/limits/memory", "1Gi", "2Gi")
    ]


def test_an_exported_namespace_argo_cd_does_not_know_falls_back_to_the_name() -> None:
    _, observation = observe_scenario(
        scenario("argocd-outofsync-exported-namespace", exported_namespace="team-payments")
    )
    assert [a.name for a in observation.argocd] == ["payments-gateway"]
    assert [w.id for w in observation.workloads] == ["workload/payments/Deployment/gateway"]


def test_an_application_argo_cd_does_not_know_is_a_note() -> None:
    _, observation = observe_scenario(scenario("argocd-outofsync-hand-scaled", name="storefront-old"))
    assert observation.workloads == [] and observation.argocd == []
    assert any("storefront-old, which Argo CD does not know" in n for n in observation.notes)


def test_failed_sync_keeps_the_operation_message_revision_and_history() -> None:
    _, observation = observe_scenario(scenario("argocd-sync-failed-invalid-requests"))
    (app,) = observation.argocd
    assert app.operation_phase == "Failed"
    assert app.operation_revision == "e7a2f91c3b5d4e6f708192a3b4c5d6e7f8091a2b"
    assert "must be less than or equal to cpu limit of 1" in app.operation_message
    assert [h["revision"] for h in app.history] == ["4c1e9b2d7a06f3e58b9c0d1e2f3a4b5c6d7e8f90"]
    assert app.conditions and app.conditions[0].startswith("SyncError: ")


def test_unhealthy_tree_nodes_carry_argo_cds_health_message() -> None:
    _, observation = observe_scenario(scenario("argocd-degraded-hpa-new-revision"))
    (node,) = observation.argocd_tree
    assert (node.kind, node.health) == ("HorizontalPodAutoscaler", "Degraded")
    assert "missing request for cpu" in node.message
    assert observation.argocd_diffs == [], "a Synced Application's resources match Git"


@pytest.mark.parametrize("name", ["meta-watchdog-heartbeat", "meta-info-inhibitor"])
def test_meta_alerts_observe_nothing(name: str) -> None:
    incident, observation = observe_scenario(scenario(name))
    assert incident.targets == [] and observation.workloads == [] and observation.argocd == []
