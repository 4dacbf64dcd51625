"""The Argo CD sync path: drifted resources brought back to what Git declares.

[approval] → dry-run (Argo CD's own comparison, read-only) → snapshot → one sync of exactly the
drifted resources (never pruning) → wait until Argo CD reports each Synced → verify →
(restore the snapshot)
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.remediation.state import Ending, targets_of
from workflows.remediation.steps import StepFailed
from workflows.remediation.stubs import CHECK_SYNC, DRY_RUN_SYNC, SYNC_RESOURCES
from workflows.remediation.toolkit import Toolkit

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Plan
    from domain.incident.model import WORKLOAD_KINDS, Incident
    from domain.policy.decision import PolicyDecision
    from domain.steps.change import PlanInput
    from domain.steps.gitops import GitOpsApplication
    from domain.steps.sync import SyncInput, SyncProgress, SyncTarget


class SyncPath:
    def __init__(self, kit: Toolkit) -> None:
        self._kit = kit

    async def remediate(self, plan: Plan, policy: PolicyDecision) -> Ending:
        """Sync the drifted resources back to Git; Argo CD must then report each of them Synced and
        the rollout must verify as a direct change does. Any failure restores the snapshot."""
        state, steps = self._kit.state, self._kit.steps
        request = sync_request(state.incident, plan)
        unsnapshotted = sorted(
            {f"{t.namespace}/{t.kind}/{t.name}" for t in request.resources if t.kind not in WORKLOAD_KINDS}
        )
        if unsnapshotted:
            return "needs_review", (
                "a sync of " + ", ".join(unsnapshotted) + " could not be rolled back: medic snapshots "
                "workloads only, so a human syncs it"
            )
        decided = await self._kit.gate.wait(policy)
        if decided is not None:
            return decided
        dry_run = await steps.run(
            "dry_run",
            DRY_RUN_SYNC,
            request,
            summary=lambda r: {
                "ok": r.ok,
                "nothing_to_do": r.nothing_to_do,
                "problems": r.problems,
                "diffs": r.diffs,
            },
        )
        if dry_run.nothing_to_do:
            return "no_action", "the drifted resources match Git again: nothing to sync"
        if not dry_run.ok:
            return "needs_review", "dry-run refused the sync: " + "; ".join(dry_run.problems)
        await self._kit.snapshots.take(
            PlanInput(incident_id=state.incident.id, plan=plan, plan_hash=state.plan_hash)
        )
        targets = targets_of(plan)
        try:
            await steps.run(
                "executing",
                SYNC_RESOURCES,
                request,
                summary=lambda c: {"applications": [a.model_dump(mode="json") for a in c.applications]},
            )
            synced = await self._await_sync(request)
            if synced.state != "ready":
                return await self._kit.snapshots.roll_back(
                    targets, f"the sync did not complete: {synced.reason}"
                )
            verification = await self._kit.verifier.verify(targets, "verifying")
        except StepFailed as failed:
            return await self._kit.snapshots.roll_back(targets, failed.reason)
        if verification.ok:
            return "resolved", f"Argo CD synced the drifted resources back to Git; {verification.reason}"
        return await self._kit.snapshots.roll_back(targets, f"verification failed: {verification.reason}")

    async def _await_sync(self, request: SyncInput) -> SyncProgress:
        """Wait on a workflow timer until Argo CD reports every synced resource Synced (and its
        workloads Healthy), the sync fails, or the verification deadline passes."""
        state = self._kit.state
        state.step = "syncing"
        started = workflow.now()
        deadline = started + timedelta(seconds=state.input.verify_timeout_seconds)
        while True:
            progress = await self._kit.steps.call("syncing", CHECK_SYNC, request)
            if progress.state != "waiting":
                break
            if workflow.now() >= deadline:
                within = state.input.verify_timeout_seconds
                progress = progress.model_copy(
                    update={"state": "failed", "reason": f"not synced within {within}s: {progress.reason}"}
                )
                break
            await workflow.sleep(timedelta(seconds=state.input.verify_interval_seconds))
        await self._kit.steps.audit(
            "syncing",
            "completed" if progress.state == "ready" else "failed",
            duration=workflow.now() - started,
            detail={"reason": progress.reason, "resources": progress.resources},
        )
        return progress


def sync_request(incident: Incident, plan: Plan) -> SyncInput:
    """The Applications and exactly the resources a `sync_application` plan syncs; API groups and
    the Applications' namespace come from the drift the scan found."""
    drift = incident.drift
    groups = {r.key: r.group for r in drift.resources} if drift else {}
    app_namespace = drift.app_namespace if drift else "argocd"
    project = drift.project if drift else ""
    applications: dict[str, GitOpsApplication] = {}
    resources: dict[str, SyncTarget] = {}
    for action in plan.actions:
        if action.kind != "sync_application":
            continue
        applications.setdefault(
            action.application,
            GitOpsApplication(name=action.application, namespace=app_namespace, project=project),
        )
        ref = action.target.without_container()
        resources.setdefault(
            ref.key,
            SyncTarget(
                group=groups.get(ref.key, "apps" if ref.kind in WORKLOAD_KINDS else ""),
                kind=ref.kind,
                namespace=ref.namespace,
                name=ref.name,
                application=action.application,
            ),
        )
    return SyncInput(
        incident_id=incident.id, applications=list(applications.values()), resources=list(resources.values())
    )
