"""The in-memory cluster: API write rules and the rollout simulation, without HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain.analysis.plan import RollbackRevision
from domain.incident.model import ResourceRef
from domain.kube.patches import patch_for_action
from sandbox.cluster import (
    ApiError,
    SandboxCluster,
    field_selector_matches,
    json_merge,
    label_selector_matches,
    strategic_merge,
)
from sandbox.scenario import SHARED_SCENARIOS, ScenarioError, load_named, load_scenario, shared_dir

APPS = "apps/v1"


def _cluster(name: str = "oom-helm-values", **kwargs: Any) -> SandboxCluster:
    return SandboxCluster(load_named(name), **kwargs)


def _memory_patch(limit: str) -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "ledger", "resources": {"limits": {"memory": limit}}}]}
            }
        }
    }


def _ledger(cluster: SandboxCluster) -> dict[str, Any]:
    return cluster.get(APPS, "Deployment", "payments", "ledger")


def _ledger_pods(cluster: SandboxCluster) -> list[dict[str, Any]]:
    return cluster.list_objects("v1", "Pod", "payments", label_selector="app.kubernetes.io/name=ledger")


def _restarts(pods: list[dict[str, Any]]) -> int:
    return sum(c["restartCount"] for p in pods for c in p["status"]["containerStatuses"])


# --- scenarios ---------------------------------------------------------------------------------


def test_every_shared_scenario_loads() -> None:
    files = sorted(SHARED_SCENARIOS.glob("*.yaml"))
    assert files, f"no scenarios under {SHARED_SCENARIOS}"
    for path in files:
        scenario = load_scenario(path)
        assert scenario.name == path.stem


def test_shared_dir_follows_the_environment_override(tmp_path: Path) -> None:
    assert shared_dir({"MEDIC_SHARED_DIR": str(tmp_path)}) == tmp_path.resolve()


def test_a_broken_scenario_names_the_file_and_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Not Kebab\nalert: {}\nheals_when: [{namespace: a, name: b, field: image}]\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    assert caught.value.path == str(bad)
    assert "kebab-case" in caught.value.reason
    assert "exactly one of at_least / equals" in caught.value.reason


def test_unparseable_and_missing_scenarios_are_scenario_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(broken)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


def test_heal_conditions_compare_quantities_and_exact_values() -> None:
    scenario = load_named("oom-helm-values")
    (condition,) = scenario.heal_conditions("Deployment", "payments", "ledger")
    deployment = next(o for o in scenario.cluster if o["kind"] == "Deployment")
    assert not condition.holds(deployment)
    raised = strategic_merge(deployment, _memory_patch("0.5Gi"))
    assert condition.holds(raised)


# --- patch semantics ---------------------------------------------------------------------------


def test_strategic_merge_merges_containers_by_name_and_null_deletes() -> None:
    original = {
        "spec": {
            "containers": [{"name": "a", "image": "a:1", "args": ["x"]}, {"name": "b", "image": "b:1"}],
            "keep": 1,
            "drop": 2,
        }
    }
    patch = {
        "spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}], "drop": None}
    }
    merged = strategic_merge(original, patch)
    assert merged["spec"]["containers"] == [
        {"name": "a", "image": "a:1", "args": ["x"]},
        {"name": "b", "image": "b:2"},
        {"name": "c", "image": "c:1"},
    ]
    assert merged["spec"]["keep"] == 1 and "drop" not in merged["spec"]


def test_strategic_merge_honours_replace_and_delete_directives() -> None:
    original = {
        "template": {"metadata": {"annotations": {"x": "1"}}, "spec": {"containers": [{"name": "a"}]}}
    }
    replaced = strategic_merge(
        original, {"template": {"$patch": "replace", "spec": {"containers": [{"name": "z"}]}}}
    )
    assert replaced == {"template": {"spec": {"containers": [{"name": "z"}]}}}
    deleted = strategic_merge(
        original, {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}
    )
    assert deleted["template"]["spec"]["containers"] == []


def test_json_merge_replaces_lists_whole() -> None:
    original = {"containers": [{"name": "a", "image": "a:1"}, {"name": "b"}], "x": 1}
    assert json_merge(original, {"containers": [{"name": "a", "image": "a:2"}], "x": None}) == {
        "containers": [{"name": "a", "image": "a:2"}]
    }


def test_selectors_match_like_the_api() -> None:
    labels = {"app": "ledger", "tier": "backend"}
    assert label_selector_matches("app=ledger,tier in (backend, front)", labels)
    assert not label_selector_matches("app=ledger,!tier", labels)
    assert label_selector_matches("app!=web,tier", labels)
    event = {"involvedObject": {"kind": "Pod", "name": "p-1"}}
    assert field_selector_matches("involvedObject.kind=Pod,involvedObject.name=p-1", event)
    assert not field_selector_matches("involvedObject.kind==Node", event)


# --- writes ------------------------------------------------------------------------------------


def test_dry_run_returns_the_result_and_stores_nothing() -> None:
    cluster = _cluster()
    before = _ledger(cluster)
    result = cluster.patch(APPS, "Deployment", "payments", "ledger", _memory_patch("512Mi"), dry_run=True)
    assert result["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    assert result["metadata"]["generation"] == before["metadata"]["generation"] + 1
    after = cluster.peek(APPS, "Deployment", "payments", "ledger")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]
    assert not cluster.rollout_pending("payments", "ledger")


def test_spec_change_bumps_generation_and_metadata_change_does_not() -> None:
    cluster = _cluster()
    before = _ledger(cluster)
    annotated = cluster.patch(
        APPS,
        "Deployment",
        "payments",
        "ledger",
        {"metadata": {"annotations": {"medic.io/incident": "i-1"}}},
        field_manager="medic",
    )
    assert annotated["metadata"]["generation"] == before["metadata"]["generation"]
    assert int(annotated["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    changed = cluster.patch(APPS, "Deployment", "payments", "ledger", _memory_patch("512Mi"))
    assert changed["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert [m.manager for m in cluster.field_managers(APPS, "Deployment", "payments", "ledger")] == ["medic"]


def test_a_no_op_patch_keeps_the_resource_version() -> None:
    cluster = _cluster()
    before = _ledger(cluster)
    again = cluster.patch(APPS, "Deployment", "payments", "ledger", _memory_patch("256Mi"))
    assert again["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_stale_put_is_a_conflict_and_current_put_replaces() -> None:
    cluster = _cluster()
    stale = _ledger(cluster)
    cluster.patch(APPS, "Deployment", "payments", "ledger", {"metadata": {"labels": {"x": "y"}}})
    with pytest.raises(ApiError) as caught:
        cluster.replace(APPS, "Deployment", "payments", "ledger", stale)
    assert caught.value.code == 409
    fresh = _ledger(cluster)
    fresh["metadata"]["labels"] = {"only": "this"}
    replaced = cluster.replace(APPS, "Deployment", "payments", "ledger", fresh)
    assert replaced["metadata"]["labels"] == {"only": "this"}
    assert replaced["status"] == fresh["status"]


def test_invalid_writes_are_refused_with_422() -> None:
    cluster = _cluster()
    for patch in (
        {"spec": {"replicas": -1}},
        {"spec": {"selector": {"matchLabels": {"app": "other"}}}},
        _memory_patch("lots"),
        _memory_patch("128Mi"),  # below the 192Mi request
    ):
        with pytest.raises(ApiError) as caught:
            cluster.patch(APPS, "Deployment", "payments", "ledger", patch)
        assert caught.value.code == 422, patch
        assert caught.value.status()["reason"] == "Invalid"


def test_missing_objects_are_404() -> None:
    cluster = _cluster()
    with pytest.raises(ApiError) as caught:
        cluster.get(APPS, "Deployment", "payments", "nope")
    assert caught.value.code == 404
    assert caught.value.message == 'deployments.apps "nope" not found'


# --- rollout simulation ------------------------------------------------------------------------


def test_rollout_that_meets_heals_when_ends_ready() -> None:
    cluster = _cluster()
    cluster.patch(APPS, "Deployment", "payments", "ledger", _memory_patch("512Mi"))
    deployment = _ledger(cluster)
    status = deployment["status"]
    assert status["observedGeneration"] == deployment["metadata"]["generation"]
    assert status["readyReplicas"] == status["availableReplicas"] == status["updatedReplicas"] == 2
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "8"
    pods = _ledger_pods(cluster)
    assert len(pods) == 2
    assert all(p["metadata"]["labels"]["pod-template-hash"] != "5c6b7d8f9" for p in pods)
    assert _restarts(pods) == 0
    assert all(p["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi" for p in pods)
    replicasets = {rs["metadata"]["name"]: rs for rs in cluster.list_objects(APPS, "ReplicaSet", "payments")}
    assert replicasets["ledger-5c6b7d8f9"]["spec"]["replicas"] == 0


def test_rollout_that_misses_heals_when_crashes_with_growing_restarts() -> None:
    cluster = _cluster()
    cluster.patch(APPS, "Deployment", "payments", "ledger", _memory_patch("300Mi"))
    deployment = _ledger(cluster)
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"]
    assert deployment["status"]["readyReplicas"] == 0
    first = _ledger_pods(cluster)
    second = _ledger_pods(cluster)
    assert _restarts(second) > _restarts(first) > 0
    last = first[0]["status"]["containerStatuses"][0]
    assert last["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert last["lastState"]["terminated"]["reason"] == "OOMKilled"


def test_restoring_the_seed_spec_returns_the_seed_pods() -> None:
    cluster = _cluster()
    seed = _ledger(cluster)
    seed_pods = sorted(p["metadata"]["name"] for p in _ledger_pods(cluster))
    cluster.patch(APPS, "Deployment", "payments", "ledger", _memory_patch("300Mi"))
    changed = _ledger(cluster)
    restore = dict(changed, spec=seed["spec"])
    cluster.replace(APPS, "Deployment", "payments", "ledger", restore)
    restored = _ledger(cluster)
    assert restored["metadata"]["generation"] == seed["metadata"]["generation"] + 2
    assert restored["status"]["observedGeneration"] == restored["metadata"]["generation"]
    assert restored["status"]["readyReplicas"] == seed["status"]["readyReplicas"]
    pods = _ledger_pods(cluster)
    assert sorted(p["metadata"]["name"] for p in pods) == seed_pods
    assert _restarts(pods) == _restarts(_ledger_pods(cluster)), "the seed's pods are stable"


def test_rollout_can_take_several_reads() -> None:
    cluster = _cluster(rollout_reads=2)
    cluster.patch(APPS, "Deployment", "payments", "ledger", _memory_patch("512Mi"))
    seen = [_ledger(cluster)["status"]["observedGeneration"] for _ in range(4)]
    assert seen == [7, 7, 8, 8]


def test_scaling_keeps_the_revision_and_heals_on_replicas() -> None:
    cluster = _cluster("saturation-direct-scale")
    cluster.patch(APPS, "Deployment", "search", "query-api", {"spec": {"replicas": 3}})
    deployment = cluster.get(APPS, "Deployment", "search", "query-api")
    assert deployment["status"]["readyReplicas"] == 3
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "31"
    pods = cluster.list_objects("v1", "Pod", "search", label_selector="app=query-api")
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {"c4948884f"}


def test_logs_follow_the_api_rules() -> None:
    cluster = _cluster()
    pod = "ledger-5c6b7d8f9-b7xkq"
    assert "GC overhead" in cluster.read_log("payments", pod, "ledger", previous=True)
    assert cluster.read_log("payments", pod, "ledger", tail_lines=1).startswith("2026-11-23T18:55:07Z")
    assert len(cluster.read_log("payments", pod, "ledger", limit_bytes=10)) == 10
    with pytest.raises(ApiError, match="previous terminated container"):
        cluster.read_log("payments", "ledger-5c6b7d8f9-w2nzd", "ledger", previous=True)
    with pytest.raises(ApiError, match="not valid for pod"):
        cluster.read_log("payments", pod, "sidecar")


def test_write_delay_is_configurable() -> None:
    cluster = _cluster()
    assert cluster.write_delay == 0
    cluster.set_write_delay(1.5)
    assert cluster.write_delay == 1.5


def test_rolling_back_the_bad_release_heals_checkout() -> None:
    cluster = _cluster("crashloop-bad-release")
    live = cluster.get(APPS, "Deployment", "shop", "checkout")
    replicasets = cluster.list_objects(APPS, "ReplicaSet", "shop")
    target = ResourceRef(namespace="shop", kind="Deployment", name="checkout", container="checkout")
    patch = patch_for_action(
        RollbackRevision(target=target, revision=11), live, "inc-1", "hash-1", replicasets
    )
    cluster.patch(APPS, "Deployment", "shop", "checkout", patch)
    deployment = cluster.get(APPS, "Deployment", "shop", "checkout")
    assert deployment["status"]["readyReplicas"] == 3
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "13"
    pods = cluster.list_objects("v1", "Pod", "shop", label_selector="app.kubernetes.io/name=checkout")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.example/shop/checkout:1.13.2"}
    assert len(pods) == 3
