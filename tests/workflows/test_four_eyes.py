"""Four-eyes that one person cannot fake (DESIGN.md rule 7), written as the attacks.

A console user approves a high-risk plan through the `decide` update, then sends `temporal
workflow signal ... approve` in their own name spelt another way and claiming a group; or a
signal names somebody else. Neither may supply the second approver: names are compared in one
normal form, a plan needing two approvals counts only verified channels, and a signal's groups
are never believed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.analysis.plan import Plan, SetImage
from domain.policy.approval import DecisionInput
from domain.policy.decision import PolicyDecision
from domain.steps.remediation import RemediationResult, WorkflowStatus
from tests.conftest import wait_for_step
from tests.workflows.fakes import policy
from tests.workflows.test_remediation_workflow import TARGET, Fakes, Harness, run_with_worker
from workflows.remediation import RemediationWorkflow

# What policies/remediation.rego decides for a set_image (tests/policies/test_policy.py holds it).
FOUR_EYES = policy("high", approvals=2).model_copy(
    update={"verified_channels": ["api", "console"], "self_asserted_counts": False}
)
ONE_APPROVAL = policy("medium").model_copy(
    update={"verified_channels": ["api", "console"], "self_asserted_counts": True}
)


def fakes_for(decision: PolicyDecision) -> Fakes:
    return Fakes(decision=decision, plan=Plan(actions=[SetImage(target=TARGET, image="ledger:2.9.0")]))


async def refused_signal(
    handle: WorkflowHandle[Any, Any], count: int = 1, timeout: float = 30.0
) -> WorkflowStatus:
    """The status once the workflow lists `count` refused signals, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status: WorkflowStatus = await handle.query(RemediationWorkflow.status)
        if len(status.refused) >= count:
            return status
        assert loop.time() < deadline, f"no refused signal listed: {status.refused}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("spelt", ["Alice", " alice ", "ＡＬＩＣＥ", "ａｌｉｃｅ"])
async def test_a_console_approver_cannot_approve_again_by_signal_under_another_spelling(
    time_skipping_env: WorkflowEnvironment, spelt: str
) -> None:
    fakes = fakes_for(FOUR_EYES)

    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await h.start(approval_timeout_seconds=3600)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="alice", plan_hash=waiting.plan_hash, channel="console"),
        )
        await handle.signal(
            RemediationWorkflow.approve, DecisionInput(approver=spelt, reason="me again", groups=["sre"])
        )
        return await refused_signal(handle), await handle.result()

    status, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert [a.approver for a in status.approvals] == ["alice"]
    assert status.refused == [f"approve by {spelt}: {spelt} has already decided on this plan (as alice)"]
    assert result.outcome == "expired"
    assert "execute" not in fakes.calls and "dry_run" not in fakes.calls


async def test_a_signal_naming_someone_else_is_not_a_second_approver(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = fakes_for(FOUR_EYES)

    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await h.start(approval_timeout_seconds=3600)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="alice", plan_hash=waiting.plan_hash, channel="console"),
        )
        # The payload claims the console: a signal is a signal, whatever it says.
        await handle.signal(
            RemediationWorkflow.approve,
            DecisionInput(approver="bob", groups=["sre"], channel="console"),
        )
        return await refused_signal(handle), await handle.result()

    status, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert [a.approver for a in status.approvals] == ["alice"]
    assert status.refused == [
        "approve by bob: an approval through signal is self-asserted and does not count for a plan "
        "that needs 2 approvals; approve through api or console"
    ]
    assert result.outcome == "expired"
    assert "execute" not in fakes.calls


async def test_medic_approve_as_is_not_a_second_approver(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = fakes_for(FOUR_EYES)

    async def scenario(h: Harness) -> WorkflowStatus:
        handle = await h.start(approval_timeout_seconds=3600)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="alice", plan_hash=waiting.plan_hash, channel="console"),
        )
        for cli in (DecisionInput(approver="bob", channel="cli"), DecisionInput(approver="bob")):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(RemediationWorkflow.decide, cli)
            assert "is self-asserted and does not count for a plan that needs 2 approvals" in str(
                refused.value.cause
            )
        status: WorkflowStatus = await handle.query(RemediationWorkflow.status)
        await handle.terminate("test done")
        return status

    status = await run_with_worker(time_skipping_env, fakes, scenario)
    assert [a.approver for a in status.approvals] == ["alice"]
    assert "execute" not in fakes.calls


async def test_two_verified_approvers_carry_out_a_four_eyes_plan(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = fakes_for(FOUR_EYES)

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start(approval_timeout_seconds=3600)
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="alice", plan_hash=waiting.plan_hash, channel="console"),
        )
        await handle.execute_update(
            RemediationWorkflow.decide, DecisionInput(approver="bob", reason="ok", channel="api")
        )
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert [(a.approver, a.via, a.channel) for a in result.approvals] == [
        ("alice", "update", "console"),
        ("bob", "update", "api"),
    ]
    assert "execute" in fakes.calls
    assert [r.approval.channel for r in fakes.approvals] == ["console", "api"]


async def test_a_one_approval_plan_still_accepts_a_signal(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = fakes_for(ONE_APPROVAL)

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice", reason="ok"))
        return await handle.result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "resolved", result.reason
    assert [(a.approver, a.via, a.channel) for a in result.approvals] == [("alice", "signal", "signal")]


async def test_groups_claimed_in_a_signal_are_not_believed(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = fakes_for(ONE_APPROVAL.model_copy(update={"approvers": ["group:sre"]}))

    async def scenario(h: Harness) -> tuple[WorkflowStatus, RemediationResult]:
        handle = await h.start()
        waiting = await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="mallory", groups=["sre"]))
        refused = await refused_signal(handle)
        with pytest.raises(WorkflowUpdateFailedError) as cli:
            await handle.execute_update(
                RemediationWorkflow.decide, DecisionInput(approver="mallory", groups=["sre"], channel="cli")
            )
        assert "mallory is not allowed" in str(cli.value.cause)
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="erin", groups=["sre"], plan_hash=waiting.plan_hash, channel="console"),
        )
        return refused, await handle.result()

    refused, result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert refused.refused == [
        "approve by mallory: mallory is not allowed to decide on this plan; the policy allows: group:sre"
    ]
    assert result.outcome == "resolved", result.reason
    assert [a.approver for a in result.approvals] == ["erin"]
