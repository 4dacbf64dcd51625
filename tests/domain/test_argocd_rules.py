"""The offline analyzer on Argo CD's own alerts, on small observations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.analysis.offline import OfflineAnalyzer
from domain.analysis.plan import SyncApplication
from domain.incident.alerts import Alert
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import (
    ArgoApplication,
    ArgoFieldDiff,
    ArgoResourceDiff,
    ContainerSpec,
    Observation,
    PodState,
    Workload,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SHA = "8f3c2a17d94e0b6c5a1f2e3d4c5b6a7980f1e2d3"
REF = ResourceRef(namespace="shop", kind="Deployment", name="cart")


def incident(**labels: str) -> Incident:
    base = {
        "alertname": "ArgoCdAppOutOfSync",
        "name": "shop-cart",
        "namespace": "argocd",
        "dest_server": "https://kubernetes.default.svc",
        "project": "shop",
        "sync_status": "OutOfSync",
    }
    alert = Alert(
        status="firing", labels={**base, **labels}, startsAt=T0, endsAt=T0, fingerprint="a1b2c3d4e5f60718"
    )
    return Incident(id="incident-argo", alerts=[alert])


def app(**fields: Any) -> ArgoApplication:
    values: dict[str, Any] = {
        "id": "argocd/argocd/shop-cart",
        "name": "shop-cart",
        "project": "shop",
        "sync_status": "OutOfSync",
        "health_status": "Healthy",
        "revision": SHA,
        "operation_phase": "Succeeded",
        "operation_revision": SHA,
        "history": [{"id": 3, "revision": SHA, "deployedAt": "2026-11-20T10:00:00Z"}],
        "resources": [{"group": "apps", "kind": "Deployment", "namespace": "shop", "name": "cart"}],
        "destination_namespace": "shop",
    }
    return ArgoApplication(**{**values, **fields})


WORKLOAD = Workload(
    id="workload/shop/Deployment/cart",
    ref=REF,
    replicas=5,
    ready_replicas=5,
    containers=[ContainerSpec(name="cart", image="cart:1")],
)
POD = PodState(id="pod/shop/cart-1", name="cart-5c6b7d8f9-abcde", namespace="shop", ready=True)


def replicas_diff(kind: str = "Deployment", name: str = "cart") -> ArgoResourceDiff:
    return ArgoResourceDiff(
        id=f"argocd-diff/argocd/shop-cart/shop/{kind}/{name}",
        application="shop-cart",
        kind=kind,
        namespace="shop",
        name=name,
        fields=[ArgoFieldDiff(path="/spec/replicas", desired="2", live="5")],
    )


def analyze(observation: Observation, inc: Incident | None = None) -> Any:
    return OfflineAnalyzer().analyze(inc or incident(), observation)


def test_a_hand_scaled_workload_is_drift_synced_back_through_its_application() -> None:
    observation = Observation(
        incident_id="i", workloads=[WORKLOAD], pods=[POD], argocd=[app()], argocd_diffs=[replicas_diff()]
    )
    diagnosis = analyze(observation)
    assert diagnosis.root_cause == "drift"
    assert diagnosis.plan.actions == [SyncApplication(target=REF, mode="direct", application="shop-cart")]
    assert {e.item_id for e in diagnosis.evidence} >= {
        "argocd/argocd/shop-cart",
        "argocd-diff/argocd/shop-cart/shop/Deployment/cart",
    }
    assert "/spec/replicas Git 2, live 5" in diagnosis.summary


def test_a_diff_on_a_resource_medic_cannot_snapshot_is_left_to_a_human() -> None:
    observation = Observation(
        incident_id="i",
        workloads=[WORKLOAD],
        argocd=[app()],
        argocd_diffs=[replicas_diff(), replicas_diff(kind="ConfigMap", name="cart-config")],
    )
    diagnosis = analyze(observation)
    assert diagnosis.root_cause == "drift" and diagnosis.plan.actions == []
    assert "ConfigMap shop/cart-config" in diagnosis.explanation and diagnosis.next_steps


def test_out_of_sync_with_no_difference_is_explained_with_next_steps() -> None:
    observation = Observation(incident_id="i", workloads=[WORKLOAD], argocd=[app()])
    diagnosis = analyze(observation)
    assert diagnosis.root_cause == "unknown" and diagnosis.plan.actions == []
    assert "no managed resource differs from Git" in diagnosis.summary
    assert any(step.startswith("argocd app diff shop-cart") for step in diagnosis.next_steps)


def test_git_ahead_of_the_last_deployment_is_not_synced_by_medic() -> None:
    ahead = app(revision="0123456789abcdef0123456789abcdef01234567")
    observation = Observation(
        incident_id="i", workloads=[WORKLOAD], argocd=[ahead], argocd_diffs=[replicas_diff()]
    )
    diagnosis = analyze(observation)
    assert diagnosis.root_cause == "drift" and diagnosis.plan.actions == []
    assert "a new release waits for a sync" in diagnosis.summary


def test_a_failed_sync_is_a_bad_release_naming_the_revision_and_the_error() -> None:
    failed = app(
        operation_phase="Failed",
        operation_revision="0123456789abcdef0123456789abcdef01234567",
        operation_message='one or more objects failed to apply, reason: Service "cart" is invalid',
    )
    observation = Observation(incident_id="i", workloads=[WORKLOAD], argocd=[failed])
    diagnosis = analyze(observation, incident(alertname="ArgoCdAppSyncFailed", phase="Failed"))
    assert diagnosis.root_cause == "bad_release" and diagnosis.plan.actions == []
    assert 'Service "cart" is invalid' in diagnosis.summary and "0123456" in diagnosis.summary
    assert any("git revert 0123456789abcdef" in step for step in diagnosis.next_steps)


def test_an_application_synced_and_healthy_again_needs_nothing() -> None:
    observation = Observation(
        incident_id="i", workloads=[WORKLOAD], pods=[POD], argocd=[app(sync_status="Synced")]
    )
    diagnosis = analyze(observation)
    assert diagnosis.root_cause == "none" and diagnosis.plan.actions == []


def test_an_application_that_was_not_observed_is_unknown_with_next_steps() -> None:
    diagnosis = analyze(Observation(incident_id="i", notes=["Argo CD could not be read"]))
    assert diagnosis.root_cause == "unknown" and diagnosis.next_steps
    assert "shop-cart" in diagnosis.summary


def test_other_alerts_are_not_touched_by_the_argo_cd_rules() -> None:
    crash = Incident(
        id="i",
        alerts=[
            Alert(
                status="firing",
                labels={"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-1"},
                startsAt=T0,
                endsAt=T0,
                fingerprint="0f1e2d3c4b5a6978",
            )
        ],
    )
    observation = Observation(
        incident_id="i", workloads=[WORKLOAD], argocd=[app()], argocd_diffs=[replicas_diff()]
    )
    assert analyze(observation, crash).plan.actions == []
    assert analyze(observation, crash).root_cause != "drift"


def test_workloads_argo_cd_lists_out_of_sync_are_synced_when_no_field_diff_was_read() -> None:
    listed = app(
        resources=[
            {
                "group": "apps",
                "kind": "Deployment",
                "namespace": "shop",
                "name": "cart",
                "status": "OutOfSync",
            }
        ]
    )
    observation = Observation(incident_id="i", workloads=[WORKLOAD], argocd=[listed])
    diagnosis = analyze(observation)
    assert diagnosis.root_cause == "drift"
    assert diagnosis.plan.actions == [SyncApplication(target=REF, mode="direct", application="shop-cart")]


def test_without_history_the_last_successful_sync_says_whether_git_moved() -> None:
    ahead = app(history=[], operation_revision="0123456789abcdef0123456789abcdef01234567")
    observation = Observation(
        incident_id="i", workloads=[WORKLOAD], argocd=[ahead], argocd_diffs=[replicas_diff()]
    )
    diagnosis = analyze(observation)
    assert diagnosis.plan.actions == [] and "a new release waits for a sync" in diagnosis.summary


def test_a_sync_error_condition_is_a_failed_sync_even_without_an_operation_state() -> None:
    failing = app(
        operation_phase="",
        operation_revision="",
        conditions=[
            "SyncError: Failed sync attempt to 0123456: one or more objects failed to apply, reason: x"
        ],
    )
    observation = Observation(incident_id="i", workloads=[WORKLOAD], argocd=[failing])
    diagnosis = analyze(observation, incident(alertname="ArgoCdAppSyncFailed", phase="Error"))
    assert diagnosis.root_cause == "bad_release" and diagnosis.plan.actions == []
    assert "one or more objects failed to apply" in diagnosis.summary and diagnosis.next_steps


def test_a_sync_failed_alert_after_a_later_successful_sync_needs_nothing() -> None:
    healed = app(sync_status="Synced")
    observation = Observation(incident_id="i", workloads=[WORKLOAD], pods=[POD], argocd=[healed])
    diagnosis = analyze(observation, incident(alertname="ArgoCdAppSyncFailed", phase="Failed"))
    assert diagnosis.root_cause == "none"


def test_a_resource_missing_from_the_cluster_counts_only_when_argo_cd_lists_it_out_of_sync() -> None:
    missing = ArgoResourceDiff(
        id="argocd-diff/argocd/shop-cart/shop/Service/cart",
        application="shop-cart",
        kind="Service",
        namespace="shop",
        name="cart",
        live_missing=True,
    )
    unlisted = Observation(
        incident_id="i", workloads=[WORKLOAD], argocd=[app()], argocd_diffs=[replicas_diff(), missing]
    )
    assert [a.kind for a in analyze(unlisted).plan.actions] == ["sync_application"]
    entry = {"group": "", "kind": "Service", "namespace": "shop", "name": "cart", "status": "OutOfSync"}
    listed = unlisted.model_copy(update={"argocd": [app(resources=[*app().resources, entry])]})
    diagnosis = analyze(listed)
    assert diagnosis.plan.actions == [] and "Service shop/cart" in diagnosis.explanation


def test_an_unhealthy_alert_on_an_application_changed_by_hand_is_synced_back() -> None:
    image = ArgoResourceDiff(
        id="argocd-diff/argocd/shop-cart/shop/Deployment/cart",
        application="shop-cart",
        kind="Deployment",
        namespace="shop",
        name="cart",
        fields=[
            ArgoFieldDiff(
                path="/spec/template/spec/containers/0/image", desired="cart:1", live="cart:1-debug"
            )
        ],
    )
    degraded = app(health_status="Degraded")
    observation = Observation(incident_id="i", workloads=[WORKLOAD], argocd=[degraded], argocd_diffs=[image])
    unhealthy = incident(alertname="ArgoCdAppUnhealthy", health_status="Degraded", sync_status="")
    diagnosis = analyze(observation, unhealthy)
    assert diagnosis.root_cause == "drift"
    assert [a.kind for a in diagnosis.plan.actions] == ["sync_application"]
