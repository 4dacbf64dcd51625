"""RemediationWorkflow in GitOps mode on the time-skipping test server, every activity replaced by
name: the pull request, its merge (signal, poll, auto), Argo CD's sync, and the revert."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.analysis.plan import Plan, SetResources
from domain.gitops.pull_requests import PullRequest, PullRequestEvent, branch_for
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import ArgoApplication, ContainerSpec, Observation, Workload
from domain.policy.approval import DecisionInput
from domain.review.plan_impact import PlanImpact
from domain.steps.gitops import (
    ApplicationCheck,
    ApplicationsInput,
    ApplicationStatus,
    FileDiff,
    GitOpsApplication,
    GitOpsChange,
    OpenPullRequestInput,
    PrepareChangeInput,
    PrepareRevertInput,
    PullRequestInput,
)
from domain.steps.remediation import RemediationInput, RemediationResult, WorkflowStatus
from tests.conftest import wait_for_step
from tests.workflows.fakes import RemediationFakes, policy
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow

TARGET = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
APP = ArgoApplication(
    id="argocd/argocd/payments-ledger",
    name="payments-ledger",
    project="payments",
    automated=True,
    sources=[
        {"repoURL": "https://charts.example/payments", "chart": "ledger", "targetRevision": "3.2.0"},
        {"repoURL": "https://git.example/platform/gitops.git", "targetRevision": "main", "ref": "values"},
    ],
    resources=[{"group": "apps", "kind": "Deployment", "namespace": "payments", "name": "ledger"}],
    destination_namespace="payments",
)
HEADER = "--- a/values/ledger-values.yaml\n+++ b/values/ledger-values.yaml\n"
DIFF = HEADER + "-    memory: 256Mi\n+    memory: 512Mi\n"
REVERT_DIFF = HEADER + "-    memory: 512Mi\n+    memory: 256Mi\n"


@dataclass
class Fakes(RemediationFakes):
    """The shared fakes (tests/workflows/fakes.py) for an OOMKilled ledger whose memory limit is in
    Git, and the GitOps path; `prs` is the PR host's state, which a test may change (a human merging
    or closing on the host)."""

    observation: Observation = field(
        default_factory=lambda: Observation(
            incident_id="",
            workloads=[
                Workload(
                    id="workload/payments/Deployment/ledger",
                    ref=TARGET.without_container(),
                    containers=[
                        ContainerSpec(name="ledger", image="ledger:2.8.1", limits={"memory": "256Mi"})
                    ],
                )
            ],
            argocd=[APP],
        )
    )
    summary: str = "ledger OOMKilled"
    plan: Plan = field(
        default_factory=lambda: Plan(
            actions=[
                SetResources(
                    target=TARGET, mode="gitops", file="values/ledger-values.yaml", limits={"memory": "512Mi"}
                )
            ]
        )
    )
    workload: ResourceRef = field(default_factory=TARGET.without_container)
    refused: list[str] = field(default_factory=list)
    argo_health: str = "Healthy"
    prs: dict[int, PullRequest] = field(default_factory=dict)
    opened: list[OpenPullRequestInput] = field(default_factory=list)
    synced: list[ApplicationsInput] = field(default_factory=list)
    merge_refused: bool = False

    def merge(self, number: int, by: str = "carol") -> PullRequest:
        pr = self.prs[number].model_copy(
            update={"status": "merged", "merge_commit": f"{number:040x}", "merged_by": by}
        )
        self.prs[number] = pr
        if pr.kind == "revert":
            self.healthy = True  # the old state rolls out again (its own fault aside)
            self.argo_health = "Degraded"
        return pr

    def close(self, number: int, by: str = "dave") -> None:
        self.prs[number] = self.prs[number].model_copy(update={"status": "closed", "closed_by": by})

    def activities(self) -> list[Callable[..., Any]]:
        fakes = self

        @activity.defn(name="prepare_gitops_change")
        async def prepare_gitops_change(input: PrepareChangeInput) -> GitOpsChange:
            fakes.calls.append("prepare")
            assert [a.name for a in input.applications] == ["payments-ledger"]
            apps = [GitOpsApplication(name="payments-ledger", automated=True)]
            if fakes.refused:
                return GitOpsChange(refused=list(fakes.refused), applications=apps)
            files = [FileDiff(path="values/ledger-values.yaml", diff=DIFF, description="memory limit")]
            return GitOpsChange(
                base="main", base_commit="b" * 40, files=files, edit_hash="e" * 16, applications=apps
            )

        @activity.defn(name="prepare_gitops_revert")
        async def prepare_gitops_revert(input: PrepareRevertInput) -> GitOpsChange:
            fakes.calls.append("prepare_revert")
            assert input.fix.status == "merged"
            files = [FileDiff(path="values/ledger-values.yaml", diff=REVERT_DIFF)]
            return GitOpsChange(
                kind="revert",
                base="main",
                base_commit=input.fix.merge_commit or "",
                files=files,
                edit_hash="r" * 16,
                applications=input.change.applications,
                reverts_base=input.change.base_commit,
                reverts_head=input.fix.head_commit,
            )

        @activity.defn(name="open_pull_request")
        async def open_pull_request(input: OpenPullRequestInput) -> PullRequest:
            fakes.calls.append(f"open_{input.change.kind}")
            fakes.opened.append(input)
            branch = branch_for(input.incident_id, input.change.kind)
            for pr in fakes.prs.values():
                if pr.branch == branch:
                    return pr
            number = len(fakes.prs) + 1
            pr = PullRequest(
                host="local",
                number=number,
                url=f"local://gitops.git#{number}",
                incident_id=input.incident_id,
                kind=input.change.kind,
                branch=branch,
                head_commit=f"{number:x}" * 40,
            )
            fakes.prs[number] = pr
            return pr

        @activity.defn(name="get_pull_request")
        async def get_pull_request(input: PullRequestInput) -> PullRequest:
            fakes.calls.append("get_pr")
            return fakes.prs[input.number]

        @activity.defn(name="merge_pull_request")
        async def merge_pull_request(input: PullRequestInput) -> PullRequest:
            fakes.calls.append("merge")
            if fakes.merge_refused:
                from temporalio.exceptions import ApplicationError

                raise ApplicationError("branch protection", type="PullRequestForbidden", non_retryable=True)
            return fakes.merge(input.number, by=input.actor)

        @activity.defn(name="close_pull_request")
        async def close_pull_request(input: PullRequestInput) -> PullRequest:
            fakes.calls.append("close")
            fakes.close(input.number, by=input.actor)
            return fakes.prs[input.number]

        def state(input: ApplicationsInput) -> ApplicationCheck:
            merged = {pr.merge_commit for pr in fakes.prs.values()}
            return ApplicationCheck(
                applications=[
                    ApplicationStatus(
                        name=a.name,
                        sync_status="Synced",
                        health_status=fakes.argo_health,
                        revision=input.revision,
                        synced=input.revision in merged,
                        automated=True,
                    )
                    for a in input.applications
                ]
            )

        @activity.defn(name="sync_applications")
        async def sync_applications(input: ApplicationsInput) -> ApplicationCheck:
            fakes.calls.append("sync")
            fakes.synced.append(input)
            return state(input)

        @activity.defn(name="check_applications")
        async def check_applications(input: ApplicationsInput) -> ApplicationCheck:
            fakes.calls.append("check_app")
            return state(input)

        return [
            *super().activities(),
            prepare_gitops_change,
            prepare_gitops_revert,
            open_pull_request,
            get_pull_request,
            merge_pull_request,
            close_pull_request,
            sync_applications,
            check_applications,
        ]


def alert_group() -> AlertGroup:
    return AlertGroup.model_validate(
        {
            "version": "4",
            "groupKey": '{}:{alertname="KubeContainerOOMKilled"}',
            "status": "firing",
            "receiver": "remediator",
            "groupLabels": {"alertname": "KubeContainerOOMKilled"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "KubeContainerOOMKilled", "namespace": "payments"},
                    "startsAt": "2026-11-23T18:55:28Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": "b58c4386f2be6d41",
                }
            ],
        }
    )


class Harness:
    def __init__(self, env: WorkflowEnvironment, fakes: Fakes) -> None:
        self.env = env
        self.fakes = fakes
        self.queue = f"test-{uuid.uuid4()}"
        self.workflow_id = f"incident-test-{uuid.uuid4()}"

    async def start(self, **overrides: Any) -> WorkflowHandle[Any, RemediationResult]:
        incident = Incident(
            id=self.workflow_id, title="ledger OOMKilled", group=alert_group(), targets=[TARGET]
        )
        return await self.env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(incident=incident, verify_interval_seconds=5, **overrides),
            id=self.workflow_id,
            task_queue=self.queue,
        )


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


async def run_with_worker(env: WorkflowEnvironment, fakes: Fakes, scenario: Callable[[Harness], Any]) -> Any:
    harness = Harness(env, fakes)
    async with Worker(
        env.client,
        task_queue=harness.queue,
        workflows=[RemediationWorkflow],
        workflow_runner=workflow_runner(),
        activities=fakes.activities(),
    ):
        return await scenario(harness)


async def pr_event(handle: WorkflowHandle[Any, Any], number: int, status: str, actor: str = "") -> None:
    event = PullRequestEvent(number=number, status=status, actor=actor)  # type: ignore[arg-type]
    await handle.signal(RemediationWorkflow.pull_request_event, event)


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def approve(handle: WorkflowHandle[Any, Any], approver: str = "alice") -> WorkflowStatus:
    status = await wait_for_step(handle, "awaiting_approval")
    await handle.execute_update(
        RemediationWorkflow.decide, DecisionInput(approver=approver, reason="ok", plan_hash=status.plan_hash)
    )
    return status


async def test_approved_plan_opens_a_pull_request_and_resolves_once_merged_and_synced(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.impact = PlanImpact(monthly_delta_usd=3.09, summary="+$3.09/month (list); downtime: none found")

    async def scenario(h: Harness) -> tuple[WorkflowStatus, WorkflowStatus, RemediationResult]:
        handle = await h.start()
        waiting = await wait_for_step(handle, "awaiting_approval")
        # The approvers see the exact diff before deciding; nothing is in Git yet.
        assert "open_fix" not in fakes.calls
        await approve(handle)
        merging = await wait_for_step(handle, "awaiting_merge")
        merged = fakes.merge(1)
        await handle.signal(
            RemediationWorkflow.pull_request_event,
            PullRequestEvent(number=1, status="merged", merge_commit=merged.merge_commit, actor="carol"),
        )
        return waiting, merging, await handle.result()

    waiting, merging, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert "pull request #1" in result.reason
    assert waiting.gitops_change is not None and waiting.gitops_change.files[0].diff == DIFF
    assert [pr.number for pr in merging.pull_requests] == [1]
    assert fakes.calls[:2] == ["prepare", "open_fix"]
    assert fakes.calls.index("get_pr") < fakes.calls.index("sync") < fakes.calls.index("check_rollout")
    assert "merge" not in fakes.calls  # a human merged it
    assert [s.revision for s in fakes.synced] == [f"{1:040x}"]
    (opened,) = fakes.opened
    assert [a.approver for a in opened.approvals] == ["alice"] and opened.policy == fakes.decision
    # the PR body's Impact section is written from it
    assert opened.impact == fakes.impact and waiting.impact == fakes.impact
    steps = fakes.steps()
    assert ("preparing_change", "completed") in steps
    assert steps.index(("preparing_change", "completed")) < steps.index(("awaiting_approval", "started"))
    assert ("awaiting_merge", "completed") in steps and ("syncing", "completed") in steps
    merge_event = next(e for e in fakes.audit if (e.step, e.status) == ("awaiting_merge", "completed"))
    assert merge_event.actor == "carol" and merge_event.detail["via"] == "signal"
    diff_event = next(e for e in fakes.audit if e.step == "preparing_change")
    assert diff_event.detail["files"][0]["diff"] == DIFF
    assert fakes.incident["outcome"] == "resolved"


async def test_a_merge_seen_by_polling_ends_the_wait_without_a_signal(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start(pr_poll_seconds=60)
        await approve(handle)
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(1, by="erin")  # on the host; no webhook reaches medic
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    merge_event = next(e for e in fakes.audit if (e.step, e.status) == ("awaiting_merge", "completed"))
    assert merge_event.actor == "erin" and merge_event.detail["via"] == "poll"


async def test_a_merge_signal_the_host_does_not_confirm_is_ignored(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await h.start(pr_poll_seconds=60, pr_merge_timeout_seconds=600)
        await approve(handle)
        await wait_for_step(handle, "awaiting_merge")
        await handle.signal(
            RemediationWorkflow.pull_request_event,
            PullRequestEvent(number=1, status="merged", actor="mallory"),
        )
        still = await wait_for_step(handle, "awaiting_merge")
        return still, await handle.result()

    still, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert still.outcome is None
    assert result.outcome == "expired", result.reason
    assert "sync" not in fakes.calls


async def test_pull_request_closed_without_merge_ends_rejected(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        await approve(handle)
        await wait_for_step(handle, "awaiting_merge")
        fakes.close(1, by="dave")
        await pr_event(handle, 1, "closed", "dave")
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rejected"
    assert "closed without merging by dave" in result.reason
    assert "sync" not in fakes.calls
    assert ("awaiting_merge", "cancelled") in fakes.steps()


async def test_low_risk_plan_is_merged_by_medic_without_approval(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert result.approvals == []
    assert fakes.calls[:3] == ["prepare", "open_fix", "merge"]
    assert fakes.prs[1].merged_by == "medic"
    assert ("awaiting_approval", "skipped") in fakes.steps()
    assert ("awaiting_merge", "started") not in fakes.steps()


async def test_auto_merge_the_host_refuses_waits_for_a_human_merge(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)
    fakes.merge_refused = True

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(1, by="carol")
        await pr_event(handle, 1, "merged")
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert ("merging", "failed") in fakes.steps()


async def test_no_merge_before_the_deadline_expires_and_closes_the_pull_request(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start(pr_merge_timeout_seconds=3600)
        await approve(handle)
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "expired"
    assert "#1 was not merged within 3600s" in result.reason
    assert fakes.prs[1].status == "closed" and fakes.prs[1].closed_by == "medic"
    assert "sync" not in fakes.calls
    # Polled every 30 s (the default) for the hour, never more.
    assert 100 <= fakes.calls.count("get_pr") <= 121


async def test_change_that_cannot_be_made_with_confidence_needs_review_before_any_approval(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.refused = ["action 0 (set_resources payments/Deployment/ledger): more than one source defines it"]

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "needs_review"
    assert "more than one source defines it" in result.reason
    assert fakes.calls == ["prepare"]
    assert not any(step == "awaiting_approval" for step, _ in fakes.steps())


async def test_failed_verification_opens_a_revert_that_needs_a_new_round_of_the_same_approvals(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.healthy = False

    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await h.start()
        fix = await approve(handle, "alice")
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(1)
        await pr_event(handle, 1, "merged")
        # The revert waits for approval: a new round, bound to the revert, where alice may decide again.
        revert = await wait_for_step(handle, "awaiting_approval")
        assert revert.approval_round == "revert" and revert.plan_hash != fix.plan_hash
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                RemediationWorkflow.decide, DecisionInput(approver="alice", plan_hash=fix.plan_hash)
            )
        await handle.execute_update(
            RemediationWorkflow.decide, DecisionInput(approver="alice", plan_hash=revert.plan_hash)
        )
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(2)
        await pr_event(handle, 2, "merged")
        return revert, await handle.result()

    revert, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rolled_back", result.reason
    assert "verification failed" in result.reason and "reverted by pull request #2" in result.reason
    assert [(a.approver, a.plan_hash) for a in result.approvals] == [
        ("alice", result.plan_hash),
        ("alice", revert.plan_hash),
    ]
    assert [r.approval.plan_hash for r in fakes.approvals] == [result.plan_hash, revert.plan_hash]
    fix_pr, revert_pr = (fakes.prs[1], fakes.prs[2])
    assert revert_pr.kind == "revert" and revert_pr.branch == fix_pr.branch + "-revert"
    opened = fakes.opened[-1]
    assert opened.fix == fix_pr and "verification failed" in opened.reason
    assert [a.approver for a in opened.approvals] == ["alice"]
    assert [s.revision for s in fakes.synced] == [fix_pr.merge_commit, revert_pr.merge_commit]
    steps = fakes.steps()
    assert ("verifying", "failed") in steps and ("reverting", "completed") in steps
    assert ("verifying_rollback", "passed") in steps
    assert steps[-1] == ("closed", "rolled_back")


async def test_a_degraded_application_is_reverted_at_once_when_reverts_need_no_approval(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.argo_health = "Degraded"

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start(revert_needs_approval=False)
        await approve(handle)
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(1)
        await pr_event(handle, 1, "merged")
        await wait_for(lambda: len(fakes.prs) == 2)  # the revert's
        assert fakes.prs[2].kind == "revert"
        fakes.merge(2)
        await pr_event(handle, 2, "merged")
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rolled_back", result.reason
    assert "Degraded after the sync" in result.reason
    assert "check_rollout" in fakes.calls  # the revert's rollout is verified
    assert fakes.calls.index("prepare_revert") < fakes.calls.index("check_rollout")
    assert [a.approver for a in result.approvals] == ["alice"]
    assert ("syncing", "failed") in fakes.steps()


async def test_with_an_auto_merging_policy_the_revert_merges_without_a_human(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.healthy = False
    fakes.decision = policy("low", approvals=0, auto=True)

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rolled_back", result.reason
    assert fakes.calls.count("merge") == 2
    assert [pr.merged_by for pr in fakes.prs.values()] == ["medic", "medic"]


async def test_a_revert_closed_unmerged_leaves_the_incident_failed(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.healthy = False

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start(revert_needs_approval=False)
        await approve(handle)
        await wait_for_step(handle, "awaiting_merge")
        fakes.merge(1)
        await pr_event(handle, 1, "merged")
        await wait_for(lambda: len(fakes.prs) == 2)
        fakes.close(2, by="dave")
        await pr_event(handle, 2, "closed")
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "failed"
    assert "revert pull request #2: pull request #2 was closed without merging by dave" in result.reason
