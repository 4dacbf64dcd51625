"""DeploymentWatchWorkflow: one per (Application, revision) Argo CD deployed.

    plan (the workloads the deploy changed, its commits, the Application's rules)
    → baseline: each workload's signals over the window before the sync
    → every sample interval, on a workflow timer, the signals since the sync:
        Degraded health, a crash loop or an OOM kill decides at once (`judge_sample`)
    → at the end of the analysis window, the whole window judged (`judge`)
    → the verdict recorded (`deployment` table)

Started by Argo CD's notification (`POST /webhooks/argocd`); the watch id makes a second sighting
of the same deploy start nothing. A newer revision of the Application — seen in a sample, or told
by the `newer_revision` signal — supersedes the watch, which stops and says so. Orchestration
only: the judging is `domain.deploy.rules`, pure.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.deploy.stubs import FINISH_DEPLOY_WATCH, PLAN_DEPLOY_WATCH, SAMPLE_DEPLOY_SIGNALS
from workflows.runner import execute

with workflow.unsafe.imports_passed_through():
    from domain.deploy.model import DeployEvent, Verdict
    from domain.deploy.rules import judge, judge_sample
    from domain.deploy.watch import DeployWatchPlan, FinishWatch, SampleInput, WatchResult

NEWER_REVISION = "newer_revision"


@workflow.defn
class DeploymentWatchWorkflow:
    @workflow.init
    def __init__(self, event: DeployEvent) -> None:
        self._newer = ""
        self._state = "planning"
        self._result: WatchResult | None = None

    @workflow.signal(name=NEWER_REVISION)
    def newer_revision(self, revision: str) -> None:
        self._newer = revision

    @workflow.query(name="status")
    def status(self) -> str:
        return self._state

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
        finish = FinishWatch(plan=plan, state=state, summary=summary, verdict=verdict)
        await execute(FINISH_DEPLOY_WATCH, finish)
        self._result = WatchResult(
            watch_id=workflow.info().workflow_id, state=state, summary=summary, verdict=verdict
        )
        return self._result
