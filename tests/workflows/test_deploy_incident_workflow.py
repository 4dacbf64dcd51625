"""A degraded deploy's incident, on the time-skipping test server, every activity replaced by name.

The watch: a degraded verdict starts one child RemediationWorkflow (id from the watch id, source
`deploy`, the worker's remediation settings) and records its id on the row; a second run of the
same watch starts none. The incident: its revert pull request is opened before the approval (the
notification names it), then merged by medic, synced and verified; a rejection closes it; a policy
that auto-approves merges it without a human; a revert that does not recover fails.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from domain.analysis.plan import Plan, RevertDeploy
from domain.deploy.model import DeployEvent, DeployRegression, Verdict, WatchRules
from domain.deploy.watch import DeployWatchPlan, WatchResult
from domain.incident.model import Incident
from domain.notifications.model import NotificationLinks
from domain.notifications.render import slack_message, webhook_payload
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationInput, RemediationResult
from tests.conftest import HISTORIES, keep_history, wait_for_step
from tests.workflows import test_deploy_watch_workflow as watch_tests
from tests.workflows.fakes import Sent, policy, replaced
from tests.workflows.test_gitops_workflow import APP, TARGET, approve, pr_event, wait_for
from tests.workflows.test_gitops_workflow import Fakes as GitOpsFakes
from tests.workflows.test_notifications import patch_markers
from workers.main import workflow_runner
from workflows.deploy import DeploymentWatchWorkflow
from workflows.deploy.workflow import PATCH_DEPLOY_INCIDENT, deploy_incident_id
from workflows.remediation import RemediationWorkflow

# ---- the watch opens the incident ---------------------------------------------------------------

DEFAULTS = RemediationInput(
    incident=Incident(id="placeholder", source="deploy"), approval_timeout_seconds=1800, notify=True
)


@workflow.defn(name="RemediationWorkflow")
class IncidentStandIn:
    """Stands in for the incident the watch starts: tells the test what it was given."""

    @workflow.run
    async def run(self, input: RemediationInput) -> RemediationResult:
        await workflow.execute_activity(
            "incident_started", input, start_to_close_timeout=timedelta(seconds=10)
        )
        return RemediationResult(incident_id=input.incident.id, outcome="no_action")


@dataclass
class WatchFakes(watch_tests.Fakes):
    started: list[RemediationInput] = field(default_factory=list)
    made_by: list[str] = field(default_factory=list)
    rules: WatchRules = field(default_factory=WatchRules)

    def activities(self) -> list[Any]:
        activities = super().activities()
        (plan_fake,) = [a for a in activities if a.__name__ == "plan"]

        @activity.defn(name="plan_deploy_watch")
        async def plan(e: DeployEvent) -> DeployWatchPlan:
            found: DeployWatchPlan = await plan_fake(e)
            return found.model_copy(
                update={
                    "remediation": DEFAULTS,
                    "commits": ["4f2c9e1 cart: new pricing"],
                    "made_by": self.made_by,
                    "rules": self.rules,
                }
            )

        @activity.defn(name="incident_started")
        async def incident_started(input: RemediationInput) -> None:
            self.started.append(input)

        return replaced(activities, plan, incident_started)


async def run_watch(
    env: WorkflowEnvironment, fakes: WatchFakes, times: int = 1
) -> tuple[WatchResult, str, WorkflowHistory]:
    """The watch of `fakes`' deploy run `times` times on one worker (one worker: a worker's
    shutdown can wait out a poll the test server does not end); the last run's result, status and
    history."""
    queue = f"test-{uuid.uuid4()}"
    e = watch_tests.event(fakes.synced)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[DeploymentWatchWorkflow, IncidentStandIn],
        # the stand-in lives in this test module, which the sandbox would import anew
        workflow_runner=UnsandboxedWorkflowRunner(),
        activities=fakes.activities(),
    ):
        for _ in range(times):
            handle = await env.client.start_workflow(
                DeploymentWatchWorkflow.run, e, id=e.watch_id, task_queue=queue
            )
            result = await handle.result()
            status = await handle.query(DeploymentWatchWorkflow.status)
            history = await handle.fetch_history()
            if result.incident_id:
                # the incident (the stand-in) has run, so that what it was given is known
                await env.client.get_workflow_handle(result.incident_id).result()
        return result, status, history


async def test_a_degraded_watch_opens_one_incident_and_records_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = WatchFakes(after=watch_tests.QUIET.model_copy(update={"restarts": 4}))
    result, status, _ = await run_watch(time_skipping_env, fakes)

    incident_id = "incident-deploy.argocd.shop-cart.4f2c9e1b7a3d"
    assert deploy_incident_id(result.watch_id) == incident_id
    assert result.state == "degraded" and result.incident_id == incident_id
    assert status == f"degraded (incident {incident_id})"
    assert [f.incident_id for f in fakes.finished] == [incident_id]
    (started,) = fakes.started
    incident = started.incident
    assert incident.id == incident_id and incident.source == "deploy"
    assert incident.title == "Deploy 4f2c9e1 of shop-cart degraded: crash loop"
    assert [t.key for t in incident.targets] == ["shop/Deployment/cart"]
    assert incident.deploy is not None
    assert incident.deploy.revision == watch_tests.REVISION
    assert incident.deploy.previous_revision == "9" * 40
    assert incident.deploy.commits == ["4f2c9e1 cart: new pricing"]
    assert incident.deploy.verdict == result.verdict
    # the worker's settings, the watch's incident
    assert started.model_copy(update={"incident": DEFAULTS.incident}) == DEFAULTS


async def test_a_second_run_of_the_same_watch_opens_no_second_incident(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    # Samples every second, not every minute: on a busy machine the test server sometimes stops
    # skipping time once the first run has ended (nothing pending, and even an explicit sleep does
    # not move its clock), so the second run's first sample waited a minute of real time.
    fakes = WatchFakes(
        after=watch_tests.QUIET.model_copy(update={"restarts": 4}),
        rules=WatchRules(sample_interval_seconds=1),
    )
    second, _, history = await run_watch(time_skipping_env, fakes, times=2)

    assert second.incident_id != ""
    assert len(fakes.started) == 1
    assert [f.incident_id for f in fakes.finished] == [second.incident_id, second.incident_id]
    assert any(PATCH_DEPLOY_INCIDENT.encode() in m for m in patch_markers(history))


async def test_a_healthy_watch_opens_no_incident(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = WatchFakes()
    result, status, _ = await run_watch(time_skipping_env, fakes)
    assert result.state == "healthy" and result.incident_id == "" and status == "healthy"
    assert fakes.started == [] and [f.incident_id for f in fakes.finished] == [""]


async def test_a_degraded_deploy_of_medics_own_change_opens_no_incident(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A deploy of nothing but medic's own commits (a fix or a revert merged from its pull request)
    is judged and recorded, but its incident verifies and undoes it: no revert of a revert."""
    fakes = WatchFakes(
        after=watch_tests.QUIET.model_copy(update={"restarts": 4}), made_by=["incident-shop.cart.1a2b3c4d"]
    )
    result, status, history = await run_watch(time_skipping_env, fakes)
    assert result.state == "degraded" and result.incident_id == "" and status == "degraded"
    assert result.summary.endswith(
        "; not reverted: the deploy is medic's own change (incident-shop.cart.1a2b3c4d)"
    )
    assert fakes.started == [] and [f.incident_id for f in fakes.finished] == [""]
    assert [f.summary for f in fakes.finished] == [result.summary]
    keep_history_of(history, "deploy-watch-own-change")


def keep_history_of(history: WorkflowHistory, name: str) -> None:
    """`keep_history` for a history already fetched (the watch's, run again under the same id)."""
    if os.environ.get("MEDIC_RECORD_HISTORIES"):
        (HISTORIES / f"{name}.json").write_text(history.to_json())


# ---- the incident reverts the deploy -------------------------------------------------------------

REVISION = "4f2c9e1b7a3d" + "0" * 28
PREVIOUS = "9" * 40
SUMMARY = "deploy 4f2c9e1 of payments-ledger made p99 2.4× worse"


def regression() -> DeployRegression:
    return DeployRegression(
        watch_id=f"deploy/argocd/payments-ledger/{REVISION[:12]}",
        application="payments-ledger",
        revision=REVISION,
        previous_revision=PREVIOUS,
        commits=["4f2c9e1 ledger: new rounding"],
        verdict=Verdict(state="degraded", summary=SUMMARY),
    )


@dataclass
class DeployFakes(GitOpsFakes):
    root_cause: Any = "bad_release"
    summary: str = SUMMARY
    plan: Plan = field(
        default_factory=lambda: Plan(
            actions=[
                RevertDeploy(
                    target=TARGET.without_container(),
                    application=APP.name,
                    app_namespace="argocd",
                    revision=REVISION,
                    previous_revision=PREVIOUS,
                )
            ]
        )
    )


class DeployHarness:
    def __init__(self, env: WorkflowEnvironment, fakes: DeployFakes, sent: Sent, queue: str) -> None:
        self.env, self.fakes, self.sent, self.queue = env, fakes, sent, queue
        self.workflow_id = f"incident-deploy.argocd.payments-ledger.{uuid.uuid4().hex[:12]}"

    async def start(self, workflow_id: str = "") -> WorkflowHandle[Any, RemediationResult]:
        workflow_id = workflow_id or self.workflow_id
        incident = Incident(
            id=workflow_id,
            source="deploy",
            title=SUMMARY,
            targets=[TARGET.without_container()],
            deploy=regression(),
        )
        return await self.env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(incident=incident, verify_interval_seconds=5, notify=True),
            id=workflow_id,
            task_queue=self.queue,
        )


async def with_worker(env: WorkflowEnvironment, fakes: DeployFakes, scenario: Any) -> Any:
    sent = Sent()
    harness = DeployHarness(env, fakes, sent, f"test-{uuid.uuid4()}")
    async with Worker(
        env.client,
        task_queue=harness.queue,
        workflows=[RemediationWorkflow],
        workflow_runner=workflow_runner(),
        activities=[*fakes.activities(), sent.activity()],
    ):
        return await scenario(harness)


async def test_the_revert_is_opened_before_approval_then_merged_by_medic_and_resolved(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = DeployFakes()

    async def scenario(h: DeployHarness) -> tuple[Any, RemediationResult]:
        handle = await h.start("incident-history-deploy-revert-resolved")
        waiting = await approve(handle)
        result = await handle.result()
        await keep_history(handle, "remediation-deploy-revert-resolved")
        return waiting, result

    waiting, result = await with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert result.reason.startswith("revert pull request #1 merged and synced")
    # the approvers saw the pull request itself
    assert [pr.number for pr in waiting.pull_requests] == [1]
    calls = [c for c in fakes.calls if c in ("prepare", "open_fix", "merge", "sync", "check_rollout")]
    assert calls[:4] == ["prepare", "open_fix", "merge", "sync"]
    assert "check_rollout" in calls
    assert fakes.prs[1].merged_by == "medic"
    assert [s.revision for s in fakes.synced][0] == f"{1:040x}"
    assert ("awaiting_approval", "completed") in fakes.steps()
    assert fakes.steps().index(("opening_pull_request", "completed")) < fakes.steps().index(
        ("awaiting_approval", "started")
    )


async def test_a_rejected_revert_is_closed_saying_why(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = DeployFakes()

    async def scenario(h: DeployHarness) -> RemediationResult:
        handle = await h.start()
        status = await wait_for_step(handle, "awaiting_approval")
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(
                approver="alice",
                decision="reject",
                reason="the p99 is the cache warming",
                plan_hash=status.plan_hash,
            ),
        )
        return await handle.result()

    result = await with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rejected" and "the cache warming" in result.reason
    assert fakes.prs[1].status == "closed" and fakes.prs[1].closed_by == "medic"
    assert "merge" not in fakes.calls and "sync" not in fakes.calls


async def test_an_auto_approved_revert_is_merged_without_a_human(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = DeployFakes(decision=policy("low", approvals=0, auto=True))

    async def scenario(h: DeployHarness) -> RemediationResult:
        return await (await h.start()).result()

    result = await with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert fakes.approvals == [] and fakes.prs[1].merged_by == "medic"
    assert ("awaiting_approval", "skipped") in fakes.steps()


async def test_a_revert_that_does_not_recover_fails_without_reverting_the_revert(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = DeployFakes(decision=policy("low", approvals=0, auto=True), argo_health="Degraded")

    async def scenario(h: DeployHarness) -> RemediationResult:
        return await (await h.start()).result()

    result = await with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "failed"
    assert result.reason.startswith("the revert (pull request #1) did not recover the deploy")
    assert "prepare_revert" not in fakes.calls and len(fakes.prs) == 1


async def test_the_approval_notification_names_the_revert_pull_request(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = DeployFakes()

    async def scenario(h: DeployHarness) -> Sent:
        handle = await h.start()
        await approve(handle)
        await handle.result()
        return h.sent

    sent = await with_worker(time_skipping_env, fakes, scenario)
    (asking,) = [n for n in sent.notifications if n.event == "awaiting_approval"]
    assert asking.pull_request == 1 and asking.pull_request_url == "local://gitops.git#1"
    line = f"{SUMMARY}; revert PR #1 waits for approval"
    message = slack_message(asking, NotificationLinks())
    assert message["text"].startswith(line)
    assert line in message["blocks"][1]["text"]["text"]
    payload = webhook_payload(asking, NotificationLinks())
    assert payload["incident"]["pull_request"] == {"number": 1, "url": "local://gitops.git#1"}


async def test_a_human_merging_the_revert_on_the_host_is_the_decision(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = DeployFakes()

    async def scenario(h: DeployHarness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        # An event the host does not confirm (the pull request is still open) changes nothing.
        await pr_event(handle, 1, "merged", "mallory")
        await wait_for(lambda: "get_pr" in fakes.calls)
        assert (await wait_for_step(handle, "awaiting_approval")).outcome is None
        fakes.merge(1, by="carol")
        await pr_event(handle, 1, "merged", "carol")
        return await handle.result()

    result = await with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert "merge" not in fakes.calls and fakes.prs[1].merged_by == "carol"
    assert fakes.approvals == []
    assert ("awaiting_approval", "cancelled") in fakes.steps()
    assert [s.revision for s in fakes.synced][0] == f"{1:040x}"


async def test_a_human_closing_the_revert_on_the_host_rejects_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = DeployFakes()

    async def scenario(h: DeployHarness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        fakes.close(1, by="dave")
        await pr_event(handle, 1, "closed", "dave")
        return await handle.result()

    result = await with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rejected" and "closed without merging by dave" in result.reason
    assert "merge" not in fakes.calls and "sync" not in fakes.calls
