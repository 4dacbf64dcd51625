"""DeployPollWorkflow on the time-skipping test server, the listing replaced by name: a deploy no
watch exists for starts one (a child DeploymentWatchWorkflow with the watch's id, abandoned when the
poll ends), a deploy whose watch exists already is counted as watched, pages are followed, and with
the deploy watch off nothing starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.deploy.model import DeployEvent
from domain.deploy.poll import DeployPollInput, DeployPollPage, DeployPollResult, RecentDeploys
from domain.deploy.watch import DeployWatchPlan, FinishWatch
from tests.conftest import keep_history
from workers.main import workflow_runner
from workflows.deploy import DeploymentWatchWorkflow, DeployPollWorkflow


# The watch itself runs with a plan that has nothing to watch: it only has to exist under its id.
@activity.defn(name="plan_deploy_watch")
async def plan_nothing(event: DeployEvent) -> DeployWatchPlan:
    assert event.synced_at is not None
    return DeployWatchPlan(event=event, synced_at=event.synced_at, note="nothing to watch here")


@activity.defn(name="finish_deploy_watch")
async def finish(f: FinishWatch) -> bool:
    return True


def deploy(application: str) -> DeployEvent:
    token = uuid.uuid4().hex
    return DeployEvent(
        application=f"{application}-{token[:8]}",
        app_namespace="argocd",
        revision=token + "0" * 8,
        synced_at=datetime.now(UTC),
        source="poll",
    )


@dataclass
class Listing:
    pages: list[RecentDeploys]
    asked: list[DeployPollPage] = field(default_factory=list)

    def activity(self) -> Any:
        @activity.defn(name="list_recent_deploys")
        async def list_recent_deploys(page: DeployPollPage) -> RecentDeploys:
            self.asked.append(page)
            return self.pages[len(self.asked) - 1]

        return list_recent_deploys


async def poll(env: WorkflowEnvironment, listing: Listing, queue: str, name: str = "") -> DeployPollResult:
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[DeployPollWorkflow, DeploymentWatchWorkflow],
        workflow_runner=workflow_runner(),
        activities=[listing.activity(), plan_nothing, finish],
    ):
        handle = await env.client.start_workflow(
            DeployPollWorkflow.run, DeployPollInput(), id=f"deploy-poll-{uuid.uuid4()}", task_queue=queue
        )
        result = await handle.result()
        if name:
            await keep_history(handle, name)
        return result


async def test_a_deploy_not_yet_watched_starts_one_and_a_watched_one_is_counted(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, queue = time_skipping_env, f"test-{uuid.uuid4()}"
    lost, told = deploy("cart"), deploy("ledger")
    # The notification of `told` arrived: its watch exists (and has ended).
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[DeploymentWatchWorkflow],
        workflow_runner=workflow_runner(),
        activities=[plan_nothing, finish],
    ):
        await env.client.execute_workflow(
            DeploymentWatchWorkflow.run, told, id=told.watch_id, task_queue=queue
        )

    listing = Listing([RecentDeploys(events=[lost, told], applications=2)])
    # the server's clock (it skips time): the window is read against it, not the wall clock
    before = await env.get_current_time()
    result = await poll(env, listing, queue, "deploy-poll-started-and-watched")
    after = await env.get_current_time()

    assert result.started == [lost.watch_id] and result.already_watched == 1 and result.applications == 2
    watch = await env.client.get_workflow_handle(lost.watch_id).describe()
    assert watch.workflow_type == "DeploymentWatchWorkflow"
    (page,) = listing.asked
    lookback = timedelta(seconds=DeployPollInput().lookback_seconds)  # 15 minutes
    assert before - lookback - timedelta(seconds=1) <= page.since <= after - lookback


async def test_pages_are_followed_and_a_second_poll_starts_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, queue = time_skipping_env, f"test-{uuid.uuid4()}"
    first, second = deploy("cart"), deploy("search")
    pages = [RecentDeploys(events=[first], next_offset=1), RecentDeploys(events=[second])]
    listing = Listing(pages)
    result = await poll(env, listing, queue)
    assert result.started == [first.watch_id, second.watch_id]
    assert [p.offset for p in listing.asked] == [0, 1]

    again = await poll(env, Listing(pages), queue)
    assert again.started == [] and again.already_watched == 2


async def test_with_the_deploy_watch_off_the_poll_starts_nothing_and_says_so(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    result = await poll(time_skipping_env, Listing([RecentDeploys(watch_off=True)]), f"test-{uuid.uuid4()}")
    assert result.started == [] and "MEDIC_DEPLOY_WATCH=false" in result.note
