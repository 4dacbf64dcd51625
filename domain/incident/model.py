"""Incidents and the Kubernetes objects they are about."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field

from domain.base import Frozen
from domain.deploy.model import DeployRegression
from domain.drift.model import AppDrift
from domain.incident.alert_kinds import is_argocd_alert
from domain.incident.alerts import Alert, AlertGroup
from domain.intent.model import IntentRequest

IncidentSource = Literal["alert", "drift", "intent", "deploy"]
# Workloads with a pod template: what medic observes, snapshots and restores.
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})


# `observed`: the namespace is in observe mode; the diagnosis and the change a fix would make
# were recorded, and nothing was changed.
Outcome = Literal[
    "resolved", "rolled_back", "rejected", "expired", "needs_review", "no_action", "observed", "failed"
]


OUTCOMES: tuple[str, ...] = (
    "resolved",
    "rolled_back",
    "rejected",
    "expired",
    "needs_review",
    "no_action",
    "observed",
    "failed",
)


class ResourceRef(Frozen):
    """A namespaced Kubernetes object, optionally narrowed to one container of it."""

    namespace: str
    kind: str
    name: str
    container: str | None = None

    @property
    def key(self) -> str:
        """`namespace/Kind/name` — the object, without the container."""
        return f"{self.namespace}/{self.kind}/{self.name}"

    def without_container(self) -> ResourceRef:
        return ResourceRef(namespace=self.namespace, kind=self.kind, name=self.name)


class Incident(Frozen):
    id: str
    source: IncidentSource = "alert"
    title: str = ""
    alerts: list[Alert] = Field(default_factory=list)
    group: AlertGroup | None = None
    # Targets as the alert names them; observe resolves a pod to its owning workload.
    targets: list[ResourceRef] = Field(default_factory=list)
    created_at: datetime | None = None
    # source `drift`: the Application's drift as the scan found it (the latest scan's, by signal).
    drift: AppDrift | None = None
    # source `deploy`: the deploy its watch judged degraded; the plan reverts its commits.
    deploy: DeployRegression | None = None
    # source `intent`: the request for a change — who asked, through what, in which words, and the
    # typed change read from them; the plan is that change (`domain.intent.plan`).
    intent: IntentRequest | None = None


# Alert labels that name a workload directly, in the order they are trusted.
_WORKLOAD_LABELS = (
    ("deployment", "Deployment"),
    ("statefulset", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    # kube-state-metrics' Job series (kube_job_failed, kube_job_status_*): `job` is the scrape job,
    # and a `pod` label there is kube-state-metrics' own pod, so the Job's name comes first.
    ("job_name", "Job"),
    ("pod", "Pod"),
)
_SAFE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def targets_from_alerts(alerts: list[Alert]) -> list[ResourceRef]:
    """The objects the alerts point at, from their labels (kube-state-metrics conventions).

    Labels are untrusted text: a value that is not a valid Kubernetes name is ignored. An Argo CD
    Application alert names no target here: its `pod` and `namespace` labels are Argo CD's own
    controller's, and observe resolves the Application's resources instead.
    """
    seen: dict[str, ResourceRef] = {}
    for alert in alerts:
        labels = alert.labels
        if is_argocd_alert(labels, alert):
            continue
        namespace = labels.get("namespace", "")
        if not _SAFE_NAME.match(namespace):
            continue
        container = labels.get("container") or None
        if container is not None and not _SAFE_NAME.match(container):
            container = None
        for label, kind in _WORKLOAD_LABELS:
            name = labels.get(label, "")
            if name and _SAFE_NAME.match(name):
                ref = ResourceRef(namespace=namespace, kind=kind, name=name, container=container)
                seen.setdefault(f"{ref.key}/{container}", ref)
                break
    return list(seen.values())


def incident_from_group(workflow_id: str, group: AlertGroup) -> Incident:
    title = group.commonAnnotations.get("summary") or group.groupLabels.get("alertname") or "alert"
    scope = group.groupLabels.get("namespace")
    if scope:
        title = f"{title} ({scope})"
    return Incident(
        id=workflow_id,
        source="alert",
        title=title,
        alerts=list(group.alerts),
        group=group,
        targets=targets_from_alerts(list(group.alerts)),
    )
