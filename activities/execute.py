"""dry-run, snapshot, execute, verify and rollback of a plan in direct mode (Kubernetes API).

Every function here is safe to retry: the patch is declarative and tagged with the incident and
plan hash, so a retry after a crash finds the change applied and does nothing; snapshots are keyed
by (incident, resource) and the first one wins. A snapshot holds the spec exactly as it was, literal
`env` values included, so it is sealed (encrypted) before it reaches the store and opened only to
restore it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.incident.model import ResourceRef
from domain.kube.patches import PatchError, is_applied, patch_for_action, restore_body
from domain.kube.rollout import rollout_check
from domain.steps.change import (
    AppliedChange,
    CheckRolloutInput,
    DryRunResult,
    ExecutionResult,
    PlanInput,
    RestoreInput,
    RolloutCheck,
    SnapshotResult,
    Verification,
)
from integrations.kubernetes import (
    KubeClient,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
)
from integrations.sealing import SealingError, SnapshotSealer
from store.db import transaction
from store.repositories import ActionRepository, SnapshotRepository

FIELD_MANAGER = "medic"


def _permanent(err: KubeError, what: str) -> ApplicationError:
    return ApplicationError(f"{what}: {err}", type=type(err).__name__, non_retryable=True)


def _selector(live: dict[str, Any]) -> dict[str, str]:
    return dict(live.get("spec", {}).get("selector", {}).get("matchLabels", {}))


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


def _snapshot_content(live: dict[str, Any]) -> dict[str, Any]:
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


def _record_action(
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


class KubeChangeActivities:
    def __init__(self, kube: KubeClient, sessions: sessionmaker[Session], sealer: SnapshotSealer) -> None:
        self._kube = kube
        self._sessions = sessions
        self._sealer = sealer

    def _revisions(
        self, target: ResourceRef, live: dict[str, Any], action: Any
    ) -> list[dict[str, Any]] | None:
        if action.kind != "rollback_revision":
            return None
        return self._kube.list_replicasets(target.namespace, _selector(live))

    def _patch(
        self,
        input: PlanInput,
        action: Any,
        live: dict[str, Any],
        revisions: list[dict[str, Any]] | None,
        *,
        dry_run: bool,
    ) -> dict[str, Any]:
        patch = patch_for_action(action, live, input.incident_id, input.plan_hash, revisions)
        ref = action.target.without_container()
        return self._kube.patch_object(ref, patch, dry_run=dry_run, field_manager=FIELD_MANAGER)

    @activity.defn(name="dry_run_plan")
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
                after = self._patch(input, action, live, self._revisions(ref, live, action), dry_run=True)
            except PatchError as err:
                problems.append(f"action {index} ({action.kind} {ref.key}): {err}")
                continue
            except (KubeInvalid, KubeNotFound, KubeForbidden, KubeConflict) as err:
                problems.append(f"action {index} ({action.kind} {ref.key}): the API refused it: {err}")
                continue
            diffs.append({"action_index": index, "resource": ref.key, "changes": _diff(live, after)})
        with transaction(self._sessions) as session:
            for index, action in enumerate(input.plan.actions):
                _record_action(
                    session,
                    input,
                    index,
                    action,
                    "dry_run",
                    "failed" if problems else "ok",
                    {"problems": problems, "diffs": diffs},
                )
        return DryRunResult(ok=not problems, problems=problems, diffs=diffs)

    @activity.defn(name="snapshot_resources")
    def snapshot_resources(self, input: PlanInput) -> SnapshotResult:
        refs: dict[str, ResourceRef] = {}
        for action in input.plan.actions:
            ref = action.target.without_container()
            refs.setdefault(ref.key, ref)
        with transaction(self._sessions) as session:
            repo = SnapshotRepository(session)
            for ref in refs.values():
                if repo.get(input.incident_id, ref.key) is not None:
                    continue  # a retry: the snapshot taken before any change stands
                try:
                    live = self._kube.read_object(ref)
                except (KubeNotFound, KubeForbidden) as err:
                    raise _permanent(err, f"cannot snapshot {ref.key}") from err
                metadata = live.get("metadata", {})
                repo.save_if_absent(
                    incident_id=input.incident_id,
                    resource_key=ref.key,
                    resource_version=str(metadata.get("resourceVersion", "")),
                    generation=int(metadata.get("generation", 0)),
                    content=self._sealer.seal(_snapshot_content(live)),
                )
        return SnapshotResult(resources=list(refs.values()))

    @activity.defn(name="execute_plan")
    def execute_plan(self, input: PlanInput) -> ExecutionResult:
        changes: list[AppliedChange] = []
        for index, action in enumerate(input.plan.actions):
            activity.heartbeat(index)
            ref = action.target.without_container()
            try:
                live = self._kube.read_object(ref)
                revisions = self._revisions(ref, live, action)
                if is_applied(action, live, input.incident_id, input.plan_hash, revisions):
                    changed, result = False, live
                else:
                    result = self._patch(input, action, live, revisions, dry_run=False)
                    changed = True
            except PatchError as err:
                raise ApplicationError(
                    f"{action.kind} {ref.key}: {err}", type="PatchError", non_retryable=True
                ) from err
            except (KubeInvalid, KubeNotFound, KubeForbidden) as err:
                raise _permanent(err, f"{action.kind} {ref.key}") from err
            generation = int(result.get("metadata", {}).get("generation", 0))
            detail = "applied" if changed else "already applied (retry)"
            changes.append(
                AppliedChange(
                    action_index=index, resource=ref, changed=changed, generation=generation, detail=detail
                )
            )
            with transaction(self._sessions) as session:
                _record_action(
                    session,
                    input,
                    index,
                    action,
                    "execute",
                    "applied",
                    {
                        "generation": generation,
                        "changed_by_this_attempt": changed,
                        "attempt": activity.info().attempt,
                    },
                )
        return ExecutionResult(changes=changes)

    @activity.defn(name="check_rollout")
    def check_rollout(self, input: CheckRolloutInput) -> Verification:
        checks: list[RolloutCheck] = []
        for ref in input.targets:
            try:
                live = self._kube.read_object(ref)
                pods = self._kube.list_pods(ref.namespace, _selector(live))
            except KubeNotFound:
                checks.append(RolloutCheck(resource=ref, done=False, healthy=False, reason="object is gone"))
                continue
            except (KubeForbidden, KubeInvalid) as err:
                raise _permanent(err, f"cannot check the rollout of {ref.key}") from err
            baseline = input.baseline_restarts.get(ref.key, -1)
            checks.append(rollout_check(ref, live, pods, baseline))
        return Verification(
            ok=all(c.healthy for c in checks),
            finished=all(c.done for c in checks),
            checks=checks,
            reason="; ".join(f"{c.resource.key}: {c.reason}" for c in checks if c.reason),
        )

    @activity.defn(name="restore_snapshots")
    def restore_snapshots(self, input: RestoreInput) -> ExecutionResult:
        changes: list[AppliedChange] = []
        with transaction(self._sessions) as session:
            snapshots = {s.resource_key: s for s in SnapshotRepository(session).list(input.incident_id)}
        for index, ref in enumerate(input.targets):
            activity.heartbeat(index)
            snapshot = snapshots.get(ref.key)
            if snapshot is None:
                raise ApplicationError(
                    f"no snapshot of {ref.key} to restore", type="NoSnapshot", non_retryable=True
                )
            try:
                content = self._sealer.open(snapshot.content)
            except SealingError as err:
                raise ApplicationError(
                    f"cannot open the snapshot of {ref.key}: {err}", type="SealingError", non_retryable=True
                ) from err
            try:
                live = self._kube.read_object(ref)
                body = restore_body(content, live)
                if _snapshot_content(live) == _snapshot_content(body):
                    changed, result = False, live
                else:
                    result = self._kube.replace_object(ref, body, dry_run=False, field_manager=FIELD_MANAGER)
                    changed = True
            except (KubeInvalid, KubeNotFound, KubeForbidden) as err:
                raise _permanent(err, f"restore {ref.key}") from err
            # KubeConflict and KubeUnavailable propagate: Temporal retries with a fresh read.
            generation = int(result.get("metadata", {}).get("generation", 0))
            changes.append(
                AppliedChange(
                    action_index=index,
                    resource=ref,
                    changed=changed,
                    generation=generation,
                    detail="restored from snapshot" if changed else "already restored",
                )
            )
            with transaction(self._sessions) as session:
                ActionRepository(session).record(
                    incident_id=input.incident_id,
                    action_index=index,
                    kind="restore_snapshot",
                    target=ref.key,
                    mode="direct",
                    plan_hash="",
                    phase="rollback",
                    status="applied",
                    detail={"generation": generation, "changed_by_this_attempt": changed},
                )
        return ExecutionResult(changes=changes)
