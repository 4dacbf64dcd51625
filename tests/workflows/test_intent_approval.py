"""A change request's requester never approves it: not through the `decide` update, whatever
the channel, nor by the `approve` signal. Another person's approval carries the plan out."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.analysis.plan import Plan, Scale
from domain.incident.model import Incident
from domain.intent.model import IntentChange, IntentRequest, IntentTarget
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationInput, RemediationResult, WorkflowStatus
from tests.conftest import wait_for_step
from tests.workflows.fakes import policy
from tests.workflows.test_four_eyes import refused_signal
from tests.workflows.test_remediation_workflow import TARGET, Fakes, Harness, run_with_worker
from workflows.remediation import RemediationWorkflow

ONE_APPROVAL = policy("low").model_copy(
    update={"verified_channels": ["api", "console"], "self_asserted_counts": True}
)
REQUEST = IntentRequest(
    requester="carol",
    channel="api",
    words="scale ledger in payments to 3 replicas",
    request_id="build-42",
    change=IntentChange(kind="scale", target=IntentTarget(namespace="payments", name="ledger"), replicas=3),
)


async def start_intent(h: Harness) -> WorkflowHandle[Any, RemediationResult]:
    incident = Incident(id=h.workflow_id, source="intent", title="Change requested by carol", intent=REQUEST)
    return await h.env.client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(incident=incident, approval_timeout_seconds=3600, verify_interval_seconds=5),
        id=h.workflow_id,
        task_queue=h.queue,
    )


@pytest.mark.parametrize("spelt", ["carol", " Carol ", "ｃａｒｏｌ"])
async def test_the_requester_cannot_approve_their_own_request(
    time_skipping_env: WorkflowEnvironment, spelt: str
) -> None:
    fakes = Fakes(decision=ONE_APPROVAL, plan=Plan(actions=[Scale(target=TARGET, replicas=3)]))

    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await start_intent(h)
        waiting = await wait_for_step(handle, "awaiting_approval")
        for channel in ("console", "api", "cli"):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(
                    RemediationWorkflow.decide,
                    DecisionInput(
                        approver=spelt, plan_hash=waiting.plan_hash, channel=channel, groups=["sre"]
                    ),
                )
            assert f"{spelt} requested this change and cannot approve it: another person must" in str(
                refused.value.cause
            )
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver=spelt))
        status = await refused_signal(handle)
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="dave", plan_hash=waiting.plan_hash, channel="console"),
        )
        return status, await handle.result()

    status, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert status.refused == [
        f"approve by {spelt}: {spelt} requested this change and cannot approve it: "
        "another person must (a requester may still reject, and so withdraw, their own request)"
    ]
    assert [a.approver for a in result.approvals] == ["dave"]
    assert result.outcome == "resolved"
    received = next(e for e in fakes.audit if e.step == "received")
    assert received.detail["requester"] == "carol"
    assert received.detail["words"] == "scale ledger in payments to 3 replicas"
    assert received.detail["channel"] == "api"


async def test_the_requester_may_withdraw_their_request(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes(decision=ONE_APPROVAL, plan=Plan(actions=[Scale(target=TARGET, replicas=3)]))

    async def scenario(h: Harness) -> RemediationResult:
        handle = await start_intent(h)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="carol", plan_hash=waiting.plan_hash, channel="api", decision="reject"),
        )
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "rejected"
    assert "execute" not in fakes.calls
