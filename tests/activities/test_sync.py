"""A drift incident's Argo CD sync on real parts: the dry-run, the sync limited to the drifted
resources and the wait for it, against the sandbox Argo CD following a real bare GitOps repository
and writing to the sandbox cluster, over loopback HTTP with the real client; `sync_progress` on
hand-built Applications."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import heartbeat
from activities.sync import ArgoSyncActivities, sync_progress
from domain.steps.gitops import GitOpsApplication
from domain.steps.sync import SyncInput, SyncProgress, SyncTarget
from integrations.argocd import ArgoClient
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from tests.activities.drift.test_scan import APPS, TOKEN, Estate, scenario

# Requests a sync operation stays Running before it runs: enough for a retry to meet it running.
SYNC_READS = 3
# Reads before a sync is over: SYNC_READS, the rollout it starts, and some slack.
MAX_POLLS = SYNC_READS + 5

CART = SyncTarget(group="apps", kind="Deployment", namespace="shop", name="cart")
WEB = SyncTarget(group="apps", kind="Deployment", namespace="shop", name="web")

# A second resource of shop-cart, drifted too, that the sync is not asked to touch.
SETTINGS_MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata: {name: cart-settings, namespace: shop}
data: {currency: EUR}
"""
SETTINGS_LIVE = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cart-settings", "namespace": "shop"},
    "data": {"currency": "USD"},
}


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Estate]:
    """The drift estate (shop-web, shop-cart, pay-ledger), with shop-cart also managing a drifted
    ConfigMap, and sync operations that stay Running for SYNC_READS requests."""
    world = scenario()
    world.gitops["manifests/shop/cart/settings.yaml"] = SETTINGS_MANIFEST
    world.cluster.append(SETTINGS_LIVE)
    cluster = SandboxCluster(world)
    remote = tmp_path / "gitops.git"
    seed_bare_repo(remote, world.gitops)
    with SandboxArgoCD(
        world.argocd, token=TOKEN, cluster=cluster, repo=remote, sync_reads=SYNC_READS
    ) as argocd:
        client = ArgoClient(argocd.url, TOKEN, timeout=5.0)
        try:
            yield Estate(cluster, remote, argocd, client, tmp_path)
        finally:
            client.close()


def request(*targets: SyncTarget, apps: tuple[str, ...] = ("shop-cart",)) -> SyncInput:
    return SyncInput(
        incident_id="drift-sync-test",
        applications=[GitOpsApplication(name=a, project="shop") for a in apps],
        resources=list(targets) or [CART],
    )


def replicas(estate: Estate, name: str) -> int:
    live = estate.cluster.peek(APPS, "Deployment", "shop", name)
    assert live is not None
    return int(live["spec"]["replicas"])


def settings(estate: Estate) -> dict[str, Any]:
    live = estate.cluster.peek("v1", "ConfigMap", "shop", "cart-settings")
    assert live is not None
    return dict(live["data"])


def wait_for_sync(estate: Estate, activities: ArgoSyncActivities, input: SyncInput) -> list[SyncProgress]:
    """`check_sync` as the workflow's timer loop calls it, until it is no longer waiting: every
    answer. Each read advances the sandbox Argo CD a step, so no sleep is needed."""
    seen: list[SyncProgress] = []
    for _ in range(MAX_POLLS):
        seen.append(estate.run(activities.check_sync, input))
        if seen[-1].state != "waiting":
            return seen
    pytest.fail(f"still waiting after {MAX_POLLS} reads: {seen[-1].reason}")


# --- the dry-run -----------------------------------------------------------------------------------


def test_a_scaled_deployment_dry_runs_as_one_modified_diff(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    result = estate.run(ArgoSyncActivities(estate.client).dry_run_sync, request(CART))
    assert result.ok and not result.nothing_to_do and result.problems == []
    (diff,) = result.diffs
    assert (diff["application"], diff["resource"], diff["modified"]) == (
        "shop-cart",
        "shop/Deployment/cart",
        True,
    )
    # Argo CD's own view: what is live, and what the sync will leave
    assert (diff["live"]["spec"]["replicas"], diff["predicted"]["spec"]["replicas"]) == (5, 2)
    assert replicas(estate, "cart") == 5  # a dry-run changes nothing


def test_a_dry_run_without_drift_has_nothing_to_do(estate: Estate) -> None:
    # shop-cart's ConfigMap drifted, but it is not a target: only the targets are judged
    result = estate.run(ArgoSyncActivities(estate.client).dry_run_sync, request(CART))
    assert result.nothing_to_do and not result.ok and result.problems == []
    assert [(d["resource"], d["modified"]) for d in result.diffs] == [("shop/Deployment/cart", False)]


def test_a_target_the_application_does_not_manage_is_a_problem(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    ghost = SyncTarget(group="apps", kind="Deployment", namespace="shop", name="ghost")
    result = estate.run(ArgoSyncActivities(estate.client).dry_run_sync, request(CART, ghost))
    assert not result.ok and not result.nothing_to_do
    assert result.problems == ["shop/Deployment/ghost is not managed by shop-cart"]


def test_the_dry_run_heartbeats_per_application(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    estate.scale("shop", "web", 7)
    result = estate.run(
        ArgoSyncActivities(estate.client).dry_run_sync, request(CART, WEB, apps=("shop-cart", "shop-web"))
    )
    assert result.ok
    assert [d["resource"] for d in result.diffs] == ["shop/Deployment/cart", "shop/Deployment/web"]
    assert estate.heartbeats == ["shop-cart", "shop-web"]


def test_a_slow_argo_cd_request_keeps_the_sync_heartbeating_with_its_application(
    estate: Estate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Argo CD taking several heartbeat intervals to answer the sync request: the helper's thread
    # beats meanwhile, so a dead worker is noticed but a slow Argo CD is not taken for one.
    monkeypatch.setattr(heartbeat, "HEARTBEAT_INTERVAL", 0.02)
    answer = estate.client.sync_application

    def slow_sync(*args: Any, **kwargs: Any) -> dict[str, Any]:
        time.sleep(0.3)  # the server's slowness, not a wait for a condition
        return answer(*args, **kwargs)

    monkeypatch.setattr(estate.client, "sync_application", slow_sync)
    estate.scale("shop", "cart", 5)
    started = estate.run(ArgoSyncActivities(estate.client).sync_resources, request(CART))
    assert started.applications[0].sync_requested
    assert len(estate.heartbeats) >= 3
    assert set(estate.heartbeats) == {"shop-cart"}


def test_a_running_operation_refuses_the_dry_run(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    activities = ArgoSyncActivities(estate.client)
    estate.run(activities.sync_resources, request(CART))
    result = estate.run(activities.dry_run_sync, request(CART))
    assert not result.ok and not result.nothing_to_do
    assert result.problems == ["shop-cart: an operation is running (Running)"]


# --- the sync and the wait -------------------------------------------------------------------------


def test_a_sync_puts_back_exactly_the_listed_resources(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    estate.scale("shop", "web", 7)  # another Application's drift
    activities = ArgoSyncActivities(estate.client)

    started = estate.run(activities.sync_resources, request(CART))
    (status,) = started.applications
    assert (status.name, status.sync_requested, status.operation_in_progress) == ("shop-cart", True, True)
    assert status.note == "sync of 1 resource(s) requested"
    assert estate.heartbeats == ["shop-cart"]

    progress = wait_for_sync(estate, activities, request(CART))
    assert [p.state for p in progress[:SYNC_READS]] == ["waiting"] * SYNC_READS
    assert progress[0].reason == "shop-cart: the sync is running"
    ready = progress[-1]
    assert ready.state == "ready"
    assert ready.resources == [{"resource": "shop/Deployment/cart", "sync": "Synced", "health": "Healthy"}]

    assert replicas(estate, "cart") == 2  # Git's
    assert replicas(estate, "web") == 7  # shop-web was not synced
    assert settings(estate) == {"currency": "USD"}  # nor shop-cart's ConfigMap
    app = estate.client.get_application("shop-cart")
    # Ready although the Application as a whole stays OutOfSync (its ConfigMap)
    assert app["status"]["sync"]["status"] == "OutOfSync"
    synced = app["status"]["operationState"]["syncResult"]["resources"]
    assert [(r["kind"], r["name"]) for r in synced] == [("Deployment", "cart")]
    assert ("POST", "/api/v1/applications/shop-web/sync", {}) not in estate.argocd.requests


def test_a_sync_retried_while_it_runs_waits_for_that_one(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    activities = ArgoSyncActivities(estate.client)
    estate.run(activities.sync_resources, request(CART))
    retried = estate.run(activities.sync_resources, request(CART))
    (status,) = retried.applications
    assert status.operation_in_progress
    assert status.note == "not requested: another operation is already in progress"
    assert wait_for_sync(estate, activities, request(CART))[-1].state == "ready"
    assert replicas(estate, "cart") == 2


def test_a_sync_retried_after_it_finished_changes_nothing(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    activities = ArgoSyncActivities(estate.client)
    estate.run(activities.sync_resources, request(CART))
    assert wait_for_sync(estate, activities, request(CART))[-1].state == "ready"
    before = estate.cluster.peek(APPS, "Deployment", "shop", "cart")
    assert before is not None

    again = estate.run(activities.sync_resources, request(CART))
    assert again.applications[0].note == "sync of 1 resource(s) requested"
    assert wait_for_sync(estate, activities, request(CART))[-1].state == "ready"
    after = estate.cluster.peek(APPS, "Deployment", "shop", "cart")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    result = estate.client.get_application("shop-cart")["status"]["operationState"]
    assert result["phase"] == "Succeeded"
    assert [r["message"] for r in result["syncResult"]["resources"]] == ["deployment.apps/cart unchanged"]


def test_a_sync_across_two_applications_becomes_ready(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    estate.scale("shop", "web", 7)
    activities = ArgoSyncActivities(estate.client)
    # Each target names its Application: each is synced and judged by the one managing it.
    cart = CART.model_copy(update={"application": "shop-cart"})
    web = WEB.model_copy(update={"application": "shop-web"})
    both = request(cart, web, apps=("shop-cart", "shop-web"))
    assert estate.run(activities.dry_run_sync, both).ok
    estate.run(activities.sync_resources, both)
    progress = [estate.run(activities.check_sync, both) for _ in range(MAX_POLLS)]
    assert (replicas(estate, "cart"), replicas(estate, "web")) == (2, 3)  # both synced back to Git
    assert progress[-1].state == "ready", progress[-1].reason


# --- sync_progress ---------------------------------------------------------------------------------


def resource(kind: str, name: str, sync: str, health: str = "", group: str = "apps") -> dict[str, Any]:
    entry: dict[str, Any] = {"group": group, "version": "v1", "kind": kind, "namespace": "shop", "name": name}
    entry["status"] = sync
    if health:
        entry["health"] = {"status": health}
    return entry


def app_with(
    *resources: dict[str, Any],
    sync: str = "Synced",
    operation: dict[str, Any] | None = None,
    operation_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "sync": {"status": sync, "revision": "a" * 40},
        "health": {"status": "Healthy"},
        "resources": list(resources),
    }
    if operation_state is not None:
        status["operationState"] = operation_state
    app: dict[str, Any] = {"metadata": {"name": "shop-cart", "namespace": "argocd"}, "status": status}
    if operation is not None:
        app["operation"] = operation
    return app


SYNC_OP = {"sync": {"resources": [{"group": "apps", "kind": "Deployment", "name": "cart"}]}}


def test_a_running_operation_is_waited_for() -> None:
    app = app_with(
        resource("Deployment", "cart", "OutOfSync", "Healthy"),
        operation=SYNC_OP,
        operation_state={"operation": SYNC_OP, "phase": "Running"},
    )
    assert sync_progress(app, [CART]) == SyncProgress(state="waiting", reason="the sync is running")


def test_a_requested_operation_is_waited_for() -> None:
    app = app_with(resource("Deployment", "cart", "OutOfSync", "Healthy"), operation=SYNC_OP)
    assert sync_progress(app, [CART]) == SyncProgress(state="waiting", reason="the sync is requested")


def test_a_failed_operation_fails_with_its_message() -> None:
    app = app_with(
        resource("Deployment", "cart", "OutOfSync", "Healthy"),
        operation_state={"phase": "Failed", "message": "one or more objects failed to apply"},
    )
    progress = sync_progress(app, [CART])
    assert progress.state == "failed"
    assert progress.reason == "the sync ended Failed: one or more objects failed to apply"


def test_an_out_of_sync_target_is_waited_for_by_name() -> None:
    app = app_with(resource("Deployment", "cart", "OutOfSync", "Healthy"), sync="OutOfSync")
    progress = sync_progress(app, [CART])
    assert (progress.state, progress.reason) == ("waiting", "shop/Deployment/cart is OutOfSync")
    assert progress.resources == [
        {"resource": "shop/Deployment/cart", "sync": "OutOfSync", "health": "Healthy"}
    ]


def test_a_progressing_workload_is_waited_for() -> None:
    app = app_with(resource("Deployment", "cart", "Synced", "Progressing"))
    progress = sync_progress(app, [CART])
    assert (progress.state, progress.reason) == ("waiting", "shop/Deployment/cart is Progressing")


def test_a_degraded_target_fails_the_sync() -> None:
    app = app_with(
        resource("Deployment", "cart", "Synced", "Degraded"),
        operation_state={"phase": "Succeeded", "message": "successfully synced (all tasks run)"},
    )
    progress = sync_progress(app, [CART])
    assert (progress.state, progress.reason) == ("failed", "shop/Deployment/cart is Degraded after the sync")


def test_synced_and_healthy_targets_are_ready_while_another_resource_is_out_of_sync() -> None:
    app = app_with(
        resource("Deployment", "cart", "Synced", "Healthy"),
        resource("ConfigMap", "cart-settings", "OutOfSync", group=""),
        sync="OutOfSync",
        operation_state={"phase": "Succeeded", "message": "successfully synced (all tasks run)"},
    )
    progress = sync_progress(app, [CART])
    assert progress.state == "ready"
    assert progress.resources == [{"resource": "shop/Deployment/cart", "sync": "Synced", "health": "Healthy"}]


def test_a_target_missing_from_the_status_is_waited_for() -> None:
    app = app_with(resource("Deployment", "web", "Synced", "Healthy"))
    progress = sync_progress(app, [CART])
    assert (progress.state, progress.reason) == ("waiting", "shop/Deployment/cart is Unknown")


# --- errors ----------------------------------------------------------------------------------------

ACTIVITIES = ["dry_run_sync", "sync_resources", "check_sync"]


@pytest.mark.parametrize("name", ACTIVITIES)
def test_without_argo_cd_every_activity_is_a_final_error(name: str) -> None:
    activities = ArgoSyncActivities(None)
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(getattr(activities, name), request(CART))
    assert caught.value.type == "NotConfigured" and caught.value.non_retryable


@pytest.mark.parametrize("name", ACTIVITIES)
def test_an_application_argo_cd_does_not_know_is_a_final_error(estate: Estate, name: str) -> None:
    activities = ArgoSyncActivities(estate.client)
    with pytest.raises(ApplicationError) as caught:
        estate.run(getattr(activities, name), request(CART, apps=("gone",)))
    assert caught.value.type == "ArgoNotFound" and caught.value.non_retryable
    assert "gone" in str(caught.value)


@pytest.mark.parametrize("name", ACTIVITIES)
def test_an_unavailable_argo_cd_is_retried(estate: Estate, name: str) -> None:
    estate.scale("shop", "cart", 5)
    estate.argocd.fail_next(503)
    activities = ArgoSyncActivities(estate.client)
    with pytest.raises(ApplicationError) as caught:
        estate.run(getattr(activities, name), request(CART))
    assert caught.value.type == "ArgoUnavailable" and not caught.value.non_retryable
    assert replicas(estate, "cart") == 5  # nothing was synced
