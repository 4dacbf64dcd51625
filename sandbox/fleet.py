"""A scenario copied into many namespaces: one sandbox cluster with thousands of distinct workloads,
each with the scenario's incident, and the alert that reports each one.

For load and capacity measurements (`bench/loop.py`): N incidents on N distinct workloads, each
healed by its own change, on one sandbox. The scenario must keep its workloads in one namespace
and need neither Argo CD nor a GitOps repository (a direct change, like `demo-oom`).
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from sandbox.scenario import HealCondition, Scenario


class FleetError(ValueError):
    """A scenario that cannot be copied into many namespaces; says why."""


def fleet_namespace(namespace: str, index: int) -> str:
    """The namespace of copy `index` (`shop` → `shop-00042`)."""
    return f"{namespace}-{index:05d}"


def scenario_namespace(scenario: Scenario) -> str:
    """The one namespace the scenario's namespaced objects are in."""
    namespaces = {
        (obj.get("metadata") or {}).get("namespace")
        for obj in scenario.cluster
        if obj.get("kind") != "Namespace" and (obj.get("metadata") or {}).get("namespace")
    }
    if len(namespaces) != 1:
        raise FleetError(
            f"scenario {scenario.name} keeps its objects in {len(namespaces)} namespaces; a fleet needs one"
        )
    if scenario.argocd or scenario.gitops:
        raise FleetError(
            f"scenario {scenario.name} needs Argo CD or a GitOps repository; a fleet copies neither"
        )
    return str(namespaces.pop())


def _uid(uid: str, namespace: str) -> str:
    digest = hashlib.sha256(f"{uid}/{namespace}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _moved(obj: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    metadata = obj.setdefault("metadata", {})
    if obj.get("kind") == "Namespace" and metadata.get("name") == source:
        metadata["name"] = target
    if metadata.get("namespace") == source:
        metadata["namespace"] = target
    if metadata.get("uid"):
        metadata["uid"] = _uid(metadata["uid"], target)
    for owner in metadata.get("ownerReferences") or []:
        if owner.get("uid"):
            owner["uid"] = _uid(owner["uid"], target)
    involved = obj.get("involvedObject")
    if isinstance(involved, dict) and involved.get("namespace") == source:
        involved["namespace"] = target
    return obj


def _moved_text(text: Any, source: str, target: str) -> Any:
    return text.replace(f"{source}/", f"{target}/") if isinstance(text, str) else text


def _moved_labels(labels: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    return {k: (target if k == "namespace" and v == source else v) for k, v in labels.items()}


def fleet_alert(alert: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    """The scenario's Alertmanager notification, about the copy in namespace `target`: its own
    alert group (group key, labels), its alerts' labels and texts naming the copy."""
    alert = copy.deepcopy(alert)
    for field in ("groupLabels", "commonLabels"):
        if isinstance(alert.get(field), dict):
            alert[field] = _moved_labels(alert[field], source, target)
    if isinstance(alert.get("commonAnnotations"), dict):
        alert["commonAnnotations"] = {
            k: _moved_text(v, source, target) for k, v in alert["commonAnnotations"].items()
        }
    alert["groupKey"] = str(alert.get("groupKey", "")).replace(
        f'namespace="{source}"', f'namespace="{target}"'
    )
    if alert["groupKey"] == "" or f'"{target}"' not in alert["groupKey"]:
        alert["groupKey"] = f"{alert['groupKey']}:{target}"
    for item in alert.get("alerts") or []:
        item["labels"] = _moved_labels(item.get("labels") or {}, source, target)
        item["annotations"] = {
            k: _moved_text(v, source, target) for k, v in (item.get("annotations") or {}).items()
        }
        if item.get("fingerprint"):
            item["fingerprint"] = hashlib.sha256(f"{item['fingerprint']}/{target}".encode()).hexdigest()[:16]
    return alert


def fleet(scenario: Scenario, count: int) -> tuple[Scenario, list[dict[str, Any]]]:
    """The scenario copied into `count` namespaces (`fleet_namespace`), as one scenario for one
    sandbox cluster, and the `count` notifications that report each copy's incident, in order."""
    if count < 1:
        raise FleetError(f"a fleet needs at least one copy, not {count}")
    source = scenario_namespace(scenario)
    cluster: list[dict[str, Any]] = []
    logs: dict[str, str] = {}
    previous_logs: dict[str, str] = {}
    heals: list[HealCondition] = []
    alerts = []
    for index in range(count):
        target = fleet_namespace(source, index)
        cluster.extend(_moved(obj, source, target) for obj in scenario.cluster)
        for into, found in ((logs, scenario.logs), (previous_logs, scenario.previous_logs)):
            for key, text in found.items():
                namespace, _, rest = key.partition("/")
                into[f"{target if namespace == source else namespace}/{rest}"] = text
        heals.extend(
            c.model_copy(update={"namespace": target}) if c.namespace == source else c
            for c in scenario.heals_when
        )
        alerts.append(fleet_alert(scenario.alert, source, target))
    copied = Scenario(
        name=f"{scenario.name}-fleet",
        summary=f"{count} copies of {scenario.name}: {scenario.summary}",
        alert=alerts[0],
        cluster=cluster,
        logs=logs,
        previous_logs=previous_logs,
        metrics=dict(scenario.metrics),
        heals_when=heals,
    )
    return copied, alerts
