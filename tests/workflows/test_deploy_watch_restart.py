"""A deploy watch survives its worker's restart, on the time-skipping test server: the first worker
plans the watch, takes the baseline and one sample, and is shut down while the watch waits on its
next timer; a second worker on the same task queue (a new process would be the same: it shares
nothing with the first) picks the watch up from its history and brings it to its verdict. Every
activity ran once, on its first attempt: the history replayed, nothing was executed again."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.deploy.model import DeployEvent, Signals, WatchRules
from domain.deploy.watch import (
    DeployWatchPlan,
    FinishWatch,
    SampleInput,
    SampleResult,
    WatchResult,
    WorkloadSignals,
)
from tests.workflows.test_deploy_watch_workflow import CART, REVISION
from workers.main import workflow_runner
from workflows.deploy import DeploymentWatchWorkflow

RULES = WatchRules(analysis_window_seconds=600, sample_interval_seconds=200)
BEFORE = Signals(request_rate=20, error_ratio=0.001, p99_ms=180, restarts=0, ready_ratio=1, oom_kills=0)
# p99 rises 2.5× over the window: judged only at its end, so the watch outlives the first worker
AFTER = BEFORE.model_copy(update={"p99_ms": 450})


@dataclass
class Record:
    """Each activity execution: (name, attempt) by the worker ("first" or "second") that ran it."""

    runs: list[tuple[str, str, int]] = field(default_factory=list)
    worker: str = "first"

    def activities(self, synced: Any) -> list[Any]:
        def ran(name: str) -> None:
            self.runs.append((self.worker, name, activity.info().attempt))

        @activity.defn(name="plan_deploy_watch")
        async def plan(e: DeployEvent) -> DeployWatchPlan:
            ran("plan")
            assert e.synced_at is not None
            return DeployWatchPlan(event=e, synced_at=e.synced_at, workloads=[CART], rules=RULES)

        @activity.defn(name="sample_deploy_signals")
        async def sample(s: SampleInput) -> SampleResult:
            ran("baseline" if s.end <= synced else "sample")
            signals = BEFORE if s.end <= synced else AFTER
            return SampleResult(
                signals=[WorkloadSignals(workload=CART, signals=signals)], health="Healthy", revision=REVISION
            )

        @activity.defn(name="finish_deploy_watch")
        async def finish(f: FinishWatch) -> bool:
            ran("finish")
            return True

        return [plan, sample, finish]


def worker(env: WorkflowEnvironment, queue: str, activities: list[Any], *, cache: int = 1000) -> Worker:
    return Worker(
        env.client,
        task_queue=queue,
        workflows=[DeploymentWatchWorkflow],
        workflow_runner=workflow_runner(),
        activities=activities,
        max_cached_workflows=cache,
    )


async def until(check: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.02)


async def test_a_watch_survives_a_worker_restart(time_skipping_env: WorkflowEnvironment) -> None:
    env = time_skipping_env
    synced = (await env.get_current_time()).replace(microsecond=0)
    event = DeployEvent(
        application="shop-cart",
        app_namespace="argocd",
        revision=REVISION,
        previous_revision="9" * 40,
        synced_at=synced,
        source="notification",
    )
    queue = f"restart-{uuid.uuid4()}"
    record = Record()
    activities = record.activities(synced)

    # No sticky queue for the first worker: with one, the test server kept the watch's next task on
    # the gone worker's queue and the second never got it. A restarted worker replays either way.
    async with worker(env, queue, activities, cache=0):
        handle = await env.client.start_workflow(
            DeploymentWatchWorkflow.run, event, id=f"{event.watch_id}-restart", task_queue=queue
        )

        async def watching() -> bool:
            return bool(await handle.query(DeploymentWatchWorkflow.status) == "watching")

        await until(watching, "the first worker did not take the baseline")
        # One sample interval of the watch's time: the first sample, then the next timer.
        await env.sleep(timedelta(seconds=RULES.sample_interval_seconds))

        async def sampled() -> bool:
            return [name for _, name, _ in record.runs] == ["plan", "baseline", "sample"]

        await until(sampled, f"the first worker did not take a sample: {record.runs}")
        assert await handle.query(DeploymentWatchWorkflow.status) == "watching"
    # The first worker is gone, mid-watch; the second starts with an empty cache.
    record.worker = "second"
    async with worker(env, queue, activities):
        result: WatchResult = await handle.result()

    assert result.state == "degraded", result.summary
    assert result.verdict is not None
    assert [(f.rule, f.baseline, f.observed) for f in result.verdict.fired] == [("p99_latency", 180, 450)]
    assert Counter(name for _, name, _ in record.runs) == {"plan": 1, "baseline": 1, "sample": 3, "finish": 1}
    assert all(attempt == 1 for _, _, attempt in record.runs), record.runs
    assert [(w, n) for w, n, _ in record.runs][:3] == [
        ("first", "plan"),
        ("first", "baseline"),
        ("first", "sample"),
    ]
    assert {w for w, n, _ in record.runs[3:]} == {"second"}, record.runs
