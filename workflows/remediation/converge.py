"""Convergence of a merged commit: Argo CD asked to sync it and watched on a workflow timer until
every Application is synced to it (and Healthy), then the rollout verified."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.remediation.options import MAX_SYNC_REQUESTS
from workflows.remediation.state import RunState
from workflows.remediation.steps import StepFailed, Steps
from workflows.remediation.stubs import CHECK_APPLICATIONS, SYNC_APPLICATIONS
from workflows.remediation.verify import Verifier

with workflow.unsafe.imports_passed_through():
    from domain.gitops.flow import degraded, needs_sync, verdict
    from domain.incident.model import ResourceRef
    from domain.steps.change import Verification
    from domain.steps.gitops import ApplicationsInput, GitOpsApplication


class Convergence:
    def __init__(self, state: RunState, steps: Steps, verifier: Verifier) -> None:
        self._state = state
        self._steps = steps
        self._verifier = verifier

    async def converge(
        self,
        applications: list[GitOpsApplication],
        commit: str,
        targets: list[ResourceRef],
        *,
        require_healthy: bool,
        step: str = "verifying",
    ) -> Verification:
        """Ask Argo CD to sync `commit` (a refresh; a sync request where no automated sync runs),
        wait until it reports every Application synced to it — and Healthy, unless
        `require_healthy` is off (a revert restores a state that was not) — then verify the
        rollout as direct mode does. A failed sync, a Degraded Application or the deadline fail."""
        state, steps = self._state, self._steps
        settings = state.input
        state.step = "syncing"
        started = workflow.now()
        deadline = started + timedelta(seconds=settings.verify_timeout_seconds)
        request = ApplicationsInput(incident_id=state.incident.id, applications=applications, revision=commit)
        try:
            check = await steps.call("syncing", SYNC_APPLICATIONS, request)
            requests, streak = 1, 0
            while True:
                check = await steps.call("syncing", CHECK_APPLICATIONS, request)
                streak = streak + 1 if degraded(check) else 0
                phase, reason = verdict(
                    check,
                    degraded_persists=streak >= settings.verify_stable_checks,
                    require_healthy=require_healthy,
                )
                if phase != "waiting":
                    break
                if workflow.now() >= deadline:
                    phase = "failed"
                    within = settings.verify_timeout_seconds
                    reason = f"Argo CD did not sync {commit[:12]} within {within}s: {reason}"
                    break
                if needs_sync(check) and requests < MAX_SYNC_REQUESTS:
                    requests += 1
                    await steps.call("syncing", SYNC_APPLICATIONS, request)
                await workflow.sleep(timedelta(seconds=settings.verify_interval_seconds))
        except StepFailed as failed:
            return Verification(ok=False, finished=False, reason=f"Argo CD could not be asked: {failed}")
        await steps.audit(
            "syncing",
            "completed" if phase == "ready" else "failed",
            duration=workflow.now() - started,
            detail={
                "revision": commit,
                "reason": reason,
                "applications": [a.model_dump(mode="json") for a in check.applications],
            },
        )
        if phase != "ready":
            return Verification(ok=False, finished=False, reason=reason)
        return await self._verifier.verify(targets, step, require_healthy=require_healthy)
