"""Each rule of a deploy watch, through the real DeploymentWatchWorkflow on the time-skipping test
server, at its threshold, just below it and just above it: the workflow's verdict and the rule that
fired, with the numbers it fired on. Thresholds are "at least" (`domain.deploy.rules`): a value at
the threshold fires. The error ratio's factor and floor, and the p99's factor and increase, are
each tested with the other condition well met; the traffic floor with an error ratio 500× its
baseline. A newer revision told by the `newer_revision` signal supersedes a watch waiting on its
timer.

One test server and one worker serve the whole module (each case is its own workflow; the fakes
answer by workflow id), so that the cases cost their workflow alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.deploy.model import DeployEvent, RuleName, Signals, WatchRules
from domain.deploy.watch import (
    DeployWatchPlan,
    FinishWatch,
    SampleInput,
    SampleResult,
    WatchResult,
    WorkloadSignals,
)
from integrations.temporal.converter import DATA_CONVERTER
from tests.conftest import venv_binary
from tests.workflows.test_deploy_watch_workflow import CART, REVISION
from tests.workflows.test_deploy_watch_workflow import QUIET as STEADY
from workers.main import workflow_runner
from workflows.deploy import DeploymentWatchWorkflow
from workflows.deploy.workflow import NEWER_REVISION

# The default thresholds; a window of three samples keeps each case short.
RULES = WatchRules(analysis_window_seconds=600, sample_interval_seconds=200)
SAMPLES_TO_THE_END = 1 + 3  # the baseline, then one sample per interval
SAMPLES_TO_THE_FIRST = 1 + 1


@dataclass
class Watch:
    baseline: Signals
    after: Signals
    health: str = "Healthy"
    # the deploy syncs as its workflow starts, by the server's clock (which earlier cases moved on)
    synced: datetime = datetime.min.replace(tzinfo=UTC)
    samples: list[SampleInput] = field(default_factory=list)
    finished: list[FinishWatch] = field(default_factory=list)


class Fakes:
    """The deploy watch's activities by name, answering each workflow (by its id) from its `Watch`."""

    def __init__(self) -> None:
        self.watches: dict[str, Watch] = {}

    def _watch(self) -> Watch:
        return self.watches[activity.info().workflow_id]

    def activities(self) -> list[Any]:
        @activity.defn(name="plan_deploy_watch")
        async def plan(e: DeployEvent) -> DeployWatchPlan:
            assert e.synced_at is not None
            return DeployWatchPlan(event=e, synced_at=e.synced_at, workloads=[CART], rules=RULES)

        @activity.defn(name="sample_deploy_signals")
        async def sample(s: SampleInput) -> SampleResult:
            watch = self._watch()
            watch.samples.append(s)
            before = s.end <= watch.synced
            return SampleResult(
                signals=[WorkloadSignals(workload=CART, signals=watch.baseline if before else watch.after)],
                health="Healthy" if before else watch.health,
                revision=REVISION,
            )

        @activity.defn(name="finish_deploy_watch")
        async def finish(f: FinishWatch) -> bool:
            self._watch().finished.append(f)
            return True

        return [plan, sample, finish]


@dataclass
class Server:
    env: WorkflowEnvironment
    queue: str
    fakes: Fakes

    async def start(self, watch: Watch) -> Any:
        workflow_id = f"deploy-threshold-{uuid.uuid4()}"
        self.fakes.watches[workflow_id] = watch
        watch.synced = (await self.env.get_current_time()).replace(microsecond=0)
        event = DeployEvent(
            application="shop-cart",
            app_namespace="argocd",
            revision=REVISION,
            previous_revision="9" * 40,
            synced_at=watch.synced,
            source="notification",
        )
        return await self.env.client.start_workflow(
            DeploymentWatchWorkflow.run, event, id=workflow_id, task_queue=self.queue
        )

    async def run(self, watch: Watch) -> WatchResult:
        handle = await self.start(watch)
        result: WatchResult = await handle.result()
        return result


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server() -> AsyncIterator[Server]:
    """One time-skipping server and one worker for the module. Each case runs its workflow to the
    end before the next starts, so no workflow of another case holds the server's clock."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=venv_binary("temporal-test-server")
    )
    fakes = Fakes()
    queue = f"thresholds-{uuid.uuid4()}"
    try:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[DeploymentWatchWorkflow],
            workflow_runner=workflow_runner(),
            activities=fakes.activities(),
        ):
            yield Server(env, queue, fakes)
    finally:
        await env.shutdown()


def changed(**update: float) -> Signals:
    return STEADY.model_copy(update=update)


@dataclass(frozen=True)
class Case:
    """A baseline and an after; `fires` the rule expected with its (baseline, observed), or None."""

    baseline: Signals
    after: Signals
    fires: tuple[RuleName, float | None, float | None] | None
    health: str = "Healthy"
    # how many samples (baseline included) the verdict took: window rules wait for its end
    samples: int = SAMPLES_TO_THE_END


def window_rule(rule: RuleName, before: Signals, after: Signals, fired: bool, was: float, now: float) -> Case:
    return Case(before, after, (rule, was, now) if fired else None)


def count_rule(rule: RuleName, before: Signals, after: Signals, fired: bool, was: float, now: float) -> Case:
    # counts are judged at every sample: one that fires decides at the first
    return Case(
        before,
        after,
        (rule, was, now) if fired else None,
        samples=SAMPLES_TO_THE_FIRST if fired else SAMPLES_TO_THE_END,
    )


CASES: dict[str, Case] = {
    # error ratio, the factor (≥3× the baseline of 1%; the 1% floor is met throughout)
    "error-factor-below": window_rule(
        "error_ratio", changed(error_ratio=0.01), changed(error_ratio=0.0299), False, 0.01, 0.0299
    ),
    "error-factor-at": window_rule(
        "error_ratio", changed(error_ratio=0.01), changed(error_ratio=0.03), True, 0.01, 0.03
    ),
    "error-factor-above": window_rule(
        "error_ratio", changed(error_ratio=0.01), changed(error_ratio=0.0301), True, 0.01, 0.0301
    ),
    # 3 × 0.1 is 0.30000000000000004 in floats: 0.3 is still "at" the threshold
    "error-factor-at-rounded": window_rule(
        "error_ratio", changed(error_ratio=0.1), changed(error_ratio=0.3), True, 0.1, 0.3
    ),
    # error ratio, the floor (≥1%; from 0.1%, every value here is far above 3×)
    "error-floor-below": window_rule(
        "error_ratio", changed(error_ratio=0.001), changed(error_ratio=0.0099), False, 0.001, 0.0099
    ),
    "error-floor-at": window_rule(
        "error_ratio", changed(error_ratio=0.001), changed(error_ratio=0.01), True, 0.001, 0.01
    ),
    "error-floor-above": window_rule(
        "error_ratio", changed(error_ratio=0.001), changed(error_ratio=0.0101), True, 0.001, 0.0101
    ),
    # p99, the factor (≥1.5× a baseline of 400 ms; every value is ≥100 ms slower)
    "p99-factor-below": window_rule("p99_latency", changed(p99_ms=400), changed(p99_ms=599), False, 400, 599),
    "p99-factor-at": window_rule("p99_latency", changed(p99_ms=400), changed(p99_ms=600), True, 400, 600),
    "p99-factor-above": window_rule("p99_latency", changed(p99_ms=400), changed(p99_ms=601), True, 400, 601),
    # p99, the increase (≥100 ms slower than a baseline of 100 ms; every value is ≥1.5×)
    "p99-increase-below": window_rule(
        "p99_latency", changed(p99_ms=100), changed(p99_ms=199.9), False, 100, 199.9
    ),
    "p99-increase-at": window_rule("p99_latency", changed(p99_ms=100), changed(p99_ms=200), True, 100, 200),
    "p99-increase-above": window_rule(
        "p99_latency", changed(p99_ms=100), changed(p99_ms=200.1), True, 100, 200.1
    ),
    # 1.5 × 200.3 is 300.45000000000005 in floats; 128.2 - 28.2 is 99.99999999999999
    "p99-factor-at-rounded": window_rule(
        "p99_latency", changed(p99_ms=200.3), changed(p99_ms=300.45), True, 200.3, 300.45
    ),
    "p99-increase-at-rounded": window_rule(
        "p99_latency", changed(p99_ms=28.2), changed(p99_ms=128.2), True, 28.2, 128.2
    ),
    # crash loop: at least 2 more restarts (Prometheus' increase() extrapolates: counts need not be whole)
    "crash-loop-below": count_rule("crash_loop", changed(restarts=1), changed(restarts=2.9), False, 1, 2.9),
    "crash-loop-at": count_rule("crash_loop", changed(restarts=1), changed(restarts=3), True, 1, 3),
    "crash-loop-above": count_rule("crash_loop", changed(restarts=1), changed(restarts=4), True, 1, 4),
    # OOM kills: at least 1 more
    "oom-below": count_rule("oom_kill", changed(oom_kills=0), changed(oom_kills=0.9), False, 0, 0.9),
    "oom-at": count_rule("oom_kill", changed(oom_kills=0), changed(oom_kills=1), True, 0, 1),
    "oom-above": count_rule("oom_kill", changed(oom_kills=0), changed(oom_kills=2), True, 0, 2),
    # readiness: at least 25 points lower
    "readiness-below": window_rule(
        "readiness", changed(ready_ratio=1), changed(ready_ratio=0.76), False, 1, 0.76
    ),
    "readiness-at": window_rule(
        "readiness", changed(ready_ratio=1), changed(ready_ratio=0.75), True, 1, 0.75
    ),
    "readiness-above": window_rule(
        "readiness", changed(ready_ratio=1), changed(ready_ratio=0.74), True, 1, 0.74
    ),
    # 0.7 - 0.45 is 0.24999999999999994 in floats
    "readiness-at-rounded": window_rule(
        "readiness", changed(ready_ratio=0.7), changed(ready_ratio=0.45), True, 0.7, 0.45
    ),
    # the traffic floor (0.1 req/s after the sync): an error ratio 500× its baseline is judged only
    # from the floor up; below it, a quiet service's change fires nothing
    "traffic-quiet": window_rule(
        "error_ratio",
        changed(request_rate=0.01, error_ratio=0.001),
        changed(request_rate=0.01, error_ratio=0.5),
        False,
        0.001,
        0.5,
    ),
    "traffic-below": window_rule(
        "error_ratio",
        changed(error_ratio=0.001),
        changed(request_rate=0.099, error_ratio=0.5),
        False,
        0.001,
        0.5,
    ),
    "traffic-at": window_rule(
        "error_ratio",
        changed(error_ratio=0.001),
        changed(request_rate=0.1, error_ratio=0.5),
        True,
        0.001,
        0.5,
    ),
    "traffic-above": window_rule(
        "error_ratio",
        changed(error_ratio=0.001),
        changed(request_rate=0.101, error_ratio=0.5),
        True,
        0.001,
        0.5,
    ),
    # Argo CD health: Degraded decides at the first sample; any other health does not fire
    "health-progressing": Case(STEADY, STEADY, None, health="Progressing"),
    "health-degraded": Case(
        STEADY, STEADY, ("health_degraded", None, None), health="Degraded", samples=SAMPLES_TO_THE_FIRST
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_each_rule_at_below_and_above_its_threshold(server: Server, name: str) -> None:
    case = CASES[name]
    watch = Watch(case.baseline, case.after, case.health)
    result = await server.run(watch)

    assert len(watch.samples) == case.samples, [s.end - watch.synced for s in watch.samples]
    assert [f.state for f in watch.finished] == [result.state]
    assert result.verdict is not None
    fired = [(f.rule, f.baseline, f.observed) for f in result.verdict.fired]
    if case.fires is None:
        assert result.state == "healthy", result.summary
        assert fired == []
        if name.startswith("traffic"):
            assert any("too little traffic" in note for note in result.verdict.notes), result.verdict.notes
    else:
        assert result.state == "degraded", result.summary
        rule, was, now = case.fires
        assert fired == [(rule, was, now)]
        assert result.summary.startswith("deploy 4f2c9e1 of shop-cart")


async def test_the_newer_revision_signal_supersedes_a_watch_waiting_on_its_timer(server: Server) -> None:
    watch = Watch(STEADY, STEADY)
    handle = await server.start(watch)
    # Time is not skipped until the result is awaited: the watch waits on its first timer.
    deadline = asyncio.get_running_loop().time() + 10
    while await handle.query(DeploymentWatchWorkflow.status) != "watching":
        assert asyncio.get_running_loop().time() < deadline, "the watch did not take its baseline"
        await asyncio.sleep(0.02)
    await handle.signal(NEWER_REVISION, "c" * 40)
    result: WatchResult = await handle.result()

    assert result.state == "superseded" and "ccccccc was deployed" in result.summary
    assert len(watch.samples) == 1  # the baseline alone: no sample after the signal
    assert [f.state for f in watch.finished] == ["superseded"]
    assert await handle.query(DeploymentWatchWorkflow.status) == "superseded"
