"""Snapshot: the live objects a plan changes, kept before any change, sealed (encrypted) at rest.

A snapshot holds the spec exactly as it was, literal `env` values included, so it is sealed before
it reaches the store and opened only to restore it (`activities/direct/rollback.py`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.direct.kube_change import snapshot_content
from activities.failures import classified, store_failures
from domain.incident.model import ResourceRef
from domain.steps.change import PlanInput, SnapshotResult
from integrations.kubernetes import KubeClient
from integrations.sealing import SnapshotSealer
from store.db import transaction
from store.repositories import SnapshotRepository


class SnapshotActivities:
    def __init__(self, kube: KubeClient, sessions: sessionmaker[Session], sealer: SnapshotSealer) -> None:
        self._kube = kube
        self._sessions = sessions
        self._sealer = sealer

    @activity.defn(name="snapshot_resources")
    @store_failures
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
                with classified(f"cannot snapshot {ref.key}"):
                    live = self._kube.read_object(ref)
                metadata = live.get("metadata", {})
                repo.save_if_absent(
                    incident_id=input.incident_id,
                    resource_key=ref.key,
                    resource_version=str(metadata.get("resourceVersion", "")),
                    generation=int(metadata.get("generation", 0)),
                    content=self._sealer.seal(snapshot_content(live)),
                )
        return SnapshotResult(resources=list(refs.values()))
