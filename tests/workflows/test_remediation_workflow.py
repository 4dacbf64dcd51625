"""RemediationWorkflow on the time-skipping test server, with every activity replaced by name."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.analysis.plan import Plan, SetResources
from domain.incident.alerts import AlertGroup
from domain.incident.memory import SimilarIncident
from domain.incident.model import Incident, ResourceRef
from domain.kube.observation import ContainerSpec, Observation, Workload
from domain.policy.approval import DecisionInput
from domain.steps.change import AppliedChange, DryRunResult, ExecutionResult, PlanInput
from domain.steps.gitops import GitOpsChange, PrepareChangeInput
from domain.steps.remediation import RemediationInput, RemediationResult, WorkflowStatus
from tests.conftest import wait_for_step
from tests.workflows.fakes import RemediationFakes, policy
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow

TARGET = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
WORKLOAD = Workload(
    id="workload/payments/Deployment/ledger",
    ref=TARGET.without_container(),
    replicas=2,
    ready_replicas=1,
    containers=[ContainerSpec(name="ledger", image="ledger:2.8.1", limits={"memory": "256Mi"})],
)


@dataclass
class Fakes(RemediationFakes):
    """The shared fakes (tests/workflows/fakes.py) for an OOMKilled ledger, and the direct path."""

    observation: Observation = field(
        default_factory=lambda: Observation(incident_id="", workloads=[WORKLOAD])
    )
    plan: Plan = field(
        default_factory=lambda: Plan(actions=[SetResources(target=TARGET, limits={"memory": "512Mi"})])
    )
    workload: ResourceRef = field(default_factory=TARGET.without_container)
    lists_shared_steps: bool = True
    execute_error: str | None = None

    def activities(self) -> list[Callable[..., Any]]:
        fakes = self

        @activity.defn(name="prepare_gitops_change")
        async def prepare_gitops_change(input: PrepareChangeInput) -> GitOpsChange:
            # GitOps mode has fakes of its own (test_gitops_workflow.py); here no file is found.
            fakes.calls.append("prepare_gitops_change")
            return GitOpsChange(refused=["this test has no GitOps repository"])

        @activity.defn(name="dry_run_plan")
        async def dry_run_plan(input: PlanInput) -> DryRunResult:
            fakes.calls.append("dry_run")
            return DryRunResult(ok=True)

        @activity.defn(name="execute_plan")
        async def execute_plan(input: PlanInput) -> ExecutionResult:
            fakes.calls.append("execute")
            if fakes.execute_error:
                raise ApplicationError(fakes.execute_error, type="KubeInvalid", non_retryable=True)
            return ExecutionResult(
                changes=[AppliedChange(action_index=0, resource=fakes.workload, changed=True)]
            )

        return [*super().activities(), prepare_gitops_change, dry_run_plan, execute_plan]


def alert_group(status: str = "firing") -> AlertGroup:
    return AlertGroup.model_validate(
        {
            "version": "4",
            "groupKey": '{}:{alertname="KubeContainerOOMKilled"}',
            "status": status,
            "receiver": "remediator",
            "groupLabels": {"alertname": "KubeContainerOOMKilled"},
            "alerts": [
                {
                    "status": status,
                    "labels": {
                        "alertname": "KubeContainerOOMKilled",
                        "namespace": "payments",
                        "pod": "ledger-5c6b7d8f9-abcde",
                        "container": "ledger",
                    },
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
            id=self.workflow_id,
            title="test",
            alerts=list(alert_group().alerts),
            group=alert_group(),
            targets=[TARGET],
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


async def test_one_approval_executes_and_resolves(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        status = await wait_for_step(handle, "awaiting_approval")
        assert status.plan is not None and status.policy is not None and status.plan_hash
        assert "execute" not in fakes.calls
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice", reason="ok"))
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved"
    assert [a.approver for a in result.approvals] == ["alice"]
    assert fakes.calls[:7] == ["observe", "recall", "analyze", "validate", "dry_run", "snapshot", "execute"]
    assert fakes.approvals[0].approval.approver == "alice"
    steps = [(e.step, e.status) for e in fakes.audit]
    assert ("decision", "approve") in steps and steps[-1] == ("closed", "resolved")
    assert [e.seq for e in fakes.audit] == list(range(1, len(fakes.audit) + 1))
    assert fakes.incident["outcome"] == "resolved"


async def test_rejection_ends_rejected_without_executing(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="bob", reason="not now"))
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rejected"
    assert "bob" in result.reason
    assert "execute" not in fakes.calls and "dry_run" not in fakes.calls


async def test_high_risk_needs_two_distinct_approvers(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("high", approvals=2)

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        status = await wait_for_step(handle, "awaiting_approval")
        assert status.approvals_required == 2
        after_first = await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="alice", reason="lgtm", plan_hash=status.plan_hash),
        )
        assert after_first.step == "awaiting_approval" and len(after_first.approvals) == 1
        assert "execute" not in fakes.calls
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                RemediationWorkflow.decide, DecisionInput(approver="alice", reason="again")
            )
        assert "already decided" in str(refused.value.cause)
        await handle.execute_update(
            RemediationWorkflow.decide, DecisionInput(approver="carol", reason="ok too")
        )
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved"
    assert [a.approver for a in result.approvals] == ["alice", "carol"]


async def test_duplicate_approver_signal_is_refused_and_does_not_count(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("high", approvals=2)

    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await h.start(approval_timeout_seconds=3600)
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        status = await handle.query(RemediationWorkflow.status)
        return status, await handle.result()

    status, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert len(status.approvals) == 1
    assert any("already decided" in r for r in status.refused)
    assert result.outcome == "expired"


async def test_stale_plan_hash_is_refused(time_skipping_env: WorkflowEnvironment, fakes: Fakes) -> None:
    async def scenario(h: Harness) -> WorkflowStatus:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                RemediationWorkflow.decide, DecisionInput(approver="alice", plan_hash="0000000000000000")
            )
        assert "not the current plan" in str(refused.value.cause)
        await handle.signal(
            RemediationWorkflow.approve, DecisionInput(approver="bob", plan_hash="deadbeefdeadbeef")
        )
        status = await handle.query(RemediationWorkflow.status)
        await handle.terminate("test done")
        return status

    status = await run_with_worker(time_skipping_env, fakes, scenario)
    assert status.approvals == []
    assert any("not the current plan" in r for r in status.refused)


async def test_approver_outside_the_policy_rules_is_refused(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("medium").model_copy(update={"approvers": ["group:sre", "user:carol"]})

    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                RemediationWorkflow.decide, DecisionInput(approver="bob", groups=["shop-devs"])
            )
        assert "bob is not allowed" in str(refused.value.cause)
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="mallory"))
        erin = DecisionInput(approver="erin", groups=["sre"], channel="console")
        await handle.execute_update(RemediationWorkflow.decide, erin)
        status = await handle.query(RemediationWorkflow.status)
        return status, await handle.result()

    status, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert [a.approver for a in status.approvals] == ["erin"]
    assert any("mallory is not allowed" in r for r in status.refused)
    assert result.outcome == "resolved"


async def test_no_decision_within_four_hours_expires(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()  # the default deadline: 4 hours
        await wait_for_step(handle, "awaiting_approval")
        return await handle.result()  # waiting on the result lets the test server skip time

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "expired"
    assert "14400" in result.reason
    assert "execute" not in fakes.calls
    assert ("awaiting_approval", "expired") in [(e.step, e.status) for e in fakes.audit]


async def test_alert_resolved_while_waiting_ends_no_action(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.alert_notification, alert_group("resolved"))
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "no_action"
    assert "execute" not in fakes.calls


async def test_alert_resolved_after_an_approval_still_executes(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("high", approvals=2)

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        await handle.execute_update(RemediationWorkflow.decide, DecisionInput(approver="alice"))
        await handle.signal(RemediationWorkflow.alert_notification, alert_group("resolved"))
        await handle.execute_update(RemediationWorkflow.decide, DecisionInput(approver="bob"))
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved"


async def test_policy_denial_ends_needs_review(time_skipping_env: WorkflowEnvironment, fakes: Fakes) -> None:
    fakes.decision = policy("deny", approvals=0, allowed=False)

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "needs_review"
    assert "dry_run" not in fakes.calls and "execute" not in fakes.calls


async def test_low_risk_auto_executes_without_approval(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved" and result.approvals == []


async def test_failed_verification_restores_snapshot_and_ends_rolled_back(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.healthy = False

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rolled_back"
    assert "restore" in fakes.calls
    assert ("verifying", "failed") in [(e.step, e.status) for e in fakes.audit]


async def test_nothing_to_fix_ends_no_action(time_skipping_env: WorkflowEnvironment, fakes: Fakes) -> None:
    fakes.plan = Plan()
    fakes.root_cause = "none"
    fakes.decision = policy("low", approvals=0)

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "no_action"


async def test_signal_before_the_wait_is_refused(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    async def scenario(h: Harness) -> WorkflowStatus:
        incident = Incident(id=h.workflow_id, title="test", targets=[TARGET])
        # Delivered with the start itself, so it certainly arrives before any plan exists.
        handle = await h.env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(incident=incident, approval_timeout_seconds=60),
            id=h.workflow_id,
            task_queue=h.queue,
            start_signal="approve",
            start_signal_args=[DecisionInput(approver="eager")],
        )
        await handle.result()
        return await handle.query(RemediationWorkflow.status)

    status = await run_with_worker(time_skipping_env, fakes, scenario)
    assert status.outcome == "expired"
    assert status.approvals == [] and any("not waiting" in r for r in status.refused)


async def test_gitops_plan_without_an_observed_application_goes_to_review_before_any_approval(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    # GitOps plans proper are tested in test_gitops_workflow.py; here observe saw no Argo CD.
    fakes.plan = Plan(actions=[SetResources(target=TARGET, mode="gitops", limits={"memory": "512Mi"})])

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "needs_review"
    assert "no Argo CD Application was seen managing it" in result.reason
    assert "dry_run" not in fakes.calls


async def test_failed_execute_after_the_snapshot_restores_it(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)
    fakes.execute_error = "second action refused by the API"

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rolled_back"
    assert result.reason == "execute failed: second action refused by the API; snapshot restored"
    assert fakes.calls.index("restore") > fakes.calls.index("execute")


async def test_repeats_during_the_cooldown_stay_in_the_closed_incident(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)

    async def scenario(h: Harness) -> tuple[WorkflowStatus, WorkflowStatus, RemediationResult]:
        handle = await h.start(cooldown_seconds=4 * 3600)
        closed = await wait_for_step(handle, "closed")
        # Alertmanager repeats the firing group: the open run absorbs it, nothing runs again.
        await handle.signal(RemediationWorkflow.alert_notification, alert_group("firing"))
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="late"))
        during = await handle.query(RemediationWorkflow.status)
        await handle.signal(RemediationWorkflow.alert_notification, alert_group("resolved"))
        return closed, during, await handle.result()

    closed, during, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert closed.outcome == "resolved" and during.outcome == "resolved"
    assert fakes.calls.count("execute") == 1
    assert any("not waiting" in r for r in during.refused)
    assert result.incident_id == closed.incident_id


async def test_each_run_of_a_group_is_its_own_incident(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)

    async def scenario(h: Harness) -> tuple[RemediationResult, RemediationResult]:
        first = await (await h.start()).result()
        second = await (await h.start()).result()
        return first, second

    first, second = await run_with_worker(time_skipping_env, fakes, scenario)
    assert first.incident_id != second.incident_id
    assert first.incident_id.startswith(second.incident_id.split(".")[0] + ".")


async def test_similar_past_incidents_reach_the_analyzer_and_the_outcome_is_remembered(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)
    past = SimilarIncident(
        incident_id="incident-old.1",
        title="OOM before",
        outcome="rolled_back",
        closed_at=datetime(2026, 11, 1, tzinfo=UTC),
        rolled_back_before=True,
        score=0.9,
    )
    fakes.similar = [past]

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert fakes.analyzed[0].similar == [past]
    (memory,) = fakes.remembered
    assert memory.incident_id == result.incident_id and memory.outcome == "resolved"


async def until_current_details(handle: WorkflowHandle[Any, Any], timeout: float = 30.0) -> WorkflowMetadata:
    """Query the run's metadata until it has current details, with a deadline (queries skip no time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        if metadata.current_details:
            return metadata
        assert loop.time() < deadline, "the run never set its current details"
        await asyncio.sleep(0.05)


async def test_a_closed_incident_in_its_cooldown_says_so_in_its_current_details(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)

    async def scenario(h: Harness) -> tuple[str, str, RemediationResult]:
        handle = await h.start(cooldown_seconds=4 * 3600)
        await wait_for_step(handle, "closed")
        # What the Temporal Web UI asks a running workflow for to show its current details. The
        # step turns "closed" before the outcome is written, and the details come with the write.
        metadata = await until_current_details(handle)
        described = await handle.describe()
        await handle.signal(RemediationWorkflow.alert_notification, alert_group("resolved"))
        return (
            metadata.current_details,
            described.status.name if described.status else "",
            await handle.result(),
        )

    details, status, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved" and status == "RUNNING"
    assert re.fullmatch(
        r"Incident resolved at \d\d:\d\d UTC; open until (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC"
        r" \(or until the alert resolves\) only to absorb repeats of the alert: nothing more will run\.",
        details,
    ), details
    closed, until = re.findall(r"\d\d:\d\d", details)
    hours = (int(until[:2]) - int(closed[:2])) % 24
    assert hours == 4 and until[3:] == closed[3:]
