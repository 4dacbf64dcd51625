"""Modes per namespace, through the workflow on the time-skipping server with the real policy.

A scale-up of payments/ledger from 2 to 4 replicas, planned by the offline rules: low risk, the
kind of plan that may run unattended. With the shipped policy data (propose) it waits for a human;
with `auto` for its namespace it runs; with `observe` the incident ends `observed` after the
diagnosis, with the would-be change in the incident and no write anywhere (no dry-run, snapshot,
patch, pull request or sync was asked for).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.validate import ValidateActivities
from domain.analysis.plan import Plan, Scale
from domain.policy.approval import DecisionInput
from domain.policy.decision import PolicyDecision
from domain.steps.remediation import RemediationInput, RemediationResult
from domain.steps.validate import ValidateInput
from policies import load_policy_data
from tests.conftest import wait_for_step
from tests.workflows import test_drift_workflow as drift
from tests.workflows import test_gitops_workflow as gitops
from tests.workflows.fakes import replaced
from tests.workflows.test_remediation_workflow import TARGET, Fakes, Harness
from workers.main import workflow_runner
from workflows.drift import drift_incident
from workflows.remediation import RemediationWorkflow

# What a write would be, in each fake: a change to the cluster, to Git, or to Argo CD.
WRITES = {"dry_run", "snapshot", "execute", "restore", "open_fix", "open_revert", "dry_run_sync", "sync"}


def scale_up() -> Fakes:
    return Fakes(
        root_cause="saturation",
        summary="ledger saturated",
        plan=Plan(actions=[Scale(target=TARGET.without_container(), replicas=4)]),
    )


def policy_data(directory: Path, namespaces: dict[str, str]) -> Path:
    """The shipped data with `namespaces` (name → mode) in its modes; a directory of data alone."""
    data = load_policy_data()
    data["medic"]["config"]["modes"] = {"default": "propose", "namespaces": namespaces}
    directory.mkdir()
    (directory / "data.json").write_text(json.dumps(data))
    return directory


def real_policy(fakes: Any, policy_dir: Path | None) -> Callable[..., Any]:
    """validate_plan on the real Rego policy (the shipped one when `policy_dir` is None)."""
    validate = ValidateActivities(str(policy_dir) if policy_dir else None)

    @activity.defn(name="validate_plan")
    def validate_plan(input: ValidateInput) -> PolicyDecision:
        fakes.calls.append("validate")
        return validate.validate_plan(input)

    return validate_plan


async def run(
    env: WorkflowEnvironment,
    fakes: Any,
    policy_dir: Path | None,
    scenario: Callable[[Any], Any],
    harness: type = Harness,
) -> Any:
    h = harness(env, fakes)
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            env.client,
            task_queue=h.queue,
            workflows=[RemediationWorkflow],
            workflow_runner=workflow_runner(),
            activities=replaced(fakes.activities(), real_policy(fakes, policy_dir)),
            activity_executor=executor,
        ):
            return await scenario(h)


def would_change(fakes: Any) -> dict[str, Any]:
    [event] = [e for e in fakes.audit if e.step == "would_change"]
    return dict(event.detail)


async def test_with_the_shipped_policy_a_scale_up_waits_for_a_member_of_sre(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = scale_up()

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start()
        status = await wait_for_step(handle, "awaiting_approval")
        assert status.policy is not None
        assert (status.policy.mode, status.policy.risk, status.policy.auto_execute) == (
            "propose",
            "low",
            False,
        )
        assert status.policy.approvers == ["group:sre"]
        assert not WRITES & set(fakes.calls)
        # A signal's groups are never believed; the console's are.
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="mallory", groups=["sre"]))
        deadline = asyncio.get_running_loop().time() + 30
        while not (refused := (await handle.query(RemediationWorkflow.status)).refused):
            assert asyncio.get_running_loop().time() < deadline, "the signalled approval was not refused"
            await asyncio.sleep(0.05)
        assert "mallory is not allowed to decide on this plan; the policy allows: group:sre" in refused[0]
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(approver="alice", groups=["sre"], channel="console", plan_hash=status.plan_hash),
        )
        return await handle.result()

    result = await run(time_skipping_env, fakes, None, scenario)
    assert result.outcome == "resolved", result.reason
    assert [a.approver for a in result.approvals] == ["alice"]
    assert "execute" in fakes.calls


async def test_with_auto_for_its_namespace_a_scale_up_runs_without_approval(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    fakes = scale_up()

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run(time_skipping_env, fakes, policy_data(tmp_path / "p", {"payments": "auto"}), scenario)
    assert result.outcome == "resolved", result.reason
    assert result.approvals == []
    assert fakes.calls[4:7] == ["dry_run", "snapshot", "execute"]
    assert ("awaiting_approval", "started") not in fakes.steps()


async def test_with_observe_a_scale_up_ends_observed_with_the_would_be_diff_and_no_write(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    fakes = scale_up()

    async def scenario(h: Harness) -> tuple[RemediationResult, Any]:
        handle = await h.start()
        return await handle.result(), await handle.query(RemediationWorkflow.status)

    policy_dir = policy_data(tmp_path / "p", {"payments": "observe"})
    result, status = await run(time_skipping_env, fakes, policy_dir, scenario)
    assert result.outcome == "observed"
    assert result.reason == (
        "observe mode in namespace payments: would change payments/Deployment/ledger: replicas 2 → 4; "
        "nothing was changed"
    )
    assert fakes.calls == ["observe", "recall", "analyze", "validate"]
    assert fakes.approvals == [] and result.approvals == []
    detail = would_change(fakes)
    [shown] = detail["objects"]
    assert shown["target"] == "payments/Deployment/ledger"
    assert "-  replicas: 2\n+  replicas: 4\n" in shown["diff"]
    assert detail["files"] == [] and detail["namespaces"] == ["payments"]
    # The incident keeps the diagnosis, the plan and the policy's decision, and ends observed.
    assert fakes.incident["outcome"] == "observed" and fakes.incident["status"] == "observed"
    assert fakes.incident["policy_decision"]["mode"] == "observe"
    assert fakes.incident["plan"]["actions"][0]["replicas"] == 4
    assert status.policy.mode == "observe" and status.outcome == "observed"
    assert fakes.steps()[-2:] == [("would_change", "info"), ("closed", "observed")]


async def test_observe_on_a_gitops_target_shows_the_file_edit_and_opens_no_pull_request(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    fakes = gitops.Fakes()

    async def scenario(h: gitops.Harness) -> RemediationResult:
        return await (await h.start()).result()

    policy_dir = policy_data(tmp_path / "p", {"pay*": "observe"})
    result = await run(time_skipping_env, fakes, policy_dir, scenario, harness=gitops.Harness)
    assert result.outcome == "observed", result.reason
    assert result.reason == (
        "observe mode in namespace payments: would change payments/Deployment/ledger:ledger: "
        "memory limit 256Mi → 512Mi through a pull request changing values/ledger-values.yaml; "
        "nothing was changed"
    )
    # The file edit is computed (a read of the repository); no pull request, merge or sync.
    assert fakes.calls == ["validate", "prepare"]
    assert fakes.opened == [] and fakes.prs == {} and fakes.synced == []
    detail = would_change(fakes)
    assert detail["files"] == [
        {"path": "values/ledger-values.yaml", "diff": gitops.DIFF, "description": "memory limit"}
    ]
    assert ("preparing_change", "completed") in fakes.steps()


async def test_observe_reports_a_drift_incident_and_syncs_nothing(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    fakes = drift.SyncFakes()
    queue, workflow_id = f"test-{uuid.uuid4()}", f"drift.argocd.cart-{uuid.uuid4()}"
    policy_dir = policy_data(tmp_path / "p", {"shop": "observe"})
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            time_skipping_env.client,
            task_queue=queue,
            workflows=[RemediationWorkflow],
            workflow_runner=workflow_runner(),
            activities=replaced(fakes.activities(), real_policy(fakes, policy_dir)),
            activity_executor=executor,
        ):
            handle = await time_skipping_env.client.start_workflow(
                RemediationWorkflow.run,
                RemediationInput(
                    incident=drift_incident(workflow_id, drift.drifted("cart")), cooldown_seconds=0
                ),
                id=workflow_id,
                task_queue=queue,
            )
            result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.outcome == "observed", result.reason
    assert "observe mode in namespace shop: would change shop/Deployment/cart" in result.reason
    assert not WRITES & set(fakes.calls) and fakes.synced == []
    assert would_change(fakes)["objects"][0]["target"] == "shop/Deployment/cart"
