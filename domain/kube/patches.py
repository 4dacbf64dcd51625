"""Typed actions → Kubernetes patches, and the checks that make applying them idempotent. Pure.

Every patch is a strategic merge patch of the workload that also tags it with
`medic.io/incident` and `medic.io/plan-hash`, so a retried execute can see that its change is
already there (`is_applied`) and do nothing. Nothing here depends on the clock: a restart's
`restartedAt` stamp is derived from the incident id, so re-applying it changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from domain.analysis.plan import Action, RollbackRevision, Scale, SetImage, SetResources
from domain.kube.quantity import QuantityError, parse_quantity

INCIDENT_ANNOTATION = "medic.io/incident"
PLAN_HASH_ANNOTATION = "medic.io/plan-hash"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH_LABEL = "pod-template-hash"

# Kinds with a pod template that a strategic merge patch can change the same way.
_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
_SCALABLE_KINDS = ("Deployment", "StatefulSet")


class PatchError(ValueError):
    """The action does not fit the live object (unknown container or revision, unsupported kind)."""


def restart_stamp(incident_id: str) -> str:
    """The `restartedAt` value of a restart for this incident: same incident, same value."""
    return f"medic-{hashlib.sha256(incident_id.encode()).hexdigest()[:16]}"


def _kind(action: Any, live: dict[str, Any]) -> str:
    kind = live.get("kind") or action.target.kind
    if action.target.kind != kind:
        raise PatchError(f"the action targets a {action.target.kind} but the object is a {kind}")
    return str(kind)


def _containers(live: dict[str, Any]) -> list[dict[str, Any]]:
    return list((((live.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [])


def _container_name(action: Any, live: dict[str, Any]) -> str:
    names = [str(c.get("name")) for c in _containers(live)]
    wanted = action.target.container
    if wanted is None:
        if len(names) == 1:
            return names[0]
        raise PatchError(
            f"{action.kind} must name a container: {action.target.key} has {', '.join(names) or 'none'}"
        )
    if wanted not in names:
        raise PatchError(
            f"container {wanted!r} not found in {action.target.key} (has {', '.join(names) or 'none'})"
        )
    return wanted


def _container_patch(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": name, **fields}]}}}}


def _revision_template(
    revision: int, revisions: list[dict[str, Any]] | None, live: dict[str, Any]
) -> dict[str, Any]:
    if revisions is None:
        raise PatchError("rollback_revision needs the workload's ReplicaSets")
    known: list[str] = []
    for replicaset in revisions:
        annotations = (replicaset.get("metadata") or {}).get("annotations") or {}
        known.append(str(annotations.get(REVISION_ANNOTATION, "?")))
        if annotations.get(REVISION_ANNOTATION) == str(revision):
            template = copy.deepcopy((replicaset.get("spec") or {}).get("template") or {})
            break
    else:
        raise PatchError(
            f"revision {revision} is unknown (known revisions: {', '.join(sorted(known)) or 'none'})"
        )
    if not template.get("spec", {}).get("containers"):
        raise PatchError(f"revision {revision} has no pod template to roll back to")
    metadata = template.setdefault("metadata", {})
    labels = dict(metadata.get("labels") or {})
    labels.pop(TEMPLATE_HASH_LABEL, None)
    # A ReplicaSet always carries its template's labels; if one does not, keep the live ones so the
    # selector still matches instead of sending a template the API must refuse.
    metadata["labels"] = labels or dict(
        ((live.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    )
    return template


def patch_for_action(
    action: Action,
    live: dict[str, Any],
    incident_id: str,
    plan_hash: str,
    revisions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The strategic merge patch that carries out `action` on the live workload.

    `revisions` (the workload's ReplicaSets as the API returns them) is needed for
    `rollback_revision` only. Raises `PatchError` when the action does not fit the object.
    """
    kind = _kind(action, live)
    if action.kind == "sync_application":
        raise PatchError("sync_application is an Argo CD operation, not a Kubernetes patch")
    if kind not in _TEMPLATE_KINDS:
        raise PatchError(f"{action.kind} is not supported on a {kind}")
    body: dict[str, Any]
    if isinstance(action, SetResources):
        if not action.limits and not action.requests:
            raise PatchError("set_resources names no limits and no requests")
        for section in (action.limits, action.requests):
            for resource, quantity in section.items():
                try:
                    parse_quantity(quantity)
                except QuantityError as exc:
                    raise PatchError(f"{resource}: {exc}") from exc
        resources = {k: dict(v) for k, v in (("limits", action.limits), ("requests", action.requests)) if v}
        body = _container_patch(_container_name(action, live), {"resources": resources})
    elif isinstance(action, SetImage):
        body = _container_patch(_container_name(action, live), {"image": action.image})
    elif isinstance(action, Scale):
        if kind not in _SCALABLE_KINDS:
            raise PatchError(f"a {kind} cannot be scaled")
        body = {"spec": {"replicas": action.replicas}}
    elif action.kind == "restart":
        body = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {RESTARTED_AT_ANNOTATION: restart_stamp(incident_id)}}
                }
            }
        }
    elif isinstance(action, RollbackRevision):
        if kind != "Deployment":
            raise PatchError(f"rollback_revision works on Deployments, not on a {kind}")
        template = _revision_template(action.revision, revisions, live)
        # `$patch: replace`: the template becomes exactly the old one, as `kubectl rollout undo` does.
        body = {"spec": {"template": {"$patch": "replace", **template}}}
    else:  # pragma: no cover - the Action union is closed
        raise PatchError(f"unsupported action {action.kind}")
    body["metadata"] = {"annotations": {INCIDENT_ANNOTATION: incident_id, PLAN_HASH_ANNOTATION: plan_hash}}
    return body


def _same_quantity(a: Any, b: Any) -> bool:
    try:
        return a is not None and b is not None and parse_quantity(a) == parse_quantity(b)
    except QuantityError:
        return False


def _contains(whole: Any, part: Any) -> bool:
    """Whether every field of `part` is in `whole` with the same value (lists by position)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and _contains(whole[k], v) for k, v in part.items())
    if isinstance(part, list):
        return isinstance(whole, list) and len(whole) == len(part) and all(map(_contains, whole, part))
    return bool(whole == part)


def is_applied(
    action: Action,
    live: dict[str, Any],
    incident_id: str,
    plan_hash: str,
    revisions: list[dict[str, Any]] | None = None,
) -> bool:
    """True when the live object already carries this incident's change: the annotation pair and
    the action's values. Never raises; anything that does not fit counts as not applied."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if (
        annotations.get(INCIDENT_ANNOTATION) != incident_id
        or annotations.get(PLAN_HASH_ANNOTATION) != plan_hash
    ):
        return False
    spec = live.get("spec") or {}
    try:
        if isinstance(action, SetResources):
            name = _container_name(action, live)
            container = next(c for c in _containers(live) if c.get("name") == name)
            resources = container.get("resources") or {}
            return all(
                _same_quantity((resources.get(section) or {}).get(resource), quantity)
                for section, wanted in (("limits", action.limits), ("requests", action.requests))
                for resource, quantity in wanted.items()
            )
        if isinstance(action, SetImage):
            name = _container_name(action, live)
            return any(c.get("name") == name and c.get("image") == action.image for c in _containers(live))
        if isinstance(action, Scale):
            return spec.get("replicas") == action.replicas
        if action.kind == "restart":
            template_annotations = ((spec.get("template") or {}).get("metadata") or {}).get(
                "annotations"
            ) or {}
            return template_annotations.get(RESTARTED_AT_ANNOTATION) == restart_stamp(incident_id)
        if isinstance(action, RollbackRevision):
            # The annotation pair is written in the same request as the template, and once it is
            # applied the controller renumbers the revived ReplicaSet: the revision asked for no
            # longer exists, so the annotations are the only sound evidence.
            return True
    except PatchError:
        return False
    return False


_RESTORED_METADATA = ("labels", "annotations")


def restore_body(snapshot_content: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """The full object to PUT so that spec, labels and annotations equal the snapshot exactly.

    The live object's identity and `resourceVersion` are kept (a change since the read is a 409,
    and the caller retries with a fresh read); status and managedFields are left to the server.
    """
    if "spec" not in snapshot_content:
        raise PatchError("the snapshot holds no spec to restore")
    snapshot_kind = snapshot_content.get("kind")
    if snapshot_kind and live.get("kind") and snapshot_kind != live.get("kind"):
        raise PatchError(f"the snapshot is of a {snapshot_kind}, the live object a {live.get('kind')}")
    body = copy.deepcopy(live)
    body.pop("status", None)
    metadata = body.setdefault("metadata", {})
    metadata.pop("managedFields", None)
    snapshot_metadata = snapshot_content.get("metadata") or {}
    for field in _RESTORED_METADATA:
        value = snapshot_metadata.get(field)
        if value:
            metadata[field] = copy.deepcopy(value)
        else:
            metadata.pop(field, None)
    body["spec"] = copy.deepcopy(snapshot_content["spec"])
    return body
