"""Deploy watch end to end on the dev server: a commit pushed to the GitOps repository, synced by
the sandbox Argo CD (automated sync on refresh), whose notification reaches the gateway's
`/webhooks/argocd`; the worker's `DeploymentWatchWorkflow` takes a baseline and samples the
sandbox Prometheus, whose series for the workload change at the sync (the scenario's
`deploy_signals`): an error ratio ten times its baseline (0.2% → 2%) is judged degraded with its
numbers and opens an incident, whose revert pull request waits for approval; approved, medic
merges it, the sandbox Argo CD syncs the revert (the series go back to their baseline) and the
incident is resolved with the revert commit on the base branch. The notification delivered again
starts no second watch."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cli.embedded import open_policy
from domain.deploy.model import deploy_watch_id
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationResult
from integrations.argocd import ArgoClient
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository, figures_of
from tests.conftest import wait_for_step
from tests.e2e.test_change_review import push
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESTATE = REPO / "sandbox" / "scenarios" / "review-estate.yaml"
BEFORE = {
    "request_rate": 20,
    "error_ratio": 0.002,
    "p99_ms": 180,
    "restarts": 0,
    "ready_ratio": 1,
    "oom_kills": 0,
}


def show(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "show", *args], capture_output=True, check=True, text=True
    ).stdout


def scenario(tmp_path: Path) -> Path:
    data = yaml.safe_load(ESTATE.read_text())
    data["name"] = "deploy-watch"
    data["deploy_signals"] = {"shop/cart": {"before": BEFORE, "after": {**BEFORE, "error_ratio": 0.02}}}
    path = tmp_path / "deploy-watch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def policy(tmp_path: Path) -> Path:
    """The shipped rules and data in `propose` mode with anyone approving, and a short watch for
    shop-cart (4 s, sampled every second)."""
    directory = open_policy(tmp_path / "policy", "propose")
    data = json.loads((directory / "data.json").read_text())
    data["medic"]["config"]["deploy_watch"]["applications"] = {
        "shop-cart": {"analysis_window_seconds": 4, "sample_interval_seconds": 1}
    }
    (directory / "data.json").write_text(json.dumps(data))
    return directory


async def test_a_deploy_that_raises_the_error_ratio_tenfold_is_reverted_after_approval(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(scenario(tmp_path), policy_dir=str(policy(tmp_path)))
    remote = Path(stack.settings.gitops_repo_url)
    cart = yaml.safe_load((ESTATE.parent / "review-estate.yaml").read_text())["gitops"][
        "apps/shop/cart/deployment.yaml"
    ]
    revision = push(
        remote, "main", {"apps/shop/cart/deployment.yaml": cart.replace("cart:1.4.2", "cart:1.5.0")}
    )

    # Argo CD notices the commit (a refresh) and syncs it: its notification starts the watch.
    with ArgoClient(stack.settings.argocd_url, stack.settings.argocd_token) as argocd:
        argocd.get_application("shop-cart", "argocd", refresh="normal")
        # (the sandbox runs the automated sync it started at its next request)
        synced = argocd.get_application("shop-cart", "argocd")
    assert synced["status"]["operationState"]["phase"] == "Succeeded"
    watch_id = deploy_watch_id("argocd", "shop-cart", revision)
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    row = None
    for _ in range(300):
        with transaction(sessions) as session:
            row = DeploymentRepository(session).get(watch_id)
            if row is not None and row.state != "watching":
                state, summary, figures = row.state, row.summary, figures_of(row)
                incident_id = row.incident_id
                break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the watch {watch_id} did not finish: {row and row.state}")
    assert state == "degraded", summary
    assert "error ratio" in summary and "shop-cart" in summary
    fired = figures["verdict"]["fired"][0]
    assert fired["rule"] == "error_ratio" and "2.00%" in fired["message"] and "0.20%" in fired["message"]
    assert figures["workloads"] == ["shop/Deployment/cart"]
    # The degraded deploy opened its incident, recorded on the row.
    assert incident_id == "incident-" + watch_id.replace("/", "."), incident_id

    # Its revert pull request is open before the approval, and waits for it.
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, incident_id)
    waiting = await wait_for_step(handle, "awaiting_approval", timeout=60)
    assert waiting.diagnosis is not None and waiting.diagnosis.root_cause == "bad_release"
    (pr,) = waiting.pull_requests
    assert pr.kind == "revert" and pr.status == "open"
    assert waiting.gitops_change is not None
    (diff,) = waiting.gitops_change.files
    assert diff.path == "apps/shop/cart/deployment.yaml"
    assert "-" in diff.diff and "cart:1.5.0" in diff.diff and "+" in diff.diff and "cart:1.4.2" in diff.diff
    await handle.execute_update(
        RemediationWorkflow.decide,
        DecisionInput(approver="alice", reason="the deploy broke checkout", plan_hash=waiting.plan_hash),
    )
    result: RemediationResult = await asyncio.wait_for(handle.result(), 120)
    assert result.outcome == "resolved", result.reason
    assert f"#{pr.number}" in result.reason
    # The revert commit is on the base branch: the deployment is as it was before the deploy.
    assert show(remote, "main:apps/shop/cart/deployment.yaml") == cart
    message = show(remote, "--no-patch", "--format=%B", "main^2")
    assert show(remote, "--no-patch", "--format=%H", "main^2").strip() == pr.head_commit
    assert f"Reverts: {waiting.gitops_change.reverts_base}..{revision}" in message and incident_id in message

    # The revert is a deploy too: watched, known as medic's own change (never reverted in turn),
    # and verified, its signals back to their baseline.
    reverted = deploy_watch_id(
        "argocd", "shop-cart", show(remote, "--no-patch", "--format=%H", "main").strip()
    )
    for _ in range(300):
        with transaction(sessions) as session:
            row = DeploymentRepository(session).get(reverted)
            if row is not None and row.state != "watching":
                state, summary, figures = row.state, row.summary, figures_of(row)
                break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the revert's watch {reverted} did not finish: {row and row.state}")
    assert state == "verified", summary
    assert figures["made_by"] == [result.incident_id]  # the episode of the incident

    # The same notification again (Argo CD retried it): no second watch.
    body = {
        "application": "shop-cart",
        "namespace": "argocd",
        "project": "shop",
        "revision": revision,
        "phase": "Succeeded",
        "health": "Healthy",
    }
    async with httpx.AsyncClient() as http:
        again = await http.post(
            f"{stack.gateway_url}/webhooks/argocd",
            json=body,
            headers={"Authorization": f"Bearer {stack.settings.argocd_webhook_token}"},
        )
    assert again.status_code == 200 and again.json()["started"] is False, again.text
