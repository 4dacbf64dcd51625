"""The whole loop on the real Temporal dev server: gateway, worker, store and the sandbox cluster."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cli.devserver import temporal_binary
from cli.embedded import DEFAULT_SCENARIO, Stack
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationResult
from integrations.sealing import SnapshotSealer
from sandbox.scenario import SHARED_SCENARIOS
from store.db import make_engine, session_factory, transaction
from store.repositories import ActionRepository, ApprovalRepository, AuditRepository, SnapshotRepository
from tests.conftest import keep_history, wait_for_step
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

LOOP_STEPS = [
    "received",
    "observing",
    "recalling",
    "analyzing",
    "validating",
    "awaiting_approval",
    "decision",
    "awaiting_approval",
    "dry_run",
    "snapshot",
    "executing",
    "verifying",
    "closed",
]


def scenario_variant(tmp_path: Path, source: Path, heals_at_least: str | None = None) -> Path:
    data = yaml.safe_load(source.read_text())
    if heals_at_least is not None:
        for condition in data.get("heals_when", []):
            condition["at_least"] = heals_at_least
    path = tmp_path / f"{data['name']}-variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def post_alert(stack: Stack, scenario: Path) -> str:
    alert = yaml.safe_load(scenario.read_text())["alert"]
    alert["groupKey"] = f"{alert['groupKey']}:{uuid.uuid4().hex[:8]}"  # a group of this test's own
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{stack.gateway_url}/alerts/alertmanager",
            json=alert,
            headers={"Authorization": f"Bearer {stack.settings.webhook_token}"},
        )
    assert response.status_code == 202, response.text
    return str(response.json()["workflow_ids"][0])


def temporal_signal(address: str, workflow_id: str, name: str, payload: dict[str, str]) -> None:
    subprocess.run(
        [
            temporal_binary(),
            "workflow",
            "signal",
            "--address",
            address,
            "--workflow-id",
            workflow_id,
            "--name",
            name,
            "--input",
            json.dumps(payload),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def deployment(stack: Stack, namespace: str, name: str) -> dict[str, Any]:
    assert stack.cluster is not None
    live = stack.cluster.peek("apps/v1", "Deployment", namespace, name)
    assert live is not None
    return live


def memory_limit(live: dict[str, Any], container: str) -> str:
    containers = live["spec"]["template"]["spec"]["containers"]
    return str(next(c for c in containers if c["name"] == container)["resources"]["limits"]["memory"])


def opened(stack: Stack, content: dict[str, Any]) -> dict[str, Any]:
    """A stored snapshot, opened with the stack's key (<home>/snapshot.key); the row itself is sealed."""
    assert content.get("sealed") == "fernet" and "spec" not in content
    assert stack.settings.snapshot_keys == (Path(stack.settings.home) / "snapshot.key").read_text().strip()
    return SnapshotSealer.from_value(stack.settings.snapshot_keys).open(content)


def audit_steps(stack: Stack, incident_id: str) -> list[tuple[str, str, str]]:
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with transaction(sessions) as session:
        return [(e.step, e.status, e.actor) for e in AuditRepository(session).list(incident_id=incident_id)]


async def test_alert_approved_with_temporal_cli_raises_memory_and_resolves(make_stack: Any) -> None:
    stack = await make_stack(DEFAULT_SCENARIO)
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

    status = await wait_for_step(handle, "awaiting_approval")
    assert status.policy is not None and status.policy.risk == "medium"
    assert memory_limit(deployment(stack, "shop", "cart"), "cart") == "128Mi"
    await asyncio.to_thread(
        temporal_signal,
        stack.settings.temporal_address,
        workflow_id,
        "approve",
        {"approver": "alice", "reason": "ok"},
    )
    result: RemediationResult = await asyncio.wait_for(handle.result(), 60)

    assert result.outcome == "resolved", result.reason
    await keep_history(handle, "remediation-resolved")
    live = deployment(stack, "shop", "cart")
    assert memory_limit(live, "cart") == "256Mi"
    incident_id = result.incident_id
    assert incident_id.startswith(f"{workflow_id}.")
    assert live["metadata"]["annotations"]["medic.io/incident"] == incident_id
    assert live["status"]["readyReplicas"] == live["spec"]["replicas"]

    steps = audit_steps(stack, incident_id)
    assert [s for s, _, _ in steps] == LOOP_STEPS
    assert ("decision", "approve", "alice") in steps
    assert steps[-1][:2] == ("closed", "resolved")
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with transaction(sessions) as session:
        approvals = ApprovalRepository(session).list(incident_id)
        snapshots = SnapshotRepository(session).list(incident_id)
        actions = ActionRepository(session).list(incident_id)
    assert [(a.approver, a.via, a.plan_hash) for a in approvals] == [("alice", "signal", status.plan_hash)]
    assert [s.resource_key for s in snapshots] == ["shop/Deployment/cart"]
    assert memory_limit(opened(stack, snapshots[0].content), "cart") == "128Mi"
    assert sorted(a.phase for a in actions) == ["dry_run", "execute"]


async def test_change_that_does_not_heal_is_rolled_back_to_the_exact_snapshot(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = scenario_variant(tmp_path, DEFAULT_SCENARIO, heals_at_least="1Gi")
    stack = await make_stack(scenario)
    before = deployment(stack, "shop", "cart")
    workflow_id = await post_alert(stack, scenario)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")

    # The medic CLI's `approve` goes through the `decide` update, bound to the plan hash.
    env = {**os.environ, "TEMPORAL_ADDRESS": stack.settings.temporal_address}
    approved = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "approve", waiting.incident_id, "--as", "bob", "--reason", "try it"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert approved.returncode == 0, approved.stderr
    result: RemediationResult = await asyncio.wait_for(handle.result(), 90)

    assert result.outcome == "rolled_back", result.reason
    await keep_history(handle, "remediation-rolled-back")
    after = deployment(stack, "shop", "cart")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    # The revision annotation is the controller's: a rollback moves it forward, as in a real cluster.
    controller_owned = "deployment.kubernetes.io/revision"
    annotations = {k: v for k, v in after["metadata"]["annotations"].items() if k != controller_owned}
    assert annotations == {
        k: v for k, v in before["metadata"]["annotations"].items() if k != controller_owned
    }
    assert "medic.io/incident" not in annotations
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with transaction(sessions) as session:
        (snapshot,) = SnapshotRepository(session).list(result.incident_id)
    assert after["spec"] == opened(stack, snapshot.content)["spec"]
    steps = audit_steps(stack, result.incident_id)
    assert ("verifying", "failed", "medic") in steps
    assert ("rolling_back", "completed", "medic") in steps
    assert ("verifying_rollback", "passed", "medic") in steps
    assert ("decision", "approve", "bob") in steps


async def test_argo_cd_managed_target_is_never_patched_directly(make_stack: Any, tmp_path: Path) -> None:
    source = SHARED_SCENARIOS / "oom-helm-values.yaml"
    if not source.exists():
        pytest.fail(f"shared scenario {source} is missing")
    stack = await make_stack(source)
    before = deployment(stack, "payments", "ledger")
    workflow_id = await post_alert(stack, source)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    await handle.execute_update(
        RemediationWorkflow.decide, DecisionInput(approver="alice", plan_hash=waiting.plan_hash)
    )
    # The change goes through a pull request against the GitOps repository (tests/e2e/test_gitops_loop.py
    # follows it to the merge); closing it unmerged leaves the Deployment untouched.
    merging = await wait_for_step(handle, "awaiting_merge")
    (pr,) = merging.pull_requests
    env = {
        **os.environ,
        "MEDIC_HOME": stack.settings.home,
        "TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "MEDIC_GITOPS_REPO": stack.settings.gitops_repo_url,
    }
    closed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "pr", "close", str(pr.number), "--as", "bob"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert closed.returncode == 0, closed.stderr
    result = await asyncio.wait_for(handle.result(), 60)

    assert result.outcome == "rejected", result.reason
    await keep_history(handle, "remediation-gitops-rejected")
    assert f"pull request #{pr.number} was closed without merging by bob" in result.reason
    assert deployment(stack, "payments", "ledger")["spec"] == before["spec"]
    assert stack.cluster is not None
    assert stack.cluster.field_managers("apps/v1", "Deployment", "payments", "ledger") == []
    steps = audit_steps(stack, result.incident_id)
    assert not {"dry_run", "snapshot", "executing"} & {s for s, _, _ in steps}
