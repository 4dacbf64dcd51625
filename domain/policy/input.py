"""The document the Rego policy is asked about: the plan, with current and proposed values.

The policy decides only from this input and its data file; building it is pure.
"""

from __future__ import annotations

from typing import Any

from domain.analysis.plan import (
    Plan,
    Restart,
    RollbackRevision,
    Scale,
    SetImage,
    SetResources,
    SyncApplication,
)
from domain.incident.model import Incident
from domain.kube.observation import ARGOCD_TRACKING, Observation
from domain.kube.quantity import QuantityError, parse_quantity


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(parse_quantity(text))
    except QuantityError:
        return None


def _managed_by_gitops(target: Any, workload: Any, observation: Observation) -> bool:
    """Whether Argo CD manages the target: by its tracking annotation or an application's resources."""
    if workload is not None and ARGOCD_TRACKING in workload.annotations:
        return True
    return any(app.manages(target.kind, target.namespace, target.name) for app in observation.argocd)


def _action_input(index: int, action: Any, observation: Observation) -> dict[str, Any]:
    target = action.target
    workload = observation.workload(target)
    entry: dict[str, Any] = {
        "index": index,
        "kind": action.kind,
        "mode": action.mode,
        "target": {
            "namespace": target.namespace,
            "kind": target.kind,
            "name": target.name,
            "container": target.container,
        },
        # Effects the action has on the world; the policy forbids some of them outright.
        "effects": ["update"],
        "found": workload is not None,
        # Direct changes to what Argo CD manages would be reverted or fight the GitOps repository.
        "gitops_managed": _managed_by_gitops(target, workload, observation),
    }
    if target.kind == "Namespace":
        entry["effects"].append("namespace_change")
    container = None
    if workload is not None:
        container = next((c for c in workload.containers if c.name == target.container), None)
        entry["current"] = {"replicas": workload.replicas}
    if isinstance(action, SetResources):
        current: dict[str, Any] = {"limits": {}, "requests": {}}
        if container is not None:
            current = {
                "limits": {k: _number(v) for k, v in container.limits.items()},
                "requests": {k: _number(v) for k, v in container.requests.items()},
            }
        entry.setdefault("current", {}).update(current)
        entry["proposed"] = {
            "limits": {k: _number(v) for k, v in action.limits.items()},
            "requests": {k: _number(v) for k, v in action.requests.items()},
        }
        entry["container_found"] = container is not None
    elif isinstance(action, Scale):
        entry["proposed"] = {"replicas": action.replicas}
    elif isinstance(action, SetImage):
        entry["proposed"] = {"image": action.image}
        entry["container_found"] = container is not None
        if container is not None:
            entry.setdefault("current", {})["image"] = container.image
        # Going back to an image an earlier revision of this container ran is safer than a new one.
        entry["image_known"] = any(
            c.name == target.container and c.image == action.image
            for r in observation.revisions
            for c in r.containers
        )
    elif isinstance(action, RollbackRevision):
        entry["proposed"] = {"revision": action.revision}
        entry["revision_known"] = any(r.revision == action.revision for r in observation.revisions)
    elif isinstance(action, Restart):
        entry["proposed"] = {}
    elif isinstance(action, SyncApplication):
        entry["proposed"] = {"application": action.application}
    return entry


def build_policy_input(
    incident: Incident,
    observation: Observation,
    plan: Plan,
    root_cause: str = "none",
    *,
    min_risk: str | None = None,
) -> dict[str, Any]:
    """The policy's input. `min_risk` is a second-opinion review's floor (medium | high): the
    policy's risk becomes the higher of its own and this, never lower."""
    document: dict[str, Any] = {
        "incident": {"id": incident.id, "source": incident.source},
        "diagnosis": {"root_cause": root_cause},
        "actions": [_action_input(i, a, observation) for i, a in enumerate(plan.actions)],
    }
    if min_risk is not None:
        document["review"] = {"min_risk": min_risk}
    return document
