"""Actions → strategic merge patches, idempotence checks and snapshot restores (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.analysis.plan import Restart, RollbackRevision, Scale, SetImage, SetResources, SyncApplication
from domain.incident.model import ResourceRef
from domain.kube.patches import (
    INCIDENT_ANNOTATION,
    PLAN_HASH_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    PatchError,
    is_applied,
    patch_for_action,
    restart_stamp,
    restore_body,
)
from sandbox.cluster import strategic_merge

TARGET = ResourceRef(namespace="shop", kind="Deployment", name="checkout", container="checkout")


def _live() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"app": "checkout"},
            "annotations": {"deployment.kubernetes.io/revision": "12"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {
                    "containers": [
                        {
                            "name": "checkout",
                            "image": "shop/checkout:1.14.0",
                            "args": ["--config=/etc/c.yaml"],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                        },
                        {"name": "proxy", "image": "envoy:1.30"},
                    ]
                },
            },
        },
        "status": {"observedGeneration": 3},
    }


def _revisions() -> list[dict[str, Any]]:
    def replicaset(revision: int, image: str, pod_hash: str) -> dict[str, Any]:
        return {
            "metadata": {
                "name": f"checkout-{pod_hash}",
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            },
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "checkout", "pod-template-hash": pod_hash}},
                    "spec": {"containers": [{"name": "checkout", "image": image}]},
                }
            },
        }

    return [
        replicaset(11, "shop/checkout:1.13.2", "577f48fc94"),
        replicaset(12, "shop/checkout:1.14.0", "7d9f8b6c5"),
    ]


def _apply(
    action: Any, live: dict[str, Any], revisions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return strategic_merge(live, patch_for_action(action, live, "inc-1", "hash-1", revisions))


def test_every_patch_tags_the_object_with_incident_and_plan_hash() -> None:
    patch = patch_for_action(Scale(target=TARGET, replicas=4), _live(), "inc-1", "hash-1")
    assert patch["metadata"]["annotations"] == {INCIDENT_ANNOTATION: "inc-1", PLAN_HASH_ANNOTATION: "hash-1"}


def test_set_resources_patches_only_the_named_container() -> None:
    action = SetResources(target=TARGET, limits={"memory": "768Mi"})
    patch = patch_for_action(action, _live(), "inc-1", "hash-1")
    assert patch["spec"] == {
        "template": {
            "spec": {"containers": [{"name": "checkout", "resources": {"limits": {"memory": "768Mi"}}}]}
        }
    }
    after = _apply(action, _live())
    checkout, proxy = after["spec"]["template"]["spec"]["containers"]
    assert checkout["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "768Mi"},
    }
    assert checkout["args"] == ["--config=/etc/c.yaml"] and proxy == {"name": "proxy", "image": "envoy:1.30"}


def test_set_image_and_scale() -> None:
    after = _apply(SetImage(target=TARGET, image="shop/checkout:1.13.2"), _live())
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/checkout:1.13.2"
    assert _apply(Scale(target=TARGET, replicas=5), _live())["spec"]["replicas"] == 5


def test_restart_stamp_comes_from_the_incident_not_the_clock() -> None:
    first = patch_for_action(Restart(target=TARGET), _live(), "inc-1", "hash-1")
    second = patch_for_action(Restart(target=TARGET), _live(), "inc-1", "hash-1")
    assert first == second
    stamp = first["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT_ANNOTATION]
    assert stamp == restart_stamp("inc-1") != restart_stamp("inc-2")


def test_rollback_replaces_the_template_with_the_revision_without_its_hash_label() -> None:
    action = RollbackRevision(target=TARGET, revision=11)
    patch = patch_for_action(action, _live(), "inc-1", "hash-1", _revisions())
    assert patch["spec"]["template"]["$patch"] == "replace"
    after = _apply(action, _live(), _revisions())
    assert after["spec"]["template"] == {
        "metadata": {"labels": {"app": "checkout"}},
        "spec": {"containers": [{"name": "checkout", "image": "shop/checkout:1.13.2"}]},
    }


@pytest.mark.parametrize(
    ("action", "revisions", "message"),
    [
        (
            SetImage(target=TARGET.model_copy(update={"container": "web"}), image="x:1"),
            None,
            "container 'web' not found",
        ),
        (
            SetImage(target=TARGET.model_copy(update={"container": None}), image="x:1"),
            None,
            "must name a container",
        ),
        (RollbackRevision(target=TARGET, revision=3), _revisions(), "revision 3 is unknown"),
        (RollbackRevision(target=TARGET, revision=11), None, "needs the workload's ReplicaSets"),
        (SyncApplication(target=TARGET, application="shop-checkout"), None, "Argo CD"),
        (SetResources(target=TARGET, limits={"memory": "lots"}), None, "not a Kubernetes quantity"),
        (
            Scale(target=TARGET.model_copy(update={"kind": "StatefulSet"}), replicas=2),
            None,
            "targets a StatefulSet",
        ),
    ],
)
def test_actions_that_do_not_fit_raise_patch_error(action: Any, revisions: Any, message: str) -> None:
    with pytest.raises(PatchError, match=message):
        patch_for_action(action, _live(), "inc-1", "hash-1", revisions)


def test_patch_error_is_a_value_error() -> None:
    assert issubclass(PatchError, ValueError)


@pytest.mark.parametrize(
    "action",
    [
        SetResources(target=TARGET, limits={"memory": "768Mi"}, requests={"cpu": "500m"}),
        SetImage(target=TARGET, image="shop/checkout:1.13.2"),
        Scale(target=TARGET, replicas=5),
        Restart(target=TARGET),
        RollbackRevision(target=TARGET, revision=11),
    ],
)
def test_is_applied_after_applying_and_not_before(action: Any) -> None:
    live = _live()
    assert not is_applied(action, live, "inc-1", "hash-1", _revisions())
    after = _apply(action, live, _revisions())
    assert is_applied(action, after, "inc-1", "hash-1", _revisions())
    assert not is_applied(action, after, "inc-1", "other-hash", _revisions())
    assert not is_applied(action, after, "inc-2", "hash-1", _revisions())


def test_is_applied_compares_quantities_not_spelling() -> None:
    action = SetResources(target=TARGET, limits={"memory": "1Gi"})
    after = _apply(action, _live())
    after["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1024Mi"
    assert is_applied(action, after, "inc-1", "hash-1")


def test_is_applied_sees_a_later_change_by_someone_else() -> None:
    action = SetImage(target=TARGET, image="shop/checkout:1.13.2")
    after = _apply(action, _live())
    after["spec"]["template"]["spec"]["containers"][0]["image"] = "shop/checkout:1.15.0"
    assert not is_applied(action, after, "inc-1", "hash-1")


def test_restore_body_puts_back_spec_labels_and_annotations_exactly() -> None:
    snapshot = copy.deepcopy(_live())
    content = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "labels": snapshot["metadata"]["labels"],
            "annotations": snapshot["metadata"]["annotations"],
        },
        "spec": snapshot["spec"],
    }
    live = _apply(SetResources(target=TARGET, limits={"memory": "768Mi"}), _live())
    live["metadata"]["resourceVersion"] = "57"
    live["metadata"]["labels"]["added"] = "later"
    live["metadata"]["managedFields"] = [{"manager": "medic"}]
    body = restore_body(content, live)
    assert body["spec"] == snapshot["spec"]
    assert body["metadata"]["labels"] == {"app": "checkout"}
    assert body["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "12"}
    assert body["metadata"]["resourceVersion"] == "57"
    assert "status" not in body and "managedFields" not in body["metadata"]
    assert live["metadata"]["labels"]["added"] == "later", "the live object is not mutated"


def test_restore_body_drops_labels_the_snapshot_did_not_have() -> None:
    content = {"kind": "Deployment", "metadata": {"name": "checkout"}, "spec": _live()["spec"]}
    body = restore_body(content, _live())
    assert "labels" not in body["metadata"] and "annotations" not in body["metadata"]


def test_restore_body_refuses_a_snapshot_without_spec() -> None:
    with pytest.raises(PatchError):
        restore_body({"metadata": {}}, _live())


def test_applied_rollback_is_recognised_after_the_controller_renumbers_revisions() -> None:
    action = RollbackRevision(target=TARGET, revision=11)
    live = _live()
    after = strategic_merge(live, patch_for_action(action, live, "inc-1", "hash-1", _revisions()))
    # After the rollback the revived ReplicaSet carries the newest number; revision 11 is gone.
    renumbered = [
        {
            **rs,
            "metadata": {**rs["metadata"], "annotations": {"deployment.kubernetes.io/revision": str(13 + i)}},
        }
        for i, rs in enumerate(_revisions())
    ]
    assert is_applied(action, after, "inc-1", "hash-1", renumbered)
