"""Argo CD's own alerts and meta alerts, read from their labels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.analysis.rules.meta import meta_alert_diagnosis
from domain.incident.alert_kinds import argocd_alert, argocd_alerts, meta_alert_reason
from domain.incident.alerts import Alert
from domain.incident.model import Incident, targets_from_alerts

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def alert(labels: dict[str, str], generator: str = "") -> Alert:
    return Alert(
        status="firing",
        labels=labels,
        startsAt=T0,
        endsAt=T0,
        generatorURL=generator,
        fingerprint="f" + str(abs(hash(tuple(sorted(labels.items())))))[:12],
    )


# The raw argocd_app_info series as the Prometheus Operator scrapes it: the scrape's namespace is
# Argo CD's, the Application's own namespace label was renamed exported_namespace, and the
# controller's pod and container labels ride along.
RAW_OUT_OF_SYNC = {
    "alertname": "ArgocdServiceNotSynced",
    "container": "application-controller",
    "dest_namespace": "payments",
    "dest_server": "https://kubernetes.default.svc",
    "exported_namespace": "apps-team",
    "health_status": "Healthy",
    "job": "argocd-metrics",
    "name": "payments-gateway",
    "namespace": "argocd",
    "pod": "argocd-application-controller-0",
    "project": "payments",
    "sync_status": "OutOfSync",
}


def test_exported_namespace_is_the_applications_and_the_controller_pod_is_no_target() -> None:
    raw = alert(RAW_OUT_OF_SYNC)
    ref = argocd_alert(raw)
    assert ref is not None
    assert (ref.application, ref.app_namespace, ref.kind) == ("payments-gateway", "apps-team", "out_of_sync")
    assert (ref.project, ref.dest_namespace) == ("payments", "payments")
    # Without the Argo CD rule the pod label would make argocd/argocd-application-controller-0 the target.
    assert targets_from_alerts([raw]) == []


def test_namespace_label_is_used_when_no_exported_namespace() -> None:
    labels = {k: v for k, v in RAW_OUT_OF_SYNC.items() if k != "exported_namespace"}
    ref = argocd_alert(alert(labels))
    assert ref is not None and ref.app_namespace == "argocd"


def test_aggregated_alert_without_namespace_or_dest_namespace() -> None:
    # sum(...) by (job, dest_server, project, name, sync_status): no namespace labels at all.
    ref = argocd_alert(
        alert(
            {
                "alertname": "ArgoCdAppOutOfSync",
                "dest_server": "https://kubernetes.default.svc",
                "job": "argocd-metrics",
                "name": "storefront-web",
                "project": "storefront",
                "sync_status": "OutOfSync",
            }
        )
    )
    assert ref is not None
    assert (ref.application, ref.app_namespace, ref.dest_namespace, ref.kind) == (
        "storefront-web",
        "",
        "",
        "out_of_sync",
    )


@pytest.mark.parametrize(
    ("labels", "kind"),
    [
        ({"alertname": "ArgoCdAppSyncFailed", "phase": "Failed", "project": "p"}, "sync_failed"),
        ({"alertname": "ArgoAppSyncError", "phase": "Error", "dest_server": "s"}, "sync_failed"),
        ({"alertname": "ArgoCdAppUnhealthy", "health_status": "Degraded", "dest_server": "s"}, "unhealthy"),
        ({"alertname": "ArgoApplicationMissing", "health_status": "Missing", "project": "p"}, "unhealthy"),
        ({"alertname": "ArgoCdAppAutoSyncDisabled", "dest_server": "s", "project": "p"}, "other"),
    ],
)
def test_kind_from_labels_and_name(labels: dict[str, str], kind: str) -> None:
    ref = argocd_alert(alert({"name": "shop", **labels}))
    assert ref is not None and ref.kind == kind


def test_sync_total_expression_marks_an_alert_argo_even_with_few_labels() -> None:
    generator = (
        "http://prom:9090/graph?g0.expr=increase%28argocd_app_sync_total%7Bphase%21%3D%22Succeeded%22%7D"
    )
    plain = alert({"alertname": "AppSyncProblems", "name": "shop", "phase": "Failed"}, generator)
    assert argocd_alert(plain) is not None
    # The same labels without any Argo CD hint are not an Argo CD alert.
    assert argocd_alert(alert({"alertname": "AppSyncProblems", "name": "shop", "phase": "Failed"})) is None


def test_other_alerts_are_not_argo_cd_alerts_and_keep_their_targets() -> None:
    crash = alert(
        {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-5c6b7d8f9-abcde", "name": "x"}
    )
    assert argocd_alert(crash) is None
    assert [t.key for t in targets_from_alerts([crash])] == ["shop/Pod/cart-5c6b7d8f9-abcde"]


def test_labels_that_are_not_kubernetes_names_are_ignored() -> None:
    assert argocd_alert(alert({**RAW_OUT_OF_SYNC, "name": "../../etc"})) is None
    ref = argocd_alert(alert({**RAW_OUT_OF_SYNC, "exported_namespace": "Bad Namespace!"}))
    assert ref is not None and ref.app_namespace == "argocd"


def test_one_entry_per_application_and_a_failed_sync_wins() -> None:
    out = alert(RAW_OUT_OF_SYNC)
    failed = alert({**RAW_OUT_OF_SYNC, "alertname": "ArgoCdAppSyncFailed", "phase": "Failed"})
    refs = argocd_alerts([out, failed])
    assert [(r.application, r.kind) for r in refs] == [("payments-gateway", "sync_failed")]


@pytest.mark.parametrize(
    "labels",
    [
        {"alertname": "Watchdog", "severity": "none", "prometheus": "monitoring/k8s"},
        {"alertname": "DeadMansSwitch", "severity": "none"},
        {"alertname": "InfoInhibitor", "namespace": "media", "severity": "none"},
        {"alertname": "PrometheusWatchdogHeartbeat", "severity": "none"},
    ],
)
def test_meta_alerts_end_with_nothing_to_fix(labels: dict[str, str]) -> None:
    meta = alert(labels)
    assert meta_alert_reason(meta) is not None
    diagnosis = meta_alert_diagnosis(Incident(id="i", alerts=[meta]))
    assert diagnosis is not None
    assert diagnosis.root_cause == "none" and diagnosis.plan.actions == []
    assert "nothing to fix" in diagnosis.summary and diagnosis.next_steps


def test_watchdog_reason_says_it_is_the_heartbeat() -> None:
    diagnosis = meta_alert_diagnosis(Incident(id="i", alerts=[alert({"alertname": "Watchdog"})]))
    assert diagnosis is not None
    assert diagnosis.summary.startswith("Watchdog is the always-firing heartbeat of the alerting pipeline")


@pytest.mark.parametrize(
    "labels",
    [
        {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "p", "severity": "warning"},
        # A real fault whose name merely contains a meta word, with a severity: not a meta alert.
        {"alertname": "NodeHeartbeatMissing", "severity": "critical"},
    ],
)
def test_real_alerts_are_not_meta_alerts(labels: dict[str, str]) -> None:
    assert meta_alert_reason(alert(labels)) is None


def test_a_group_mixing_a_meta_alert_with_a_real_one_is_an_incident() -> None:
    mixed = [alert({"alertname": "Watchdog"}), alert({"alertname": "KubePodCrashLooping", "namespace": "a"})]
    assert meta_alert_diagnosis(Incident(id="i", alerts=mixed)) is None
