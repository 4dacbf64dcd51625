"""Modes on the real stack: the dev server, the gateway, the worker, the store, the local GitOps
remote and the sandbox cluster and Argo CD, with the shipped rules and the policy data of a file.

A CPU-saturated Deployment nobody's GitOps owns (shared scenario saturation-direct-scale): with the
shipped policy data the scale-up waits for a member of sre and writes nothing; with `auto` set for
its namespace (the same file, edited while the stack runs) the next incident scales it with no
approval at all.

The ledger (demo-gitops: a Helm chart Argo CD deploys, its values in Git) is OOMKilled twice. With
its namespace in `observe`, the incident ends `observed`: the values-file diff a pull request would
make is in the incident (audit, `medic incidents show`), and nothing was written to the cluster or
the Git remote. With the namespace switched to `propose` (the same file, edited while the stack
runs), the next incident waits for a member of sre; once one approves, the pull request's branch
is pushed — which shows that the write checks above would have seen a write.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import cli.main
from cli.embedded import DEFAULT_SCENARIO, Stack
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationResult
from policies import load_policy_data
from store.db import make_engine, session_factory, transaction
from store.repositories import AuditRepository, IncidentRepository
from tests.conftest import wait_for_step
from tests.e2e.test_remediation_loop import SHARED_SCENARIOS, deployment, post_alert
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

SCENARIO = DEFAULT_SCENARIO.parent / "demo-gitops.yaml"
FORMAT = "--format=%(refname) %(objectname)"


def write_modes(directory: Path, payments: str | None, namespace: str = "payments") -> Path:
    """A policy directory of data alone: the shipped data, with `namespace` in the given mode
    (None: the shipped data as it is)."""
    data = load_policy_data()
    if payments is not None:
        data["medic"]["config"]["modes"] = {"default": "propose", "namespaces": {namespace: payments}}
    directory.mkdir(exist_ok=True)
    (directory / "data.json").write_text(json.dumps(data))
    return directory


def record_writes(stack: Stack) -> list[str]:
    """Every write the sandbox Kubernetes API is asked for (PATCH, PUT; dry-run ones included)."""
    cluster = stack.cluster
    assert cluster is not None
    writes: list[str] = []

    def recorded(verb: str, write: Callable[..., Any]) -> Callable[..., Any]:
        def call(api_version: str, kind: str, namespace: str, name: str, *args: Any, **kwargs: Any) -> Any:
            writes.append(f"{verb} {namespace}/{kind}/{name} dry_run={kwargs.get('dry_run', False)}")
            return write(api_version, kind, namespace, name, *args, **kwargs)

        return call

    cluster.patch = recorded("PATCH", cluster.patch)  # type: ignore[method-assign]
    cluster.replace = recorded("PUT", cluster.replace)  # type: ignore[method-assign]
    return writes


def remote_refs(stack: Stack) -> list[str]:
    out = subprocess.run(
        [
            "git",
            "--git-dir",
            stack.settings.gitops_repo_url,
            "for-each-ref",
            "--format=%(refname) %(objectname)",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return sorted(out.splitlines())


def stored(stack: Stack, incident_id: str) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with transaction(sessions) as session:
        row = IncidentRepository(session).get(incident_id)
        assert row is not None
        incident = {"status": row.status, "outcome": row.outcome, "policy_decision": row.policy_decision}
        audit = [
            (e.step, e.status, dict(e.detail or {}))
            for e in AuditRepository(session).list(incident_id=incident_id)
        ]
    return incident, audit


async def test_observe_shows_the_git_diff_and_writes_nothing_then_propose_waits_for_sre(
    make_stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = write_modes(tmp_path / "policy", "observe")
    stack = await make_stack(SCENARIO, policy_dir=str(policy))
    writes = record_writes(stack)
    refs = remote_refs(stack)
    ledger = stack.cluster.peek("apps/v1", "Deployment", "payments", "ledger") if stack.cluster else None

    # observe: diagnosed, the would-be values-file diff recorded, nothing written anywhere
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, await post_alert(stack, SCENARIO))
    result: RemediationResult = await asyncio.wait_for(handle.result(), 60)
    assert result.outcome == "observed", result.reason
    assert result.reason.startswith(
        "observe mode in namespace payments: would change payments/Deployment/ledger"
    )
    assert (
        result.reason.endswith("; nothing was changed") and "through a pull request changing" in result.reason
    )
    incident, audit = stored(stack, result.incident_id)
    assert (incident["status"], incident["outcome"]) == ("observed", "observed")
    assert incident["policy_decision"]["mode"] == "observe"
    [detail] = [d for step, _, d in audit if step == "would_change"]
    [file] = detail["files"]
    assert "-    memory: 256Mi" in file["diff"] and "+    memory: 512Mi" in file["diff"]
    assert [step for step, _, _ in audit][-2:] == ["would_change", "closed"]
    assert writes == [], "observe mode wrote to the cluster"
    assert remote_refs(stack) == refs, "observe mode wrote to the Git remote"
    assert stack.cluster is not None
    assert stack.cluster.peek("apps/v1", "Deployment", "payments", "ledger") == ledger

    monkeypatch.setenv("DATABASE_URL", stack.settings.resolved_database_url)
    monkeypatch.setenv("MEDIC_HOME", stack.settings.home)
    shown = CliRunner().invoke(cli.main.app, ["incidents", "show", result.incident_id])
    assert shown.exit_code == 0, shown.output
    assert "would change (observe mode: nothing was changed):" in shown.output
    assert f"GitOps file {file['path']}" in shown.output and "+    memory: 512Mi" in shown.output

    # propose (the policy file edited while the stack runs): the next incident waits for sre
    write_modes(policy, "propose")
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, await post_alert(stack, SCENARIO))
    waiting = await wait_for_step(handle, "awaiting_approval")
    assert waiting.policy is not None and waiting.policy.mode == "propose"
    assert waiting.policy.approvers == ["group:sre"]
    assert writes == [] and remote_refs(stack) == refs
    await handle.execute_update(
        RemediationWorkflow.decide,
        DecisionInput(approver="alice", groups=["sre"], channel="console", plan_hash=waiting.plan_hash),
    )
    await wait_for_step(handle, "awaiting_merge")
    pushed = set(remote_refs(stack)) - set(refs)
    assert len(pushed) == 1 and next(iter(pushed)).startswith("refs/heads/medic/"), pushed
    await handle.terminate("the test ends here: the pull request was opened")


async def test_a_scale_up_waits_for_sre_with_the_shipped_policy_and_runs_alone_with_auto(
    make_stack: Any, tmp_path: Path
) -> None:
    source = SHARED_SCENARIOS / "saturation-direct-scale.yaml"
    if not source.exists():
        pytest.fail(f"shared scenario {source} is missing")
    policy = write_modes(tmp_path / "policy", None)
    stack = await make_stack(source, policy_dir=str(policy))
    writes = record_writes(stack)
    before = deployment(stack, "search", "query-api")["spec"]["replicas"]

    # the shipped policy data: propose everywhere; the scale-up waits for a member of sre
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, await post_alert(stack, source))
    waiting = await wait_for_step(handle, "awaiting_approval")
    assert waiting.policy is not None
    assert (waiting.policy.mode, waiting.policy.auto_execute) == ("propose", False)
    assert waiting.policy.approvers == ["group:sre"]
    assert waiting.plan is not None and [a.kind for a in waiting.plan.actions] == ["scale"]
    assert writes == [], "a plan waiting for approval wrote to the cluster"
    await handle.terminate("the test goes on with auto")

    # auto for the namespace: the next incident scales the Deployment with no approval
    write_modes(policy, "auto", namespace="search")
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, await post_alert(stack, source))
    result: RemediationResult = await asyncio.wait_for(handle.result(), 90)
    assert result.outcome == "resolved", result.reason
    assert result.approvals == []
    after = deployment(stack, "search", "query-api")["spec"]["replicas"]
    assert 3 <= after <= 6 and after > before, (before, after)
    assert any(w.startswith("PATCH search/Deployment/query-api dry_run=False") for w in writes), writes
    steps = [(step, status) for step, status, _ in stored(stack, result.incident_id)[1]]
    assert ("awaiting_approval", "skipped") in steps and ("executing", "completed") in steps, steps
