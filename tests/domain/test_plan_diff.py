"""A plan as a reviewer reads it: per action, its target and a unified diff of YAML."""

from __future__ import annotations

from domain.analysis.plan import (
    Plan,
    Restart,
    RollbackRevision,
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
)
from domain.analysis.plan_diff import action_diff, plan_diffs
from domain.incident.model import ResourceRef
from domain.kube.observation import ArgoApplication, ContainerSpec, Observation, Revision, Workload
from domain.kube.patches import restart_stamp

CART = ResourceRef(namespace="shop", kind="Deployment", name="cart", container="cart")
DEPLOYMENT = CART.without_container()


def observed() -> Observation:
    return Observation(
        incident_id="inc",
        workloads=[
            Workload(
                id="workload/shop/Deployment/cart",
                ref=DEPLOYMENT,
                revision=3,
                replicas=2,
                containers=[
                    ContainerSpec(
                        name="cart",
                        image="registry.example/cart:1.14.2",
                        requests={"memory": "96Mi"},
                        limits={"cpu": "500m", "memory": "128Mi"},
                    )
                ],
            )
        ],
        revisions=[
            Revision(
                id="revision/shop/cart-3",
                name="cart-3",
                revision=3,
                containers=[ContainerSpec(name="cart", image="registry.example/cart:1.14.2")],
            ),
            Revision(
                id="revision/shop/cart-2",
                name="cart-2",
                revision=2,
                containers=[ContainerSpec(name="cart", image="registry.example/cart:1.14.1")],
            ),
        ],
        argocd=[
            ArgoApplication(
                id="argocd/argocd/shop", name="shop", sync_status="OutOfSync", health_status="Degraded"
            )
        ],
    )


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_set_resources_shows_the_current_and_proposed_limit() -> None:
    d = action_diff(0, SetResources(target=CART, limits={"memory": "256Mi"}), observed())
    assert d.target == "shop/Deployment/cart:cart" and d.kind == "set_resources" and d.mode == "direct"
    assert d.summary == "memory limit 128Mi → 256Mi"
    assert changed_lines(d.diff) == ["-            memory: 128Mi", "+            memory: 256Mi"]
    assert d.diff.startswith(
        "--- shop/Deployment/cart:cart (current)\n+++ shop/Deployment/cart:cart (proposed)\n"
    )
    # Context: the whole (small) document, so the reviewer sees what stays as it is.
    assert "             cpu: 500m" in d.diff and "             memory: 96Mi" in d.diff
    assert "containers:" in d.before and "- name: cart" in d.after


def test_a_new_request_is_an_addition() -> None:
    d = action_diff(0, SetResources(target=CART, requests={"cpu": "200m"}), observed())
    assert d.summary == "cpu request (unset) → 200m"
    assert changed_lines(d.diff) == ["+            cpu: 200m"]


def test_set_image() -> None:
    d = action_diff(0, SetImage(target=CART, image="registry.example/cart:1.14.1"), observed())
    assert changed_lines(d.diff) == [
        "-        image: registry.example/cart:1.14.2",
        "+        image: registry.example/cart:1.14.1",
    ]


def test_scale() -> None:
    d = action_diff(0, Scale(target=DEPLOYMENT, replicas=4), observed())
    assert changed_lines(d.diff) == ["-  replicas: 2", "+  replicas: 4"]
    assert d.summary == "replicas 2 → 4"


def test_restart_shows_the_stamp_the_patch_will_carry() -> None:
    d = action_diff(0, Restart(target=DEPLOYMENT), observed(), incident_id="inc.1234abcd")
    assert f"+        kubectl.kubernetes.io/restartedAt: {restart_stamp('inc.1234abcd')}" in changed_lines(
        d.diff
    )


def test_rollback_revision_diffs_the_two_revisions_templates() -> None:
    d = action_diff(0, RollbackRevision(target=DEPLOYMENT, revision=2), observed())
    assert "-        image: registry.example/cart:1.14.2" in changed_lines(d.diff)
    assert "+        image: registry.example/cart:1.14.1" in changed_lines(d.diff)
    assert d.summary == "revision 3 → 2"


def test_sync_application() -> None:
    d = action_diff(0, SyncApplication(target=DEPLOYMENT, application="shop", mode="gitops"), observed())
    assert "-sync: OutOfSync" in changed_lines(d.diff) and "+sync: Synced" in changed_lines(d.diff)


def test_an_unobserved_target_has_only_the_proposed_side() -> None:
    d = action_diff(0, SetResources(target=CART, limits={"memory": "256Mi"}), None)
    assert not d.observed and d.before == ""
    assert all(line.startswith("+") for line in changed_lines(d.diff))


def test_every_action_in_order() -> None:
    plan = Plan(
        actions=[Scale(target=DEPLOYMENT, replicas=3), SetResources(target=CART, limits={"cpu": "1"})]
    )
    assert [(d.index, d.kind) for d in plan_diffs(plan, observed())] == [(0, "scale"), (1, "set_resources")]
    assert plan_diffs(Plan(), observed()) == []
