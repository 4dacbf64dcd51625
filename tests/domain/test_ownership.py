"""Which Argo CD Application owns an object: the three tracking methods, and failing closed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.kube.ownership import (
    ClaimedRead,
    Listing,
    Tracking,
    carries_tracking,
    decide_ownership,
    resource_health,
    tracking_claim,
    with_listed,
    with_tree_health,
)
from sandbox.scenario import load_named

ANNOTATION, LABEL, BOTH = (Tracking(method=m) for m in ("annotation", "label", "annotation+label"))


def _deployment(
    annotation: str = "", label: str = "", *, label_key: str = "app.kubernetes.io/instance"
) -> Any:
    meta: dict[str, Any] = {"name": "checkout", "namespace": "shop", "annotations": {}, "labels": {}}
    if annotation:
        meta["annotations"]["argocd.argoproj.io/tracking-id"] = annotation
    if label:
        meta["labels"][label_key] = label
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta}


def _app(name: str, *, lists: bool = True, namespace: str = "argocd") -> dict[str, Any]:
    resources = [
        {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "shop", "name": "checkout"}
    ]
    return {
        "metadata": {"name": name, "namespace": namespace},
        "status": {"resources": resources if lists else [], "health": {"status": "Healthy"}},
    }


MANAGED_ITEM = {"group": "apps", "kind": "Deployment", "namespace": "shop", "name": "checkout", "diff": "{}"}
TRACKED = "shop-checkout:apps/Deployment:shop/checkout"


# --- the claim each method reads -----------------------------------------------------------------


def test_annotation_tracking_reads_the_annotation_and_ignores_the_label() -> None:
    both = _deployment(TRACKED, "helm-release")
    claim = tracking_claim(both, ANNOTATION)
    assert claim is not None and (claim.application, claim.via) == ("shop-checkout", "annotation")
    assert tracking_claim(_deployment(label="shop-checkout"), ANNOTATION) is None
    assert not carries_tracking(_deployment(label="shop-checkout"), ANNOTATION)


def test_label_tracking_reads_the_label_and_ignores_the_annotation() -> None:
    claim = tracking_claim(_deployment(TRACKED, "storefront"), LABEL)
    assert claim is not None and (claim.application, claim.via) == ("storefront", "label")
    assert tracking_claim(_deployment(TRACKED), LABEL) is None


def test_annotation_and_label_reads_the_annotation_then_the_label() -> None:
    claim = tracking_claim(_deployment(TRACKED, "other"), BOTH)
    assert claim is not None and (claim.application, claim.via) == ("shop-checkout", "annotation")
    claim = tracking_claim(_deployment(label="storefront"), BOTH)
    assert claim is not None and (claim.application, claim.via) == ("storefront", "label")


def test_a_configured_instance_label_key_is_the_one_read() -> None:
    custom = Tracking(method="label", instance_label="argocd.argoproj.io/instance")
    obj = _deployment(label="payments", label_key="argocd.argoproj.io/instance")
    claim = tracking_claim(obj, custom)
    assert claim is not None and claim.application == "payments"
    assert tracking_claim(obj, LABEL) is None


def test_an_annotation_copied_from_another_object_is_no_claim() -> None:
    assert tracking_claim(_deployment("shop-checkout:apps/Deployment:shop/checkout-copy"), BOTH) is None
    assert tracking_claim(_deployment("not a tracking id"), ANNOTATION) is None


def test_an_application_outside_argocd_namespace_is_named_with_its_namespace() -> None:
    claim = tracking_claim(_deployment("team-a_checkout:apps/Deployment:shop/checkout"), ANNOTATION)
    assert claim is not None and (claim.app_namespace, claim.application) == ("team-a", "checkout")


# --- the decision --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tracking", "obj"),
    [
        (ANNOTATION, _deployment(TRACKED)),
        (LABEL, _deployment(label="shop-checkout")),
        (BOTH, _deployment(TRACKED, "shop-checkout")),
        (BOTH, _deployment(label="shop-checkout")),
    ],
    ids=["annotation", "label", "annotation+label", "annotation+label-by-label"],
)
def test_the_claimed_application_that_lists_the_object_owns_it(tracking: Tracking, obj: Any) -> None:
    app = _app("shop-checkout")
    decision, owner = decide_ownership(obj, tracking, claimed=ClaimedRead(app=app))
    assert (decision.state, decision.application, decision.listed_in) == (
        "managed",
        "shop-checkout",
        "status.resources",
    )
    assert owner is app


@pytest.mark.parametrize("tracking", [ANNOTATION, LABEL, BOTH], ids=lambda t: t.method)
def test_managed_resources_establish_ownership_when_the_status_lacks_the_object(tracking: Tracking) -> None:
    obj = _deployment(TRACKED, "shop-checkout")
    read = ClaimedRead(app=_app("shop-checkout", lists=False), managed=[MANAGED_ITEM])
    decision, owner = decide_ownership(obj, tracking, claimed=read)
    assert (decision.state, decision.listed_in) == ("managed", "managed-resources")
    assert owner is not None
    listed = with_listed(owner, obj, [MANAGED_ITEM])
    assert listed["status"]["resources"][-1] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "checkout",
        "status": "Synced",
    }


@pytest.mark.parametrize("tracking", [ANNOTATION, LABEL, BOTH], ids=lambda t: t.method)
def test_a_claimed_application_that_lists_the_object_nowhere_leaves_it_uncertain(tracking: Tracking) -> None:
    obj = _deployment(TRACKED, "shop-checkout")
    read = ClaimedRead(app=_app("shop-checkout", lists=False), managed=[])
    decision, owner = decide_ownership(obj, tracking, claimed=read, listing=Listing(apps=[]))
    assert decision.state == "uncertain" and owner is None
    assert decision.reason.endswith(
        "names Application shop-checkout, which does not list it (status or managed-resources)"
    )


def test_a_claimed_application_that_cannot_be_read_leaves_it_uncertain() -> None:
    decision, _ = decide_ownership(
        _deployment(label="shop-checkout"), LABEL, claimed=ClaimedRead(error="timed out")
    )
    assert decision.state == "uncertain"
    assert (
        decision.reason
        == "instance label names Application shop-checkout, which Argo CD could not read: timed out"
    )
    read = ClaimedRead(app=_app("shop-checkout", lists=False), managed_error="permission denied")
    decision, _ = decide_ownership(_deployment(TRACKED), ANNOTATION, claimed=read)
    assert (
        decision.state == "uncertain"
        and "managed-resources could not be read: permission denied" in decision.reason
    )


def test_an_annotation_naming_an_application_argo_cd_does_not_have_is_uncertain() -> None:
    decision, _ = decide_ownership(_deployment(TRACKED), ANNOTATION, claimed=ClaimedRead(), listing=Listing())
    assert decision.state == "uncertain"
    assert (
        decision.reason
        == "tracking-id annotation names Application shop-checkout, which Argo CD does not have"
    )


def test_a_label_naming_no_application_is_helms_and_the_listing_decides() -> None:
    obj = _deployment(label="checkout-release")
    decision, _ = decide_ownership(obj, LABEL, claimed=ClaimedRead(), listing=Listing(apps=[]))
    assert decision.state == "unmanaged"
    other = _app("shop")
    decision, owner = decide_ownership(obj, LABEL, claimed=ClaimedRead(), listing=Listing(apps=[other]))
    assert (decision.state, decision.application, owner) == ("managed", "shop", other)


def test_without_tracking_the_one_listing_application_owns_it_and_several_are_uncertain() -> None:
    obj = _deployment()
    assert decide_ownership(obj, BOTH, listing=Listing(apps=[]))[0].state == "unmanaged"
    assert decide_ownership(obj, BOTH, listing=Listing(apps=[_app("a")]))[0].application == "a"
    decision, _ = decide_ownership(obj, BOTH, listing=Listing(apps=[_app("a"), _app("b", namespace="team")]))
    assert (decision.state, decision.reason) == (
        "uncertain",
        "several Applications list it: argocd/a, team/b",
    )


def test_argo_cd_unreachable_leaves_a_tracked_object_uncertain_and_an_untracked_one_unmanaged() -> None:
    down = Listing(error="connection refused")
    decision, _ = decide_ownership(_deployment(label="shop-checkout"), BOTH, listing=down)
    assert (decision.state, decision.reason) == (
        "uncertain",
        "tracked by Argo CD, which could not be read: connection refused",
    )
    assert decide_ownership(_deployment(), BOTH, listing=down)[0].state == "unmanaged"
    # The label is not what an annotation-tracking Argo CD marks its objects with.
    assert (
        decide_ownership(_deployment(label="shop-checkout"), ANNOTATION, listing=down)[0].state == "unmanaged"
    )


def test_the_scenarios_tracked_workloads_are_owned_as_their_applications_say() -> None:
    scenario = load_named("crashloop-bad-release")
    checkout = next(
        o for o in scenario.cluster if o["kind"] == "Deployment" and o["metadata"]["name"] == "checkout"
    )
    (app,) = scenario.argocd
    decision, _ = decide_ownership(checkout, BOTH, claimed=ClaimedRead(app=app))
    assert (decision.state, decision.application) == ("managed", "shop-checkout")


# --- health from the resource tree ---------------------------------------------------------------


def test_per_resource_health_comes_from_the_resource_tree() -> None:
    tree = {
        "nodes": [
            {
                "group": "apps",
                "kind": "ReplicaSet",
                "namespace": "shop",
                "name": "checkout-1",
                "health": {"status": "Healthy"},
            },
            {
                "group": "apps",
                "kind": "Deployment",
                "namespace": "shop",
                "name": "checkout",
                "health": {"status": "Degraded", "message": "Deployment exceeded its progress deadline"},
            },
        ]
    }
    assert resource_health(tree, "apps", "Deployment", "shop", "checkout") == {
        "status": "Degraded",
        "message": "Deployment exceeded its progress deadline",
    }
    assert resource_health(tree, "", "Service", "shop", "checkout") == {}
    app = _app("shop-checkout")  # 3.x: no health in status.resources
    healthy = copy.deepcopy(app)
    assert with_tree_health(app, tree)["status"]["resources"][0]["health"]["status"] == "Degraded"
    assert app == healthy  # not changed in place
    assert with_tree_health(app, {"nodes": []})["status"]["resources"] == app["status"]["resources"]
