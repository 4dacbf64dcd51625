"""Rollback: the snapshots of an incident restored (opened with the sealing keys, then a replace of
each object unless it already matches); a retry finds them restored and does nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.direct.kube_change import FIELD_MANAGER, snapshot_content
from activities.failures import activity_failure, classified, store_failures
from domain.kube.patches import restore_body
from domain.steps.change import AppliedChange, ExecutionResult, RestoreInput
from integrations.kubernetes import KubeClient
from integrations.sealing import SealingError, SnapshotSealer
from store.db import transaction
from store.repositories import ActionRepository, SnapshotRepository


class RollbackActivities:
    def __init__(self, kube: KubeClient, sessions: sessionmaker[Session], sealer: SnapshotSealer) -> None:
        self._kube = kube
        self._sessions = sessions
        self._sealer = sealer

    @activity.defn(name="restore_snapshots")
    @store_failures
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
                raise activity_failure(err, f"cannot open the snapshot of {ref.key}") from err
            # A conflict (the object changed since it was read) is temporary like an outage:
            # Temporal retries, and the next attempt reads the object afresh.
            with classified(f"restore {ref.key}"):
                live = self._kube.read_object(ref)
                body = restore_body(content, live)
                if snapshot_content(live) == snapshot_content(body):
                    changed, result = False, live
                else:
                    result = self._kube.replace_object(ref, body, dry_run=False, field_manager=FIELD_MANAGER)
                    changed = True
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
