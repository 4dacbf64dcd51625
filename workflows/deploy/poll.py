"""DeployPollWorkflow: the fallback for a lost Argo CD notification.

    list the deploys in Argo CD's sync histories that finished within the lookback window, a page
    at a time (`list_recent_deploys`)
    → for each, a child DeploymentWatchWorkflow with the watch's id (`DeployEvent.watch_id`)

Started by a Temporal Schedule (`medic schedules apply`, every MEDIC_DEPLOY_POLL_SECONDS). The
watch id is the one the notification uses and its reuse policy refuses a second start, so a
deploy already watched (the notification arrived, or an earlier poll saw it) starts nothing and
is counted as already watched. Orchestration only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.deploy.stubs import LIST_RECENT_DEPLOYS
from workflows.deploy.workflow import DeploymentWatchWorkflow
from workflows.runner import execute

with workflow.unsafe.imports_passed_through():
    from domain.deploy.poll import DeployPollInput, DeployPollPage, DeployPollResult


@workflow.defn
class DeployPollWorkflow:
    @workflow.run
    async def run(self, input: DeployPollInput) -> DeployPollResult:
        # One window for every page, from when the poll started (not when a page is read).
        since = workflow.now() - timedelta(seconds=input.lookback_seconds)
        started: list[str] = []
        already = applications = 0
        offset: int | None = 0
        while offset is not None:
            page = await execute(
                LIST_RECENT_DEPLOYS,
                DeployPollPage(
                    since=since, offset=offset, limit=input.page_size, delivery=workflow.info().workflow_id
                ),
            )
            if page.watch_off:
                return DeployPollResult(note="the deploy watch is off (MEDIC_DEPLOY_WATCH=false)")
            applications = max(applications, page.applications)
            for event in page.events:
                try:
                    await workflow.start_child_workflow(
                        DeploymentWatchWorkflow.run,
                        event,
                        id=event.watch_id,
                        task_queue=workflow.info().task_queue,
                        # The watch lasts its analysis window, longer than a poll.
                        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    )
                except WorkflowAlreadyStartedError:
                    already += 1
                    continue
                started.append(event.watch_id)
            offset = page.next_offset
        return DeployPollResult(started=started, already_watched=already, applications=applications)
