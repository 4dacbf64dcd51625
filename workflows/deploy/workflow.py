"""DeploymentWatchWorkflow: one per (Application, revision) Argo CD deployed.

    plan (the workloads the deploy changed, its commits, the Application's rules)
    → baseline: each workload's signals over the window before the sync
    → every sample interval, on a workflow timer, the signals since the sync:
        Degraded health, a crash loop or an OOM kill decides at once (`judge_sample`)
    → at the end of the analysis window, the whole window judged (`judge`)
    → degraded: a child RemediationWorkflow, the deploy's incident (source `deploy`: it reverts the
      deploy's commits by a pull request), started once per watch id
    → the verdict recorded (`deployment` table), with the incident it opened

Started by Argo CD's notification (`POST /webhooks/argocd`); the watch id makes a second sighting
of the same deploy start nothing. A newer revision of the Application — seen in a sample, or told
by the `newer_revision` signal — supersedes the watch, which stops and says so. Orchestration
only: the judging is `domain.deploy.rules`, pure.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.deploy.stubs import FINISH_DEPLOY_WATCH, PLAN_DEPLOY_WATCH, SAMPLE_DEPLOY_SIGNALS
from workflows.remediation import RemediationWorkflow
from workflows.runner import execute

with workflow.unsafe.imports_passed_through():
    from domain.deploy.incident import deploy_incident
    from domain.deploy.model import DeployEvent, DeployRegression, Verdict, WorkloadRef
    from domain.deploy.rules import judge, judge_sample
    from domain.deploy.watch import DeployWatchPlan, FinishWatch, SampleInput, WatchResult

NEWER_REVISION = "newer_revision"
# Patch marker: a degraded verdict opens the deploy's incident (a child RemediationWorkflow).
# Asked only on a degraded verdict whose plan carries the remediation input, so that histories
# recorded before (which only recorded the verdict) replay.
PATCH_DEPLOY_INCIDENT = "deploy-watch-incident"


@workflow.defn
class DeploymentWatchWorkflow:
    @workflow.init
    def __init__(self, event: DeployEvent) -> None:
        self._newer = ""
        self._state = "planning"
        self._result: WatchResult | None = None
        self._incident = ""

    @workflow.signal(name=NEWER_REVISION)
    def newer_revision(self, revision: str) -> None:
        self._newer = revision

    @workflow.query(name="status")
    def status(self) -> str:
        """The watch's step or verdict, and the incident a degraded verdict opened."""
        return f"{self._state} (incident {self._incident})" if self._incident else self._state

    @workflow.run
    async def run(self, event: DeployEvent) -> WatchResult:
        plan = await execute(PLAN_DEPLOY_WATCH, event)
        if not plan.workloads:
            return await self._finish(plan, "inconclusive", plan.note or "the deploy changed no workload")
        rules, synced = plan.rules, plan.synced_at
        self._state = "baseline"
        baseline = await execute(
            SAMPLE_DEPLOY_SIGNALS,
            self._window(plan, synced - timedelta(seconds=rules.baseline_window_seconds), synced),
        )
        before = baseline.by_workload()
        deadline = synced + timedelta(seconds=rules.analysis_window_seconds)
        interval = timedelta(seconds=rules.sample_interval_seconds)
        self._state = "watching"
        while True:
            wait = min(interval, deadline - workflow.now())
            if wait > timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: bool(self._newer), timeout=wait)
            if self._newer:
                return await self._superseded(plan, self._newer)
            end = min(workflow.now(), deadline)
            # The window starts a moment after the sync: the sync's own instant is the baseline's.
            since = synced + timedelta(seconds=1)
            sample = await execute(SAMPLE_DEPLOY_SIGNALS, self._window(plan, since, end))
            if sample.revision and sample.revision != event.revision:
                return await self._superseded(plan, sample.revision)
            after = sample.by_workload()
            verdict: Verdict | None
            if end >= deadline:
                verdict = judge(before, after, rules, sample.health or "Healthy", deploy=event)
            else:
                verdict = judge_sample(before, after, rules, sample.health or "Healthy", deploy=event)
            if verdict is not None:
                return await self._finish(plan, verdict.state, verdict.summary, verdict)

    @staticmethod
    def _window(plan: DeployWatchPlan, start: datetime, end: datetime) -> SampleInput:
        return SampleInput(
            application=plan.event.application,
            app_namespace=plan.event.app_namespace,
            workloads=plan.workloads,
            start=start,
            end=end,
        )

    async def _superseded(self, plan: DeployWatchPlan, revision: str) -> WatchResult:
        summary = (
            f"watch of {plan.event.application} at {plan.event.revision[:7]} stopped: "
            f"revision {revision[:7]} was deployed before the analysis window ended"
        )
        return await self._finish(plan, "superseded", summary)

    async def _finish(
        self, plan: DeployWatchPlan, state: str, summary: str, verdict: Verdict | None = None
    ) -> WatchResult:
        self._state = state
        if state == "degraded" and plan.made_by:
            # medic's own change: its incident verifies it and undoes it; none reverts a revert
            summary += f"; not reverted: the deploy is medic's own change ({', '.join(plan.made_by)})"
        elif (
            state == "degraded"
            and verdict is not None
            and plan.remediation is not None
            and workflow.patched(PATCH_DEPLOY_INCIDENT)
        ):
            self._incident = await self._open_incident(plan, verdict)
        finish = FinishWatch(
            plan=plan, state=state, summary=summary, verdict=verdict, incident_id=self._incident
        )
        await execute(FINISH_DEPLOY_WATCH, finish)
        self._result = WatchResult(
            watch_id=workflow.info().workflow_id,
            state=state,
            summary=summary,
            verdict=verdict,
            incident_id=self._incident,
        )
        return self._result

    async def _open_incident(self, plan: DeployWatchPlan, verdict: Verdict) -> str:
        """Start the degraded deploy's incident, once: its id comes from the deploy's watch id, and
        a second start (a watch of the same deploy run again) is refused by the server, whether the
        first is still open or long closed — a deploy is reverted by one incident."""
        assert plan.remediation is not None
        workflow_id = deploy_incident_id(plan.event.watch_id)
        event = plan.event
        regression = DeployRegression(
            watch_id=event.watch_id,
            application=event.application,
            app_namespace=event.app_namespace,
            project=event.project,
            revision=event.revision,
            previous_revision=event.previous_revision,
            commits=plan.commits,
            verdict=verdict,
            workloads=_degraded_workloads(plan, verdict),
        )
        try:
            await workflow.start_child_workflow(
                RemediationWorkflow.run,
                plan.remediation.model_copy(update={"incident": deploy_incident(workflow_id, regression)}),
                id=workflow_id,
                task_queue=workflow.info().task_queue,
                # The incident outlives the watch: it may wait hours for an approval.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("the incident %s of this deploy was started before", workflow_id)
        return workflow_id


def deploy_incident_id(watch_id: str) -> str:
    """The workflow id of the incident a degraded watch opens: `incident-` and the watch id with
    dots for slashes (`incident-deploy.argocd.shop-cart.4f2c9e1b7a3d`), so that it also names a
    Git branch (`medic/<incident id>`) without nesting."""
    return "incident-" + watch_id.replace("/", ".")


def _degraded_workloads(plan: DeployWatchPlan, verdict: Verdict) -> list[WorkloadRef]:
    fired = {f.workload for f in verdict.fired if f.workload is not None}
    return [w for w in plan.workloads if w in fired] or list(plan.workloads)
