"""A scenario copied into many namespaces: distinct workloads, each healed by its own change."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from domain.incident.alerts import AlertGroup
from sandbox.cluster import SandboxCluster
from sandbox.fleet import FleetError, fleet, fleet_namespace
from sandbox.scenario import load_named, load_scenario

DEMO_OOM = Path(__file__).resolve().parents[2] / "sandbox" / "scenarios" / "demo-oom.yaml"
APPS = "apps/v1"


def _memory_patch(limit: str) -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "cart", "resources": {"limits": {"memory": limit}}}]}
            }
        }
    }


def _ready(cluster: SandboxCluster, namespace: str) -> list[bool]:
    pods = cluster.list_objects("v1", "Pod", namespace, label_selector="app=cart")
    return [all(c["ready"] for c in p["status"]["containerStatuses"]) for p in pods]


def test_each_copy_is_its_own_workload_with_its_own_alert_group() -> None:
    scenario, alerts = fleet(load_scenario(DEMO_OOM), 3)
    cluster = SandboxCluster(scenario)

    namespaces = [fleet_namespace("shop", i) for i in range(3)]
    assert [a["groupLabels"]["namespace"] for a in alerts] == namespaces
    assert len({a["groupKey"] for a in alerts}) == 3
    for namespace, alert in zip(namespaces, alerts, strict=True):
        group = AlertGroup.model_validate(alert)
        assert {a.labels["namespace"] for a in group.alerts} == {namespace}
        assert namespace in group.commonAnnotations["description"]
        deployment = cluster.get(APPS, "Deployment", namespace, "cart")
        replicasets = cluster.list_objects(APPS, "ReplicaSet", namespace)
        assert [o["uid"] for rs in replicasets for o in rs["metadata"]["ownerReferences"]] == [
            deployment["metadata"]["uid"]
        ]
        assert len(cluster.list_objects("v1", "Pod", namespace, label_selector="app=cart")) == 2
        assert "heap 121Mi" in cluster.read_log(namespace, "cart-7d9f8b6c5-x2k4p", "cart", previous=True)
    assert len({cluster.get(APPS, "Deployment", ns, "cart")["metadata"]["uid"] for ns in namespaces}) == 3
    assert cluster.list_objects("v1", "Pod", "shop") == []


def test_a_fix_heals_only_the_copy_it_was_made_to() -> None:
    scenario, _ = fleet(load_scenario(DEMO_OOM), 2)
    cluster = SandboxCluster(scenario)
    healed, other = fleet_namespace("shop", 0), fleet_namespace("shop", 1)

    cluster.patch(APPS, "Deployment", healed, "cart", _memory_patch("256Mi"), patch_type="strategic")

    assert _ready(cluster, healed) == [True, True]
    assert False in _ready(cluster, other)


def test_a_cluster_of_thousands_of_workloads_answers_a_namespaced_list_quickly() -> None:
    scenario, _ = fleet(load_scenario(DEMO_OOM), 1_000)
    cluster = SandboxCluster(scenario)
    started = time.perf_counter()
    for _ in range(300):
        cluster.list_objects("v1", "Pod", fleet_namespace("shop", 567), label_selector="app=cart")
    # Indexed by namespace, a list reads its namespace's objects (about 0.1 ms here); reading and
    # sorting the cluster's 6,000 objects each time would take seconds.
    assert time.perf_counter() - started < 0.5


def test_a_scenario_in_several_namespaces_or_with_argo_cd_cannot_be_copied() -> None:
    with pytest.raises(FleetError, match="2 namespaces; a fleet needs one"):
        fleet(load_named("oom-helm-values"), 2)
    managed = load_scenario(DEMO_OOM).model_copy(update={"gitops": {"shop/cart.yaml": "kind: Deployment\n"}})
    with pytest.raises(FleetError, match="Argo CD or a GitOps repository"):
        fleet(managed, 2)
    with pytest.raises(FleetError, match="at least one copy"):
        fleet(load_scenario(DEMO_OOM), 0)
