"""Runs that have begun go first: every activity after a run's first workflow task is scheduled with
a higher task-queue priority than the ones its first task schedules (workflows/runner.py), as the
real dev server records them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from workers.main import workflow_runner
    from workflows.runner import IN_FLIGHT, StepOptions, Stub, execute

STEP = Stub("priority_step", str, str, StepOptions(timedelta(seconds=10), RetryPolicy(maximum_attempts=1)))


@activity.defn(name="priority_step")
async def priority_step(name: str) -> str:
    return name


@workflow.defn(sandboxed=False)
class ThreeSteps:
    @workflow.run
    async def run(self) -> list[str]:
        return [await execute(STEP, name) for name in ("first", "second", "third")]


async def test_only_a_runs_first_activities_keep_the_default_priority(dev_client: Client) -> None:
    queue = f"priority-{uuid.uuid4()}"
    async with Worker(
        dev_client,
        task_queue=queue,
        workflows=[ThreeSteps],
        activities=[priority_step],
        workflow_runner=workflow_runner(),
    ):
        handle = await dev_client.start_workflow(ThreeSteps.run, id=queue, task_queue=queue)
        assert await handle.result() == ["first", "second", "third"]
    keys = [
        event.activity_task_scheduled_event_attributes.priority.priority_key
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert IN_FLIGHT.priority_key == 2
    assert keys == [0, 2, 2]  # 0: unset, the server's default (3)
