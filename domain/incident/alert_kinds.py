"""Alerts that are not about a pod or a workload: Argo CD's own alerts, and meta alerts. Pure.

**Argo CD's alerts** (the Argo CD monitoring mixin and the common alert collections) are written
over `argocd_app_info` (labels `name`, `namespace`, `project`, `dest_server`, `dest_namespace`,
`sync_status`, `health_status`, `repo`) and `argocd_app_sync_total` (`name`, `namespace`,
`project`, `dest_server`, `phase`). The alert names an Application, not a pod: its `name` label is
the Application, and its `namespace` label is the Application's namespace *or*, after Prometheus
renamed a clash with the scrape target's own `namespace` label, the namespace Argo CD's metrics
service runs in — the Application's own is then `exported_namespace`. Neither is ever the
namespace of the Application's workloads: those come from the Application's `status.resources`.
The series also carry the scrape target's `pod`, `container`, `service` and `job` labels (Argo
CD's application controller), which must not be read as the incident's target.

**Meta alerts** are not incidents: `Watchdog` (kube-prometheus; `DeadMansSwitch` in older rule
sets) fires all the time so that a dead man's switch outside the cluster notices when the alerting
pipeline stops; `InfoInhibitor` fires only to inhibit `severity=info` alerts. Both end with
nothing to fix.

Labels are untrusted text: a value that is not a valid Kubernetes name is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

from domain.base import Frozen
from domain.incident.alerts import Alert

ArgoAlertKind = Literal["out_of_sync", "unhealthy", "sync_failed", "other"]

_SAFE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# Labels only Argo CD's application metrics carry (beside `name`).
_ARGO_APP_LABELS = ("dest_server", "dest_namespace", "sync_status", "health_status")
_ARGO_METRICS = (
    "argocd_app_info",
    "argocd_app_sync_total",
    "argocd_app_health_status",
    "argocd_app_sync_status",
)
_HEALTHY = ("Healthy", "Progressing")
_FAILED_PHASES = ("Failed", "Error")


class ArgoAlertRef(Frozen):
    """The Argo CD Application one alert is about, as its labels name it."""

    alertname: str
    application: str
    # The Application's namespace when the labels say it for sure (exported_namespace, or a
    # namespace label beside no exported one); "" when unknown: look the Application up by name.
    app_namespace: str = ""
    project: str = ""
    dest_server: str = ""
    dest_namespace: str = ""
    kind: ArgoAlertKind = "other"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _safe(value: str | None) -> str:
    value = (value or "").strip()
    return value if _SAFE_NAME.match(value) else ""


def _mentions_argo_metric(alert: Alert) -> bool:
    text = alert.generatorURL + " " + " ".join(alert.annotations.values())
    return any(metric in text for metric in _ARGO_METRICS)


def is_argocd_alert(labels: Mapping[str, str], alert: Alert | None = None) -> bool:
    """Whether an alert is one of Argo CD's Application alerts: it names an Application (`name`)
    and carries a label only Argo CD's application metrics have, or its name or expression says
    Argo CD and it carries a `project` label."""
    if not _safe(labels.get("name")):
        return False
    if any(labels.get(label) for label in _ARGO_APP_LABELS):
        return True
    argo_named = "argo" in _norm(labels.get("alertname", ""))
    if alert is not None and _mentions_argo_metric(alert):
        argo_named = True
    return argo_named and bool(labels.get("project") or labels.get("phase"))


def _kind(labels: Mapping[str, str]) -> ArgoAlertKind:
    name = _norm(labels.get("alertname", ""))
    phase = labels.get("phase", "")
    if phase in _FAILED_PHASES or any(w in name for w in ("syncfail", "syncerror", "failedsync")):
        return "sync_failed"
    sync = labels.get("sync_status", "")
    if sync == "OutOfSync" or any(w in name for w in ("outofsync", "notsynced", "unsynced")):
        return "out_of_sync"
    health = labels.get("health_status", "")
    if (health and health not in _HEALTHY) or any(
        w in name for w in ("unhealthy", "degraded", "health", "missing")
    ):
        return "unhealthy"
    return "other"


def argocd_alert(alert: Alert) -> ArgoAlertRef | None:
    """The Application an Argo CD alert is about, or None for any other alert."""
    labels = alert.labels
    if not is_argocd_alert(labels, alert):
        return None
    exported = _safe(labels.get("exported_namespace"))
    # Without an exported_namespace the namespace label may be the Application's (honor_labels)
    # or the scrape target's; both are usually Argo CD's own namespace, and a lookup that misses
    # falls back to the name alone.
    app_namespace = exported or _safe(labels.get("namespace"))
    return ArgoAlertRef(
        alertname=labels.get("alertname", ""),
        application=_safe(labels.get("name")),
        app_namespace=app_namespace,
        project=_safe(labels.get("project")),
        dest_server=(labels.get("dest_server") or "")[:200],
        dest_namespace=_safe(labels.get("dest_namespace")),
        kind=_kind(labels),
    )


def argocd_alerts(alerts: Iterable[Alert], limit: int = 5) -> list[ArgoAlertRef]:
    """The Applications the alerts name, one entry per Application (the first alert's kind,
    unless a later one says the sync failed), at most `limit`."""
    found: dict[tuple[str, str], ArgoAlertRef] = {}
    for alert in alerts:
        ref = argocd_alert(alert)
        if ref is None:
            continue
        key = (ref.app_namespace, ref.application)
        if key not in found:
            if len(found) >= limit:
                continue
            found[key] = ref
        elif ref.kind == "sync_failed":
            found[key] = ref
    return list(found.values())


# --- meta alerts ---------------------------------------------------------------------------------

# Normalised names (lower case, letters and digits only) of alerts that fire by design.
_META_NAMES = {
    "watchdog": (
        "Watchdog is the always-firing heartbeat of the alerting pipeline: it fires as long as "
        "Prometheus evaluates rules and Alertmanager delivers them, so that a dead man's switch "
        "outside the cluster notices when it stops; nothing to fix."
    ),
    "deadmansswitch": (
        "DeadMansSwitch is the always-firing heartbeat of the alerting pipeline (the older name of "
        "Watchdog): its absence, not its presence, is the signal; nothing to fix."
    ),
    "infoinhibitor": (
        "InfoInhibitor is not a fault: it fires while info-level alerts fire in a namespace, only to "
        "inhibit them until a warning or critical alert joins them; nothing to fix."
    ),
}
_META_ALIASES = {
    "deadmanswitch": "deadmansswitch",
    "deadmanssnitch": "deadmansswitch",
    "alwaysfiring": "watchdog",
    "heartbeat": "watchdog",
}
_META_WORDS = ("watchdog", "deadman", "heartbeat", "inhibitor")


def meta_alert_reason(alert: Alert) -> str | None:
    """Why an alert is not an incident (it fires by design), or None for any other alert."""
    labels = alert.labels
    name = _norm(labels.get("alertname", ""))
    key = _META_ALIASES.get(name, name)
    if key in _META_NAMES:
        return _META_NAMES[key]
    severity = labels.get("severity", "").lower()
    if severity == "none" and any(w in name for w in _META_WORDS):
        shown = labels.get("alertname", "")[:80]
        return (
            f"{shown} carries severity none and is a heartbeat or inhibiting alert of the alerting "
            "pipeline, not a fault; nothing to fix."
        )
    return None


def meta_alerts_only(alerts: Iterable[Alert]) -> list[tuple[Alert, str]] | None:
    """Each alert with why it is not an incident, when every alert is a meta alert; else None."""
    out: list[tuple[Alert, str]] = []
    for alert in alerts:
        reason = meta_alert_reason(alert)
        if reason is None:
            return None
        out.append((alert, reason))
    return out or None


__all__ = [
    "ArgoAlertKind",
    "ArgoAlertRef",
    "argocd_alert",
    "argocd_alerts",
    "is_argocd_alert",
    "meta_alert_reason",
    "meta_alerts_only",
]
