"""Dry-run: the API server checks each action's patch (server-side dry run) and shows what would change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.direct.kube_change import patch, record_action, revisions
from activities.failures import activity_failure, store_failures
from activities.redaction import redacts_result
from domain.kube.patches import PatchError
from domain.redaction.objects import redact_dry_run
from domain.steps.change import DryRunResult, PlanInput
from integrations.errors import IntegrationError
from integrations.kubernetes import KubeClient, KubeConflict, KubeForbidden, KubeInvalid, KubeNotFound
from store.db import transaction


class DryRunActivities:
    def __init__(self, kube: KubeClient, sessions: sessionmaker[Session]) -> None:
        self._kube = kube
        self._sessions = sessions

    @activity.defn(name="dry_run_plan")
    @redacts_result
    @store_failures
    def dry_run_plan(self, input: PlanInput) -> DryRunResult:
        problems: list[str] = []
        diffs: list[dict[str, Any]] = []
        for index, action in enumerate(input.plan.actions):
            ref = action.target.without_container()
            if action.mode != "direct":
                problems.append(f"action {index}: mode {action.mode} is not executable here")
                continue
            try:
                live = self._kube.read_object(ref)
                after = patch(
                    self._kube, input, action, live, revisions(self._kube, ref, live, action), dry_run=True
                )
            except PatchError as err:
                problems.append(f"action {index} ({action.kind} {ref.key}): {err}")
                continue
            except (KubeInvalid, KubeNotFound, KubeForbidden, KubeConflict) as err:
                problems.append(f"action {index} ({action.kind} {ref.key}): the API refused it: {err}")
                continue
            except IntegrationError as err:
                raise activity_failure(err, f"dry-run of {action.kind} {ref.key}") from err
            diffs.append({"action_index": index, "resource": ref.key, "changes": _diff(live, after)})
        # Redacted before the action row is written: the diff shows template annotations, which
        # can carry tokens and connection strings.
        result = redact_dry_run(DryRunResult(ok=not problems, problems=problems, diffs=diffs))
        with transaction(self._sessions) as session:
            for index, action in enumerate(input.plan.actions):
                record_action(
                    session,
                    input,
                    index,
                    action,
                    "dry_run",
                    "failed" if problems else "ok",
                    {"problems": result.problems, "diffs": result.diffs},
                )
        return result


def _containers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return {c["name"]: c for c in spec.get("containers", [])}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """A readable before/after of the fields medic changes."""
    changed: dict[str, Any] = {}
    if before.get("spec", {}).get("replicas") != after.get("spec", {}).get("replicas"):
        changed["replicas"] = [before.get("spec", {}).get("replicas"), after.get("spec", {}).get("replicas")]
    old, new = _containers(before), _containers(after)
    for name, container in new.items():
        prior = old.get(name, {})
        for field in ("image", "resources"):
            if prior.get(field) != container.get(field):
                changed[f"containers[{name}].{field}"] = [prior.get(field), container.get(field)]
    before_ann = before.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {}) or {}
    after_ann = after.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {}) or {}
    if before_ann != after_ann:
        changed["template.annotations"] = [before_ann, after_ann]
    return changed
