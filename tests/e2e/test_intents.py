"""Change requests end to end on the dev server: `POST /api/intents` and `medic propose` start an
incident of source `intent` whose plan is the requested change; another person approves it; a
GitOps-managed target changes through a pull request in the local GitOps remote, merged, synced by
the sandbox Argo CD and verified, and an unmanaged one directly.

The requester cannot approve their own request; a protected namespace is denied; a name that two
workloads share is refused with both listed; words that read as no change are a 422.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cli.embedded import Stack
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationResult
from sandbox.scenario import SHARED_SCENARIOS
from store.db import make_engine, session_factory, transaction
from store.repositories import AuditRepository
from tests.conftest import keep_history
from tests.console_fixtures import console_login
from tests.console_html import Page
from tests.e2e.test_gitops_loop import approve, git, merge, opened_pull_request
from tests.e2e.test_remediation_loop import deployment, memory_limit
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

ESTATE = Path(__file__).resolve().parents[2] / "sandbox" / "scenarios" / "review-estate.yaml"


def estate_with_a_second_cart(tmp_path: Path) -> Path:
    """review-estate (ledger: Helm values; cart: plain manifests; coredns in kube-system), with an
    unmanaged Deployment `cart` in namespace staging beside shop's."""
    data = yaml.safe_load(ESTATE.read_text())
    cart = next(o for o in data["cluster"] if o["kind"] == "Deployment" and o["metadata"]["name"] == "cart")
    twin = json.loads(json.dumps(cart))
    twin["metadata"]["namespace"] = "staging"
    twin["metadata"]["uid"] = "7a2c1e40-5b3d-4c1e-9f0a-00000000beef"
    twin["metadata"]["annotations"] = {}
    data["cluster"].append(twin)
    path = tmp_path / "estate-two-carts.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def medic_propose(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`medic propose` against this stack: its home, Temporal and task queue."""
    env = {
        **os.environ,
        "MEDIC_HOME": stack.settings.home,
        "TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "MEDIC_TASK_QUEUE": stack.settings.task_queue,
        # The stack's own timings (the workflow's input comes from the starter's settings).
        "MEDIC_INCIDENT_COOLDOWN_SECONDS": "0",
        "MEDIC_VERIFY_INTERVAL_SECONDS": str(stack.settings.verify_interval_seconds),
        "MEDIC_PR_POLL_SECONDS": str(stack.settings.pr_poll_seconds),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", "propose", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def propose(stack: Stack, words: str, request_id: str = "") -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        return await http.post(
            "/api/intents",
            json={"request": words, "request_id": request_id},
            headers={"Authorization": f"Bearer {stack.console_token}"},
        )


async def through_a_pull_request(stack: Stack, workflow_id: str) -> RemediationResult:
    """Approved by someone other than the requester, its pull request merged: the result."""
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    await approve(handle, "alice")
    pr = await opened_pull_request(handle, 1)
    await merge(stack, pr, "carol")
    try:
        return await asyncio.wait_for(handle.result(), 60)
    except TimeoutError:
        status = await handle.query(RemediationWorkflow.status)
        raise AssertionError(f"{workflow_id} still at {status.step}: {status.reason}") from None


async def test_requests_in_free_text_become_reviewed_pull_requests_and_refusals_say_why(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(estate_with_a_second_cart(tmp_path), pr_poll_seconds=2)

    # A scale in free text on the Helm-values app, and a memory raise on the raw-manifest app.
    scale = await propose(stack, "scale ledger in payments to 4 replicas for the sale", "sale-1")
    memory = await propose(stack, "give cart in shop 1Gi of memory")
    assert scale.status_code == 202, scale.text
    assert memory.status_code == 202, memory.text
    scaled, raised = scale.json(), memory.json()
    assert scaled["step"] == "awaiting_approval", scaled
    assert scaled["requester"] == "admin" and scaled["change"] == "scale payments/ledger to 4 replicas"
    (action,) = scaled["plan"]["actions"]
    assert (action["kind"], action["mode"], action["file"], action["replicas"]) == (
        "scale",
        "gitops",
        "values/ledger-values.yaml",
        4,
    )
    assert scaled["approvals_required"] >= 1 and scaled["risk"] in ("low", "medium")
    assert scaled["link"].endswith(f"/console/incidents/{scaled['incident_id']}")
    (raise_action,) = raised["plan"]["actions"]
    assert raise_action["file"] == "apps/shop/cart/deployment.yaml"
    assert raise_action["limits"] == {"memory": "1Gi"}

    # The same request id starts nothing new.
    again = await propose(stack, "scale ledger in payments to 4 replicas for the sale", "sale-1")
    assert again.status_code == 202 and again.json()["started"] is False
    assert again.json()["workflow_id"] == scaled["workflow_id"]

    # The requester (the API token's user) cannot approve it.
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        own = await http.post(
            f"/api/incidents/{scaled['incident_id']}/decide",
            json={"decision": "approve", "plan_hash": scaled["plan_hash"]},
            headers={"Authorization": f"Bearer {stack.console_token}"},
        )
    assert own.status_code == 409, own.text
    assert "admin requested this change and cannot approve it" in own.json()["error"]

    # Refusals: a name two workloads share, a protected namespace, words that ask for nothing.
    ambiguous = (await propose(stack, "restart cart")).json()
    assert ambiguous["outcome"] == "needs_review"
    assert "cart names 2 workloads: shop/cart (Deployment), staging/cart (Deployment)" in ambiguous["reason"]
    protected = (await propose(stack, "restart kube-system/coredns")).json()
    assert protected["outcome"] == "needs_review"
    assert "policy denied the plan" in protected["reason"] and "kube-system" in protected["reason"]
    unread = await propose(stack, "make it faster")
    assert (
        unread.status_code == 422 and "could not read 'make it faster' as a change" in unread.json()["error"]
    )

    scale_result, memory_result = await asyncio.gather(
        through_a_pull_request(stack, scaled["workflow_id"]),
        through_a_pull_request(stack, raised["workflow_id"]),
    )
    assert scale_result.outcome == "resolved", scale_result.reason
    await keep_history(
        stack.client.get_workflow_handle(scaled["workflow_id"], run_id=None),
        "remediation-intent-gitops-resolved",
    )
    assert memory_result.outcome == "resolved", memory_result.reason
    assert [a.approver for a in scale_result.approvals] == ["alice"]
    assert "replicaCount: 4" in git(stack, "show", "main:values/ledger-values.yaml")
    assert deployment(stack, "payments", "ledger")["spec"]["replicas"] == 4
    assert "memory: 1Gi" in git(stack, "show", "main:apps/shop/cart/deployment.yaml")
    assert memory_limit(deployment(stack, "shop", "cart"), "cart") == "1Gi"
    assert memory_limit(deployment(stack, "staging", "cart"), "cart") == "512Mi"


async def test_an_image_bump_in_the_structured_form_goes_through_the_kustomize_overlay(
    make_stack: Any,
) -> None:
    scenario = SHARED_SCENARIOS / "image-pull-typo.yaml"
    stack = await make_stack(scenario, pr_poll_seconds=2)
    image = "registry.example/web/storefront:4.1.9"
    done = await asyncio.to_thread(
        medic_propose,
        stack,
        "set-image",
        "web/storefront",
        f"storefront={image}",
        "--as",
        "ci-bot",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["requester"] == "ci-bot" and answer["step"] == "awaiting_approval", answer
    (action,) = answer["plan"]["actions"]
    assert (action["kind"], action["mode"], action["image"]) == ("set_image", "gitops", image)
    assert action["file"].endswith("kustomization.yaml")

    result = await through_a_pull_request(stack, answer["workflow_id"])
    assert result.outcome == "resolved", result.reason
    live = deployment(stack, "web", "storefront")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == image


def unmanaged_bad_release(tmp_path: Path) -> Path:
    """crashloop-bad-release (checkout 1.14.0, revision 12, crashes; revision 11 ran 1.13.2) with no
    Argo CD and no GitOps repository: an unmanaged Deployment that medic changes directly."""
    data = yaml.safe_load((SHARED_SCENARIOS / "crashloop-bad-release.yaml").read_text())
    for key in ("argocd", "gitops"):
        data.pop(key, None)
    for obj in data["cluster"]:
        obj["metadata"].get("annotations", {}).pop("argocd.argoproj.io/tracking-id", None)
    path = tmp_path / "unmanaged-bad-release.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def test_a_rollback_request_on_an_unmanaged_deployment_is_made_directly(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(unmanaged_bad_release(tmp_path))
    answer = (await propose(stack, "roll checkout in shop back to yesterday's version")).json()
    assert answer["step"] == "awaiting_approval", answer
    (action,) = answer["plan"]["actions"]
    assert (action["kind"], action["mode"], action["revision"]) == ("rollback_revision", "direct", 11)

    # A rollback is high risk: two people approve it, as the console would send their decisions.
    assert (answer["risk"], answer["approvals_required"]) == ("high", 2)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, answer["workflow_id"])
    for approver in ("alice", "bob"):
        await handle.execute_update(
            RemediationWorkflow.decide,
            DecisionInput(
                approver=approver, plan_hash=answer["plan_hash"], channel="console", groups=["sre"]
            ),
        )
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.outcome == "resolved", result.reason
    await keep_history(handle, "remediation-intent-direct-resolved")
    live = deployment(stack, "shop", "checkout")
    assert (
        live["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/shop/checkout:1.13.2"
    )


async def test_the_consoles_request_form_starts_a_request_as_the_logged_in_user(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(unmanaged_bad_release(tmp_path))
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        assert (await console_login(http, token=stack.console_token)).status_code == 303
        form = Page((await http.get("/console/request")).text)
        fields = {"csrf": form.value("csrf"), "request": "restart shop/checkout", "requester": "mallory"}

        forged = await http.post("/console/request", data={**fields, "csrf": "nope"})
        assert forged.status_code == 403 and "nothing was requested" in forged.text
        unread = await http.post("/console/request", data={**fields, "request": "make it better"})
        assert unread.status_code == 422
        assert "refused: could not read" in Page(unread.text).text("request-error")

        started = await http.post("/console/request", data=fields)
        assert started.status_code == 303, started.text
        page = await http.get(started.headers["location"])
    assert page.status_code == 200
    incident_id = started.headers["location"].rsplit("/", 1)[-1]
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, incident_id.split(".")[0])
    status = await handle.query(RemediationWorkflow.status)
    assert status.incident_id == incident_id and status.plan is not None
    (action,) = status.plan.actions
    assert (action.kind, action.target.key) == ("restart", "shop/Deployment/checkout")
    # the requester is the logged-in user (the token's), not a field of the form
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with transaction(sessions) as session:
        (received,) = [
            e for e in AuditRepository(session).list(incident_id=incident_id) if e.step == "received"
        ]
    assert (received.detail["requester"], received.detail["channel"]) == (
        stack.settings.console_token_user,
        "console",
    )
    assert received.detail["words"] == "restart shop/checkout"
