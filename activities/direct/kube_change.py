"""What the direct path's activities share: the patch a plan's action makes, the part of an
object a snapshot keeps, and the action rows they record.

Every direct-path activity is safe to retry: the patch is declarative and tagged with the incident
and plan hash, so a retry after a crash finds the change applied and does nothing; snapshots are
keyed by (incident, resource) and the first one wins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from domain.incident.model import ResourceRef
from domain.kube.patches import patch_for_action
from domain.steps.change import PlanInput
from integrations.kubernetes import KubeClient
from store.repositories import ActionRepository

FIELD_MANAGER = "medic"


def selector(live: dict[str, Any]) -> dict[str, str]:
    return dict(live.get("spec", {}).get("selector", {}).get("matchLabels", {}))


def snapshot_content(live: dict[str, Any]) -> dict[str, Any]:
    """The part of an object a snapshot keeps, and a restore compares."""
    metadata = live.get("metadata", {})
    return {
        "apiVersion": live.get("apiVersion"),
        "kind": live.get("kind"),
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "labels": metadata.get("labels", {}),
            "annotations": metadata.get("annotations", {}),
        },
        "spec": live.get("spec", {}),
    }


def revisions(
    kube: KubeClient, target: ResourceRef, live: dict[str, Any], action: Any
) -> list[dict[str, Any]] | None:
    """The workload's ReplicaSets, which a `rollback_revision` action picks its revision from."""
    if action.kind != "rollback_revision":
        return None
    return kube.list_replicasets(target.namespace, selector(live))


def patch(
    kube: KubeClient,
    input: PlanInput,
    action: Any,
    live: dict[str, Any],
    revisions: list[dict[str, Any]] | None,
    *,
    dry_run: bool,
) -> dict[str, Any]:
    """Apply (or with `dry_run`, have the API server check) the action's patch; the object after it."""
    body = patch_for_action(action, live, input.incident_id, input.plan_hash, revisions)
    ref = action.target.without_container()
    return kube.patch_object(ref, body, dry_run=dry_run, field_manager=FIELD_MANAGER)


def record_action(
    session: Session,
    input: PlanInput,
    index: int,
    action: Any,
    phase: str,
    status: str,
    detail: dict[str, Any],
) -> None:
    ActionRepository(session).record(
        incident_id=input.incident_id,
        action_index=index,
        kind=action.kind,
        target=action.target.key,
        mode=action.mode,
        plan_hash=input.plan_hash,
        phase=phase,
        status=status,
        detail=detail,
    )
