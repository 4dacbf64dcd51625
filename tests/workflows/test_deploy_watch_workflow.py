"""DeploymentWatchWorkflow on the time-skipping test server, every activity replaced by name: a
healthy deploy judged at the end of its window, an error-ratio rise found degraded there, a crash
loop found at the first sample (before the window ends), a newer revision superseding the watch,
and nothing to watch."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.deploy.model import DeployEvent, Signals, WatchRules, WorkloadRef
from domain.deploy.watch import (
    DeployWatchPlan,
    FinishWatch,
    SampleInput,
    SampleResult,
    WatchResult,
    WorkloadSignals,
)
from tests.conftest import keep_history
from workers.main import workflow_runner
from workflows.deploy import DeploymentWatchWorkflow

CART = WorkloadRef(namespace="shop", kind="Deployment", name="cart")
REVISION = "4f2c9e1b7a3d" + "0" * 28
QUIET = Signals(request_rate=20, error_ratio=0.001, p99_ms=180, restarts=0, ready_ratio=1, oom_kills=0)


def now() -> datetime:
    # The time-skipping server's clock starts at the wall clock's: the deploy has just synced.
    return datetime.now(UTC).replace(microsecond=0)


def event(synced: datetime) -> DeployEvent:
    return DeployEvent(
        application="shop-cart",
        app_namespace="argocd",
        revision=REVISION,
        previous_revision="9" * 40,
        synced_at=synced,
        source="notification",
    )


@dataclass
class Fakes:
    after: Signals = QUIET
    synced: datetime = field(default_factory=now)
    revision: str = REVISION
    workloads: list[WorkloadRef] = field(default_factory=lambda: [CART])
    samples: list[SampleInput] = field(default_factory=list)
    finished: list[FinishWatch] = field(default_factory=list)

    def activities(self) -> list[Any]:
        @activity.defn(name="plan_deploy_watch")
        async def plan(e: DeployEvent) -> DeployWatchPlan:
            note = "" if self.workloads else "Application shop-cart manages no Deployment"
            assert e.synced_at is not None
            return DeployWatchPlan(
                event=e, synced_at=e.synced_at, workloads=self.workloads, rules=WatchRules(), note=note
            )

        @activity.defn(name="sample_deploy_signals")
        async def sample(s: SampleInput) -> SampleResult:
            self.samples.append(s)
            before = s.end <= self.synced
            signals = QUIET if before else self.after
            return SampleResult(
                signals=[WorkloadSignals(workload=CART, signals=signals)],
                health="Healthy",
                revision=self.revision,
            )

        @activity.defn(name="finish_deploy_watch")
        async def finish(f: FinishWatch) -> bool:
            self.finished.append(f)
            return True

        return [plan, sample, finish]


async def watch(env: WorkflowEnvironment, fakes: Fakes, name: str) -> WatchResult:
    queue = f"test-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[DeploymentWatchWorkflow],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        handle = await env.client.start_workflow(
            DeploymentWatchWorkflow.run,
            event(fakes.synced),
            id=f"{event(fakes.synced).watch_id}-{name}",
            task_queue=queue,
        )
        result = await handle.result()
        await keep_history(handle, f"deploy-watch-{name}")
        return result


async def test_a_healthy_deploy_is_judged_at_the_end_of_its_window(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    result = await watch(time_skipping_env, fakes, "healthy")
    assert result.state == "healthy", result.summary
    # one baseline, then a sample a minute for ten minutes
    assert len(fakes.samples) == 11
    baseline = fakes.samples[0]
    assert (baseline.end - baseline.start).total_seconds() == 600
    assert fakes.samples[-1].end == fakes.synced + timedelta(minutes=10)
    assert [f.state for f in fakes.finished] == ["healthy"]


async def test_an_error_ratio_rise_is_degraded_with_the_numbers(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(after=QUIET.model_copy(update={"error_ratio": 0.021}))
    result = await watch(time_skipping_env, fakes, "degraded")
    assert result.state == "degraded"
    assert result.verdict is not None and result.verdict.fired[0].rule == "error_ratio"
    assert "2.10%" in result.verdict.fired[0].message


async def test_a_crash_loop_is_found_at_the_first_sample(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(after=QUIET.model_copy(update={"restarts": 4}))
    result = await watch(time_skipping_env, fakes, "crash-loop")
    assert result.state == "degraded" and len(fakes.samples) == 2


async def test_a_newer_revision_supersedes_the_watch(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(revision="b" * 40)
    result = await watch(time_skipping_env, fakes, "superseded")
    assert result.state == "superseded" and "bbbbbbb was deployed" in result.summary
    assert [f.state for f in fakes.finished] == ["superseded"]


async def test_an_application_without_workloads_is_inconclusive_at_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(workloads=[])
    result = await watch(time_skipping_env, fakes, "nothing")
    assert result.state == "inconclusive" and "manages no Deployment" in result.summary
    assert fakes.samples == []
