"""The worker admits runs into their steps a bounded number at a time: a poll for new runs waits
while the runs in flight are at the limit; runs already in the cache (sticky polls) never wait."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import SlotPermit, SlotReleaseContext, Worker

with workflow.unsafe.imports_passed_through():
    from workers.admission import RunAdmission, admission_tuner
    from workers.idle import IdleRuns
    from workers.main import workflow_runner


@dataclass
class Poll:
    is_sticky: bool
    slot_type: str = "workflow"
    task_queue: str = "q"
    worker_identity: str = "w"
    worker_build_id: str = ""
    worker_deployment_version: None = None


def release(admission: RunAdmission, permit: SlotPermit) -> None:
    admission.release_slot(SlotReleaseContext(slot_info=None, permit=permit))


async def test_a_poll_for_new_runs_waits_while_the_runs_in_flight_are_at_the_limit() -> None:
    in_flight = [3]
    admission = RunAdmission(3, lambda: in_flight[0], max_wait=30, recheck=0.01)
    assert await asyncio.wait_for(admission.reserve_slot(Poll(is_sticky=True)), 1)  # in the cache: at once
    assert admission.try_reserve_slot(Poll(is_sticky=False)) is None
    waiting = asyncio.create_task(admission.reserve_slot(Poll(is_sticky=False)))
    await asyncio.sleep(0.1)
    assert not waiting.done() and admission.held_back == 1
    in_flight[0] = 2
    assert await asyncio.wait_for(waiting, 1)
    assert admission.taken == 2


async def test_the_limit_is_soft_a_held_poll_goes_after_max_wait() -> None:
    admission = RunAdmission(1, lambda: 5, max_wait=0.2, recheck=0.01)
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(admission.reserve_slot(Poll(is_sticky=False)), 2)
    assert asyncio.get_running_loop().time() - started >= 0.2


async def test_slots_are_capped_and_given_back() -> None:
    admission = RunAdmission(0, lambda: 10_000, slots=1, recheck=0.01)  # 0: no admission limit
    first = await asyncio.wait_for(admission.reserve_slot(Poll(is_sticky=False)), 1)
    second = asyncio.create_task(admission.reserve_slot(Poll(is_sticky=True)))
    await asyncio.sleep(0.05)
    assert not second.done()
    release(admission, first)
    assert await asyncio.wait_for(second, 1)
    assert admission.taken == 1


GATE = asyncio.Event()
RUNNING: list[str] = []
MOST_AT_ONCE: list[int] = [0]


@activity.defn
async def hold() -> None:
    RUNNING.append(activity.info().workflow_id)
    MOST_AT_ONCE[0] = max(MOST_AT_ONCE[0], len(RUNNING))
    await GATE.wait()
    RUNNING.remove(activity.info().workflow_id)


@workflow.defn
class OneStep:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(hold, start_to_close_timeout=timedelta(seconds=60))
        return "done"


async def test_a_worker_takes_new_runs_only_as_the_runs_in_flight_finish(dev_client: Client) -> None:
    GATE.clear()
    RUNNING.clear()
    MOST_AT_ONCE[0] = 0
    runs = IdleRuns(workflow_runner())
    admission = RunAdmission(1, runs.in_flight, max_wait=60)
    queue = f"admission-{uuid.uuid4()}"
    async with Worker(
        dev_client,
        task_queue=queue,
        workflows=[OneStep],
        activities=[hold],
        workflow_runner=runs,
        tuner=admission_tuner(admission, 10),
        max_concurrent_workflow_task_polls=2,
    ):
        handles = [
            await dev_client.start_workflow(OneStep.run, id=f"admission-{uuid.uuid4()}", task_queue=queue)
            for _ in range(5)
        ]
        await asyncio.sleep(2)
        # Without the limit all five would hold an activity now; a poll that was already on its way
        # when the first run began may let one more in.
        assert 1 <= MOST_AT_ONCE[0] <= 2, MOST_AT_ONCE
        assert admission.held_back >= 1
        GATE.set()
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    assert results == ["done"] * 5
