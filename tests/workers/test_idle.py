"""Runs that wait leave the worker's memory after a while idle, and come back by replay when they
have work again; runs in flight stay."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.bridge.proto.workflow_activation import (
    FireTimer,
    QueryWorkflow,
    ResolveActivity,
    SignalWorkflow,
    WorkflowActivation,
    WorkflowActivationJob,
)
from temporalio.bridge.proto.workflow_commands import (
    CancelTimer,
    ScheduleActivity,
    StartTimer,
    WorkflowCommand,
)
from temporalio.bridge.proto.workflow_completion import Success, WorkflowActivationCompletion
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from workers.idle import IdleRuns, evict_idle_runs
    from workers.main import workflow_runner


@workflow.defn
class WaitsForAPerson:
    def __init__(self) -> None:
        self.decided = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.decided)
        return "decided"

    @workflow.signal
    def decide(self) -> None:
        self.decided = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def activation(*jobs: WorkflowActivationJob) -> WorkflowActivation:
    return WorkflowActivation(run_id="r", jobs=list(jobs))


def completion(*commands: WorkflowCommand) -> WorkflowActivationCompletion:
    return WorkflowActivationCompletion(run_id="r", successful=Success(commands=list(commands)))


class Instance:
    """Answers each activation with the commands it is given next."""

    def __init__(self) -> None:
        self.answers: list[WorkflowActivationCompletion] = []

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self.answers.pop(0) if self.answers else completion()


class Runner:
    def prepare_workflow(self, defn: Any) -> None: ...

    def create_instance(self, det: Any) -> Any:
        return Instance()

    def set_worker_level_failure_exception_types(self, types: Any) -> None: ...


class Details:
    def __init__(self, run_id: str) -> None:
        self.info = type("Info", (), {"run_id": run_id})()


def runs_of(clock: Clock, *names: str) -> tuple[IdleRuns, dict[str, Any]]:
    runs = IdleRuns(Runner(), clock)  # type: ignore[arg-type]
    return runs, {name: runs.create_instance(Details(name)) for name in names}  # type: ignore[arg-type]


def test_a_run_is_named_idle_once_after_its_last_work_and_forgotten_when_dropped() -> None:
    clock = Clock()
    runs, made = runs_of(clock, "a", "b", "c")
    clock.now += 50
    made["a"].activate(
        activation(WorkflowActivationJob(signal_workflow=SignalWorkflow(signal_name="decide")))
    )
    clock.now += 5
    made["b"].activate(activation(WorkflowActivationJob(query_workflow=QueryWorkflow(query_type="status"))))
    clock.now += 5
    assert sorted(runs.idle(60)) == ["b", "c"]  # a query is not work
    assert runs.idle(60) == []  # each named once
    clock.now += 50
    assert runs.idle(60) == ["a"]
    del made["b"], made["c"]
    kept = runs.create_instance(Details("d"))  # type: ignore[arg-type]
    assert len(runs) == 1 and kept is not None  # "a" was named, "b" and "c" were dropped


def test_a_run_waiting_for_its_activity_is_never_idle_and_is_once_the_result_is_in() -> None:
    clock = Clock()
    runs, made = runs_of(clock, "a")
    instance = made["a"]
    instance._inner.answers.append(completion(WorkflowCommand(schedule_activity=ScheduleActivity(seq=3))))
    instance.activate(activation(WorkflowActivationJob(fire_timer=FireTimer(seq=1))))
    clock.now += 3600  # queued behind a thousand others
    assert runs.idle(60) == []
    instance.activate(activation(WorkflowActivationJob(resolve_activity=ResolveActivity(seq=3))))
    clock.now += 61
    assert runs.idle(60) == ["a"]


def timer(seq: int, seconds: int) -> WorkflowCommand:
    return WorkflowCommand(start_timer=StartTimer(seq=seq, start_to_fire_timeout=Duration(seconds=seconds)))


def test_a_run_with_no_timer_due_within_the_idle_time_leaves_after_the_grace() -> None:
    clock = Clock()
    runs, made = runs_of(clock, "approval", "poll", "plain", "cancelled")
    signal = activation(WorkflowActivationJob(signal_workflow=SignalWorkflow(signal_name="alert")))
    made["approval"]._inner.answers.append(completion(timer(1, 4 * 3600)))  # its deadline
    made["poll"]._inner.answers.append(completion(timer(1, 30)))  # a pull request's next look
    made["cancelled"]._inner.answers.append(completion(timer(1, 20), timer(2, 3600)))
    made["cancelled"]._inner.answers.append(completion(WorkflowCommand(cancel_timer=CancelTimer(seq=1))))
    for name in ("approval", "poll", "plain", "cancelled"):
        made[name].activate(signal)
    made["cancelled"].activate(signal)
    clock.now += 4
    assert runs.idle(60, grace=5) == []  # within the grace, everyone stays
    clock.now += 1
    assert sorted(runs.idle(60, grace=5)) == ["approval", "cancelled", "plain"]
    # The poll's timer fires and it looks again in 30 s: it works more often than the idle time,
    # so it stays in the cache instead of being replayed at each look.
    made["poll"]._inner.answers.append(completion(timer(2, 30)))
    clock.now += 25
    made["poll"].activate(activation(WorkflowActivationJob(fire_timer=FireTimer(seq=1))))
    clock.now += 29
    assert runs.idle(60, grace=5) == []
    # Once the timer due next is further away than the idle time, the grace applies to it too.
    made["poll"]._inner.answers.append(completion(timer(3, 600)))
    made["poll"].activate(activation(WorkflowActivationJob(fire_timer=FireTimer(seq=2))))
    clock.now += 5
    assert runs.idle(60, grace=5) == ["poll"]


def test_without_a_grace_only_the_idle_time_counts() -> None:
    clock = Clock()
    runs, made = runs_of(clock, "approval")
    made["approval"]._inner.answers.append(completion(timer(1, 4 * 3600)))
    made["approval"].activate(
        activation(WorkflowActivationJob(signal_workflow=SignalWorkflow(signal_name="a")))
    )
    clock.now += 59
    assert runs.idle(60) == []
    clock.now += 1
    assert runs.idle(60) == ["approval"]


async def test_a_waiting_run_is_evicted_and_replayed_when_its_decision_comes(dev_client: Client) -> None:
    created: list[str] = []
    runs = IdleRuns(workflow_runner())
    make = runs.create_instance

    def counting(det: Any) -> Any:
        created.append(det.info.run_id)
        return make(det)

    runs.create_instance = counting  # type: ignore[method-assign]
    queue = f"idle-{uuid.uuid4()}"
    async with Worker(
        dev_client, task_queue=queue, workflows=[WaitsForAPerson], workflow_runner=runs
    ) as worker:
        evicting = asyncio.create_task(evict_idle_runs(worker, runs, idle_seconds=0.5))
        handle = await dev_client.start_workflow(
            WaitsForAPerson.run, id=f"idle-{uuid.uuid4()}", task_queue=queue
        )
        async with asyncio.timeout(20):
            while not created:
                await asyncio.sleep(0.05)
            while len(runs) > 0:  # evicted: the worker dropped its instance
                await asyncio.sleep(0.1)
        await handle.signal(WaitsForAPerson.decide)
        assert await handle.result() == "decided"
        evicting.cancel()
    assert created == [handle.result_run_id, handle.result_run_id]  # made again to replay the decision


async def test_off_when_the_idle_time_is_zero(dev_client: Client) -> None:
    runs = IdleRuns(workflow_runner())
    async with Worker(
        dev_client, task_queue=f"idle-{uuid.uuid4()}", workflows=[WaitsForAPerson], workflow_runner=runs
    ) as worker:
        await asyncio.wait_for(evict_idle_runs(worker, runs, 0), 1)
