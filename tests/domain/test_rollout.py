"""Rollout done / healthy decisions (pure)."""

from __future__ import annotations

from typing import Any

from domain.incident.model import ResourceRef
from domain.kube.rollout import is_current_pod, rollout_check, total_restarts

REF = ResourceRef(namespace="payments", kind="Deployment", name="ledger")
TEMPLATE = {
    "metadata": {
        "labels": {"app": "ledger"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "medic-1"},
    },
    "spec": {
        "containers": [
            {
                "name": "ledger",
                "image": "ledger:2.8.1",
                "resources": {"limits": {"memory": "512Mi", "cpu": "1"}},
            }
        ]
    },
}


def _deployment(
    generation: int = 8,
    observed: int = 8,
    replicas: int = 2,
    updated: int = 2,
    total: int = 2,
    available: int = 2,
    ready: int = 2,
) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas, "template": TEMPLATE},
        "status": {
            "observedGeneration": observed,
            "replicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": ready,
        },
    }


def _pod(
    name: str,
    *,
    restarts: int = 0,
    memory: str = "0.5Gi",
    image: str = "ledger:2.8.1",
    stamp: str = "medic-1",
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"app": "ledger", "pod-template-hash": "abc"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": stamp},
        },
        "spec": {
            "containers": [
                {
                    "name": "ledger",
                    "image": image,
                    "resources": {"limits": {"memory": memory, "cpu": "1000m"}},
                }
            ]
        },
        "status": {"containerStatuses": [{"name": "ledger", "restartCount": restarts}]},
    }


def test_total_restarts_sums_every_container() -> None:
    pod = _pod("a", restarts=2)
    pod["status"]["initContainerStatuses"] = [{"name": "init", "restartCount": 1}]
    assert total_restarts([pod, _pod("b", restarts=3)]) == 6
    assert total_restarts([{"metadata": {}}]) == 0


def test_pods_are_current_when_made_from_the_template() -> None:
    assert is_current_pod(_pod("a"), TEMPLATE), "quantities compare by value"
    assert not is_current_pod(_pod("a", memory="256Mi"), TEMPLATE)
    assert not is_current_pod(_pod("a", image="ledger:2.8.0"), TEMPLATE)
    assert not is_current_pod(_pod("a", stamp="earlier"), TEMPLATE)
    terminating = _pod("a")
    terminating["metadata"]["deletionTimestamp"] = "2026-11-23T19:00:00Z"
    assert not is_current_pod(terminating, TEMPLATE)


def test_finished_rollout_with_ready_pods_is_healthy() -> None:
    check = rollout_check(REF, _deployment(), [_pod("a"), _pod("b")], -1)
    assert check.done and check.healthy and check.reason == ""
    assert check.resource == REF


def test_unobserved_generation_is_not_done() -> None:
    check = rollout_check(REF, _deployment(observed=7), [_pod("a"), _pod("b")], -1)
    assert not check.done and not check.healthy
    assert "observe generation 8" in check.reason


def test_old_pods_mean_not_done() -> None:
    check = rollout_check(REF, _deployment(total=3), [_pod("a"), _pod("b"), _pod("old", memory="256Mi")], -1)
    assert not check.done
    assert "old replicas pending termination" in check.reason


def test_partly_updated_rollout_is_not_done() -> None:
    check = rollout_check(REF, _deployment(updated=1), [], -1)
    assert not check.done and "1 of 2 replicas updated" in check.reason


def test_rolled_out_but_unavailable_is_done_and_unhealthy() -> None:
    check = rollout_check(
        REF, _deployment(available=0, ready=0), [_pod("a", restarts=1), _pod("b", restarts=1)], -1
    )
    assert check.done and not check.healthy
    assert "0 of 2 updated replicas available" in check.reason
    assert check.restarts == 2


def test_restarts_above_the_baseline_make_a_done_rollout_unhealthy() -> None:
    pods = [_pod("a", restarts=1), _pod("b")]
    assert rollout_check(REF, _deployment(), pods, 1).healthy
    check = rollout_check(REF, _deployment(), [_pod("a", restarts=2), _pod("b")], 1)
    assert check.done and not check.healthy
    assert check.reason == "restarts increased from 1 to 2"


def test_restarts_of_old_pods_do_not_count() -> None:
    check = rollout_check(REF, _deployment(), [_pod("a"), _pod("b")], 0)
    assert check.restarts == 0
    old = _pod("old", restarts=9, image="ledger:2.8.0")
    assert rollout_check(REF, _deployment(total=3), [_pod("a"), _pod("b"), old], 0).restarts == 0


def test_scaled_to_zero_is_done_without_pods() -> None:
    check = rollout_check(REF, _deployment(replicas=0, updated=0, total=0, available=0, ready=0), [], -1)
    assert check.done and check.healthy


def test_daemonset_counts_come_from_its_own_status_fields() -> None:
    daemonset = {
        "kind": "DaemonSet",
        "metadata": {"generation": 2},
        "spec": {"template": TEMPLATE},
        "status": {
            "observedGeneration": 2,
            "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 2,
            "currentNumberScheduled": 2,
            "numberAvailable": 2,
            "numberReady": 2,
        },
    }
    ref = REF.model_copy(update={"kind": "DaemonSet"})
    assert rollout_check(ref, daemonset, [_pod("a"), _pod("b")], -1).healthy
