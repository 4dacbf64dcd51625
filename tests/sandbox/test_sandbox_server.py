"""The sandbox served over HTTP, exercised through the official client (integrations.kubernetes)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.incident.model import ResourceRef
from domain.kube.rollout import rollout_check
from integrations.kubernetes import KubeClient, KubeConflict, KubeInvalid, KubeNotFound, KubeUnavailable
from sandbox.cluster import SandboxCluster
from sandbox.scenario import load_named, scenario_path
from sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
LEDGER = ResourceRef(namespace="payments", kind="Deployment", name="ledger")
SELECTOR = {"app.kubernetes.io/name": "ledger", "app.kubernetes.io/instance": "payments-ledger"}


@pytest.fixture
def cluster() -> SandboxCluster:
    return SandboxCluster(load_named("oom-helm-values"))


@pytest.fixture
def kube(cluster: SandboxCluster) -> Iterator[KubeClient]:
    with SandboxServer(cluster) as server:
        client = KubeClient.from_settings(server.url)
        try:
            yield client
        finally:
            client.close()


def _memory_patch(limit: str) -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "ledger", "resources": {"limits": {"memory": limit}}}]}
            }
        }
    }


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.02)


def test_reads_return_the_api_json(kube: KubeClient) -> None:
    deployment = kube.read_object(LEDGER)
    assert deployment["kind"] == "Deployment"
    assert deployment["metadata"]["generation"] == 7
    assert deployment["status"]["observedGeneration"] == 7
    pod = kube.read_object(ResourceRef(namespace="payments", kind="Pod", name="ledger-5c6b7d8f9-b7xkq"))
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert [rs["metadata"]["name"] for rs in kube.list_replicasets("payments", SELECTOR)] == [
        "ledger-5c6b7d8f9"
    ]
    assert len(kube.list_pods("payments", SELECTOR)) == 2
    assert kube.list_pods("payments", {"app.kubernetes.io/name": "other"}) == []


def test_missing_object_is_kube_not_found(kube: KubeClient) -> None:
    with pytest.raises(KubeNotFound) as caught:
        kube.read_object(ResourceRef(namespace="payments", kind="Deployment", name="nope"))
    assert caught.value.status == 404
    assert "not found" in caught.value.message


def test_events_are_selected_by_involved_object(kube: KubeClient) -> None:
    pod_events = kube.list_events("payments", "Pod", "ledger-5c6b7d8f9-b7xkq")
    assert [e["reason"] for e in pod_events] == ["BackOff"]
    assert kube.list_events("payments", "Pod", "ledger-5c6b7d8f9-w2nzd") == []
    node_events = kube.list_events("", "Node", "node-b")
    assert [e["reason"] for e in node_events] == ["OOMKilling"]


def test_logs_and_previous_logs(kube: KubeClient) -> None:
    pod = "ledger-5c6b7d8f9-b7xkq"
    assert "Starting LedgerApplication" in (kube.read_log("payments", pod, "ledger") or "")
    previous = kube.read_log("payments", pod, "ledger", previous=True)
    assert previous is not None and "GC overhead" in previous
    assert kube.read_log("payments", pod, "ledger", previous=True, limit_bytes=20) == previous[:20]
    assert kube.read_log("payments", "ledger-5c6b7d8f9-w2nzd", "ledger", previous=True) is None
    assert kube.read_log("payments", "gone", "ledger") is None


def test_dry_run_patch_changes_nothing(kube: KubeClient) -> None:
    before = kube.read_object(LEDGER)
    result = kube.patch_object(LEDGER, _memory_patch("512Mi"), dry_run=True)
    assert result["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    after = kube.read_object(LEDGER)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_strategic_merge_by_container_name_keeps_other_fields(kube: KubeClient) -> None:
    result = kube.patch_object(LEDGER, _memory_patch("512Mi"), dry_run=False, field_manager="medic-test")
    (container,) = result["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "192Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    assert container["env"] == [{"name": "JAVA_TOOL_OPTIONS", "value": "-XX:MaxRAMPercentage=75"}]
    assert result["metadata"]["generation"] == 8


def test_field_manager_reaches_the_server(kube: KubeClient, cluster: SandboxCluster) -> None:
    kube.patch_object(LEDGER, {"metadata": {"labels": {"x": "y"}}}, dry_run=False, field_manager="medic-test")
    assert [m.manager for m in cluster.field_managers("apps/v1", "Deployment", "payments", "ledger")] == [
        "medic-test"
    ]


def test_stale_put_is_kube_conflict(kube: KubeClient) -> None:
    stale = kube.read_object(LEDGER)
    kube.patch_object(LEDGER, {"metadata": {"labels": {"x": "y"}}}, dry_run=False)
    with pytest.raises(KubeConflict) as caught:
        kube.replace_object(LEDGER, stale, dry_run=False)
    assert caught.value.status == 409
    assert "the object has been modified" in caught.value.message


def test_invalid_patch_is_kube_invalid(kube: KubeClient) -> None:
    with pytest.raises(KubeInvalid) as caught:
        kube.patch_object(LEDGER, {"spec": {"replicas": -1}}, dry_run=True)
    assert caught.value.status == 422
    assert "spec.replicas" in caught.value.message


def test_rollout_heals_when_the_limit_is_raised(kube: KubeClient) -> None:
    kube.patch_object(LEDGER, _memory_patch("512Mi"), dry_run=False)
    live = kube.read_object(LEDGER)
    check = rollout_check(LEDGER, live, kube.list_pods("payments", SELECTOR), -1)
    assert check.done and check.healthy, check.reason
    check = rollout_check(
        LEDGER, kube.read_object(LEDGER), kube.list_pods("payments", SELECTOR), check.restarts
    )
    assert check.healthy


def test_rollout_stays_unhealthy_when_the_limit_is_too_low(kube: KubeClient) -> None:
    kube.patch_object(LEDGER, _memory_patch("300Mi"), dry_run=False)
    first = rollout_check(LEDGER, kube.read_object(LEDGER), kube.list_pods("payments", SELECTOR), -1)
    second = rollout_check(
        LEDGER, kube.read_object(LEDGER), kube.list_pods("payments", SELECTOR), first.restarts
    )
    assert not first.healthy and not second.healthy
    assert second.restarts > first.restarts
    assert "restarts increased" in second.reason


def test_restoring_the_snapshot_by_put_returns_the_seed_state(kube: KubeClient) -> None:
    seed = kube.read_object(LEDGER)
    kube.patch_object(LEDGER, _memory_patch("300Mi"), dry_run=False)
    live = kube.read_object(LEDGER)
    restored = kube.replace_object(LEDGER, dict(live, spec=seed["spec"]), dry_run=False)
    assert restored["metadata"]["generation"] == 9
    after = kube.read_object(LEDGER)
    assert after["status"]["observedGeneration"] == 9
    names = sorted(p["metadata"]["name"] for p in kube.list_pods("payments", SELECTOR))
    assert names == ["ledger-5c6b7d8f9-b7xkq", "ledger-5c6b7d8f9-w2nzd"]


def test_write_delay_holds_the_answer_after_applying(cluster: SandboxCluster, kube: KubeClient) -> None:
    cluster.set_write_delay(1.0)
    finished = threading.Event()

    def patch() -> None:
        kube.patch_object(LEDGER, _memory_patch("512Mi"), dry_run=False)
        finished.set()

    worker = threading.Thread(target=patch, daemon=True)
    worker.start()
    _wait_for(
        lambda: (
            (cluster.peek("apps/v1", "Deployment", "payments", "ledger") or {})["metadata"]["generation"] == 8
        )
    )
    assert not finished.is_set(), "the answer should still be held back"
    worker.join(timeout=10)
    assert finished.is_set()


def test_unreachable_api_is_kube_unavailable() -> None:
    server = SandboxServer(SandboxCluster(load_named("oom-helm-values")))
    url = server.start()
    server.stop()
    client = KubeClient.from_settings(url, timeout=(1.0, 1.0))
    try:
        with pytest.raises(KubeUnavailable):
            client.read_object(LEDGER)
    finally:
        client.close()


def test_command_line_serves_a_scenario_until_stopped() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.server", str(scenario_path("oom-helm-values")), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = KubeClient.from_settings(url)
        try:
            assert client.read_object(LEDGER)["metadata"]["name"] == "ledger"
        finally:
            client.close()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_namespaces_and_discovery_answer(cluster: SandboxCluster) -> None:
    with SandboxServer(cluster) as server:
        with urllib.request.urlopen(f"{server.url}/api/v1/namespaces/payments", timeout=5) as response:
            assert json.load(response)["metadata"]["name"] == "payments"
        with urllib.request.urlopen(f"{server.url}/apis", timeout=5) as response:
            assert [g["name"] for g in json.load(response)["groups"]] == ["apps", "batch", "storage.k8s.io"]
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{server.url}/api/v1/namespaces/nope", timeout=5)
        status = json.load(caught.value)
        caught.value.close()
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 404, "NotFound")


def _review(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_self_subject_access_reviews_answer_in_the_api_servers_shape(cluster: SandboxCluster) -> None:
    denied = [("patch", "apps", "deployments"), ("get", "", "pods/log")]
    spec = {"resourceAttributes": {"verb": "get", "group": "", "resource": "pods", "subresource": "log"}}
    with SandboxServer(cluster, denied=denied) as server:
        status, answer = _review(
            server.url,
            {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "spec": spec},
        )
        assert status == 201
        assert answer["kind"] == "SelfSubjectAccessReview" and answer["spec"] == spec
        assert answer["status"]["allowed"] is False
        kube = KubeClient.from_settings(server.url)
        try:
            assert kube.access_allowed("patch", "apps", "deployments")[0] is False
            assert kube.access_allowed("update", "apps", "deployments")[0] is True
            assert kube.access_allowed("get", "", "pods")[0] is True
        finally:
            kube.close()
        status, refused = _review(server.url, {"kind": "SelfSubjectAccessReview", "spec": {}})
        assert status == 422 and refused["kind"] == "Status" and refused["reason"] == "Invalid"
