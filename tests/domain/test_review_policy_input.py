"""The review policy's input: one entry per changed object, workloads in base units, findings by
reference, the cost and the namespaces touched."""

from __future__ import annotations

import json

from domain.review.changes import change_set
from domain.review.policy_input import review_policy_input
from domain.review.review import review
from tests.domain.review_manifests import Manifest, changed, cluster_role, container, deployment, pvc


def test_a_resized_and_rescaled_workload_is_described_before_and_after_in_base_units() -> None:
    before = deployment(replicas=2, cpu="250m", memory="512Mi")

    def edit(d: Manifest) -> None:
        d["spec"]["replicas"] = 4
        container(d)["image"] = "nginx:1.27"
        container(d)["resources"] = {"limits": {"cpu": "1", "memory": "1Gi"}}  # requests default to limits

    document = review_policy_input(review(change_set([before], [changed(before, edit)], "shop")))
    [entry] = document["objects"]
    assert {
        k: entry[k] for k in ("ref", "api_version", "kind", "namespace", "name", "application", "change")
    } == {
        "ref": "Deployment/shop/checkout",
        "api_version": "apps/v1",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "checkout",
        "application": "shop",
        "change": "modified",
    }
    workload = entry["workload"]
    assert workload["replicas"] == {"before": 2, "after": 4}
    assert workload["host_network"] is False
    [c] = workload["containers"]
    assert c["path"] == "spec.template.spec.containers[checkout]"
    assert c["image"] == {"before": "registry.example.com/shop/checkout:1.14.2", "after": "nginx:1.27"}
    assert (c["registry"], c["repository"]) == ("docker.io", "nginx")
    assert c["requests"] == {
        "cpu": {"before": 0.25, "after": 1.0},
        "memory": {"before": 512 * 2**20, "after": 2**30},
    }
    assert c["privileged"] is False and c["init"] is False
    assert document["namespaces"] == ["shop"]
    assert document["cost"]["monthly_delta_usd"] > 0
    assert document["cost"]["basis"].startswith("OpenCost")
    json.dumps(document)  # the engine is handed JSON


def test_added_and_deleted_objects_have_one_side_and_unchanged_ones_are_left_out() -> None:
    kept, gone = deployment("kept"), deployment("gone", namespace="legacy")
    document = review_policy_input(review(change_set([kept, gone], [kept, pvc(), cluster_role()])))
    by_ref = {o["ref"]: o for o in document["objects"]}
    assert set(by_ref) == {
        "ClusterRole/shop-reader",
        "Deployment/legacy/gone",
        "PersistentVolumeClaim/shop/uploads",
    }
    assert by_ref["ClusterRole/shop-reader"]["namespace"] == ""
    assert "workload" not in by_ref["PersistentVolumeClaim/shop/uploads"]
    deleted = by_ref["Deployment/legacy/gone"]
    assert deleted["change"] == "deleted"
    assert deleted["workload"]["replicas"] == {"before": 3, "after": None}
    [c] = deleted["workload"]["containers"]
    assert c["image"]["after"] is None and c["requests"]["cpu"] == {"before": 0.25, "after": None}
    assert document["namespaces"] == ["legacy", "shop"]


def test_findings_cite_their_object_as_a_reference_and_host_flags_are_read() -> None:
    before = deployment()

    def edit(d: Manifest) -> None:
        d["spec"]["template"]["spec"]["hostNetwork"] = True
        container(d)["securityContext"]["privileged"] = True

    document = review_policy_input(review(change_set([before], [changed(before, edit)])))
    workload = document["objects"][0]["workload"]
    assert workload["host_network"] is True and workload["containers"][0]["privileged"] is True
    privileged = next(f for f in document["findings"] if f["field"].endswith("securityContext.privileged"))
    assert privileged["object"] == "Deployment/shop/checkout"
    assert privileged["severity"] == "high" and privileged["category"] == "security"
    assert privileged["message"].startswith("Deployment shop/checkout: ")


def test_a_namespace_object_touches_the_namespace_it_is() -> None:
    namespace: Manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}
    document = review_policy_input(review(change_set([], [namespace])))
    assert document["namespaces"] == ["payments"]
    assert document["objects"][0]["ref"] == "Namespace/payments"
