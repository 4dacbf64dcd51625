"""GitOps mode end to end on the real Temporal dev server: an alert on an Argo CD-managed Deployment
becomes a pull request against the GitOps repository (a local bare remote with the local PR host),
approved, merged with `medic pr merge`, synced by the sandbox Argo CD that follows the repository,
and verified — or, when the fix does not heal, reverted by a second pull request.

medic itself never writes the Deployment: the sandbox cluster's field managers show only Argo CD's
controller changing it.
"""

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

from cli.embedded import Stack
from domain.gitops.pull_requests import PullRequest, branch_for
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationResult, WorkflowStatus
from gateway.github_webhook import signature
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import SHARED_SCENARIOS, load_scenario
from store.db import make_engine, session_factory, transaction
from store.repositories import AuditRepository
from tests.conftest import keep_history, wait_for_step
from tests.console_fixtures import console_login
from tests.e2e.test_console_approval import decide, wait_for_status
from tests.e2e.test_remediation_loop import (
    deployment,
    memory_limit,
    post_alert,
    scenario_variant,
)
from tests.fakes.github_api import SandboxGitHub
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

SCENARIO = SHARED_SCENARIOS / "oom-helm-values.yaml"
VALUES = "values/ledger-values.yaml"


def git(stack: Stack, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", stack.settings.gitops_repo_url, *args],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()


def medic(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The `medic` command against this stack (its home, store, GitOps repository and Temporal)."""
    env = {
        **os.environ,
        "MEDIC_HOME": stack.settings.home,
        "TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "MEDIC_GITOPS_REPO": stack.settings.gitops_repo_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def approve(handle: Any, approver: str) -> WorkflowStatus:
    status = await wait_for_step(handle, "awaiting_approval", timeout=60)
    await handle.execute_update(
        RemediationWorkflow.decide,
        DecisionInput(approver=approver, reason="diff reviewed", plan_hash=status.plan_hash),
    )
    return status


async def opened_pull_request(handle: Any, count: int) -> PullRequest:
    """The `count`-th pull request of the incident, once the workflow waits for its merge."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        status: WorkflowStatus = await handle.query(RemediationWorkflow.status)
        if status.step == "awaiting_merge" and len(status.pull_requests) == count:
            return status.pull_requests[-1]
        assert status.outcome is None, f"ended {status.outcome}: {status.reason}"
        assert loop.time() < deadline, f"no pull request #{count} open (step {status.step})"
        await asyncio.sleep(0.1)


async def merge(stack: Stack, pr: PullRequest, who: str) -> None:
    done = await asyncio.to_thread(medic, stack, "pr", "merge", str(pr.number), "--as", who)
    assert done.returncode == 0, done.stderr
    assert f"told incident {pr.incident_id}" in done.stdout + done.stderr


async def attempts(handle: Any, activity: str) -> list[int]:
    """The attempt that completed each run of `activity` in the workflow's history so far."""
    history = await handle.fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    return [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


def managers(stack: Stack) -> set[str]:
    assert stack.cluster is not None
    return {m.manager for m in stack.cluster.field_managers("apps/v1", "Deployment", "payments", "ledger")}


def audit(stack: Stack, incident_id: str) -> list[tuple[str, str, str]]:
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with transaction(sessions) as session:
        return [(e.step, e.status, e.actor) for e in AuditRepository(session).list(incident_id=incident_id)]


async def test_argo_cd_managed_oom_is_fixed_by_a_merged_pull_request_synced_by_argo_cd(
    make_stack: Any,
) -> None:
    stack = await make_stack(SCENARIO, pr_poll_seconds=2)
    seed = git(stack, "rev-parse", "main")
    workflow_id = await post_alert(stack, SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

    waiting = await approve(handle, "alice")
    change = waiting.gitops_change
    assert change is not None and change.base_commit == seed
    (diff,) = change.files
    assert diff.path == VALUES and "-    memory: 256Mi" in diff.diff
    new_limit = next(line for line in diff.diff.splitlines() if line.startswith("+    memory:")).split()[2]
    pr = await opened_pull_request(handle, 1)
    assert pr.branch == branch_for(waiting.incident_id) and pr.kind == "fix" and pr.host == "local"
    # One commit on the branch, on top of the commit the diff was computed (and approved) on.
    assert git(stack, "rev-list", f"{seed}..{pr.branch}").split() == [pr.head_commit]
    assert f"memory: {new_limit}" in git(stack, "show", f"{pr.branch}:{VALUES}")
    assert memory_limit(deployment(stack, "payments", "ledger"), "ledger") == "256Mi"

    await merge(stack, pr, "carol")
    result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "resolved", result.reason
    await keep_history(handle, "remediation-gitops-resolved")
    live = deployment(stack, "payments", "ledger")
    assert memory_limit(live, "ledger") == new_limit
    assert live["status"]["readyReplicas"] == live["spec"]["replicas"]
    assert "medic" not in managers(stack) and "argocd-controller" in managers(stack)
    assert "medic.io/incident" not in live["metadata"].get("annotations", {})
    assert git(stack, "rev-parse", "main^2") == pr.head_commit  # the merge commit Argo CD synced
    steps = audit(stack, result.incident_id)
    names = [s for s, _, _ in steps]
    assert (
        names.index("preparing_change")
        < names.index("awaiting_approval")
        < names.index("opening_pull_request")
    )
    assert ("awaiting_merge", "completed", "carol") in steps
    assert ("syncing", "completed", "medic") in steps and ("verifying", "passed", "medic") in steps
    assert not {"dry_run", "snapshot", "executing"} & set(names)
    listed = await asyncio.to_thread(medic, stack, "pr", "list")
    assert pr.branch in listed.stdout and "merged" in listed.stdout


async def test_an_application_from_a_repository_medic_may_not_write_is_never_changed(
    make_stack: Any,
) -> None:
    # medic's repository is known by another URL only: the scenario's Application reads its values
    # from https://git.example/platform/gitops.git, which is then not a repository medic may write.
    stack = await make_stack(
        SCENARIO, pr_poll_seconds=2, gitops_repo_aliases=("https://git.example/apps/gitops.git",)
    )
    seed = git(stack, "rev-parse", "main")
    workflow_id = await post_alert(stack, SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "needs_review"
    assert result.reason.startswith("policy denied the plan")
    # (the reason's URL is shortened as every URL in a reason is; the policy's own message has it whole)
    assert "Application payments-ledger deploys from https://git.example/platform/gitops" in result.reason
    assert result.reason.endswith("; add it to MEDIC_GITOPS_REPOSITORIES_FILE")
    # Nothing was written: no branch, no commit, no direct patch.
    assert git(stack, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split() == ["main"]
    assert git(stack, "rev-parse", "main") == seed
    assert memory_limit(deployment(stack, "payments", "ledger"), "ledger") == "256Mi"
    assert "medic" not in managers(stack)
    names = [s for s, _, _ in audit(stack, result.incident_id)]
    assert not {"opening_pull_request", "dry_run", "snapshot", "executing"} & set(names)


async def test_fix_that_does_not_heal_is_reverted_by_a_second_approved_pull_request(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = scenario_variant(tmp_path, SCENARIO, heals_at_least="4Gi")
    stack = await make_stack(scenario, pr_poll_seconds=2)
    original = git(stack, "show", f"main:{VALUES}")
    before = deployment(stack, "payments", "ledger")
    workflow_id = await post_alert(stack, scenario)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

    fix_round = await approve(handle, "alice")
    fix = await opened_pull_request(handle, 1)
    await merge(stack, fix, "carol")
    # Argo CD syncs the fix, the pods still crash: medic asks again, for the revert — here in the
    # console, whose page shows both diffs and binds the decision to the revert.
    revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
    while revert_round.approval_round != "revert":
        revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
    assert revert_round.plan_hash != fix_round.plan_hash
    assert revert_round.gitops_change is not None and revert_round.gitops_change.kind == "revert"
    incident_id = revert_round.incident_id
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        assert (await console_login(http, token=stack.console_token)).status_code == 303
        page = await wait_for_status(http, incident_id, "awaiting_approval")
        assert page.value("plan_hash") == revert_round.plan_hash
        gitops = page.text("gitops")
        assert "Fix" in gitops and "Revert" in gitops and f"{fix.branch}" in gitops
        assert "+ memory: 256Mi" in gitops and "- memory: 256Mi" in gitops
        answer = await decide(http, page, incident_id, "approve", "put it back")
        # a decision taken redirects to the incident's page, at the step the workflow went on to
        assert answer.status_code == 303, answer.text
    revert = await opened_pull_request(handle, 2)
    assert revert.branch == branch_for(fix_round.incident_id, "revert") and revert.kind == "revert"
    await merge(stack, revert, "carol")
    result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "rolled_back", result.reason
    await keep_history(handle, "remediation-gitops-rolled-back")
    assert "reverted by pull request #" in result.reason
    assert git(stack, "show", f"main:{VALUES}") == original
    after = deployment(stack, "payments", "ledger")
    assert memory_limit(after, "ledger") == "256Mi"
    assert after["spec"] == before["spec"]
    assert "medic" not in managers(stack)
    assert [(a.approver, a.plan_hash) for a in result.approvals] == [
        ("alice", fix_round.plan_hash),
        ("admin", revert_round.plan_hash),
    ]
    steps = audit(stack, result.incident_id)
    assert ("syncing", "failed", "medic") in steps or ("verifying", "failed", "medic") in steps
    assert ("reverting", "completed", "medic") in steps
    assert ("verifying_rollback", "passed", "medic") in steps
    revert_body = yaml.safe_load(git(stack, "show", f"{revert.branch}:{VALUES}"))
    assert revert_body["resources"]["limits"]["memory"] == "256Mi"


GITHUB_TOKEN = "gh-e2e-token-with-write"
WEBHOOK_SECRET = "whsec-e2e"


async def deliver_webhook(
    stack: Stack,
    github: SandboxGitHub,
    number: int,
    action: str = "closed",
    *,
    token: str = GITHUB_TOKEN,
    secret: str = WEBHOOK_SECRET,
) -> httpx.Response:
    """What GitHub posts when a PR closes: the PR as its API shows it, signed with the secret."""
    async with httpx.AsyncClient() as http:
        pull = await http.get(
            f"{github.api_url}/repos/{github.full_name}/pulls/{number}",
            headers={"Authorization": f"token {token}"},
        )
        pull.raise_for_status()
        payload = {
            "action": action,
            "number": number,
            "pull_request": pull.json(),
            "repository": {"full_name": github.full_name},
            "sender": {"login": "carol"},
        }
        body = json.dumps(payload).encode()
        return await http.post(
            f"{stack.gateway_url}/webhooks/github",
            content=body,
            headers={
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature(secret, body),
                "Content-Type": "application/json",
            },
        )


def app_credentials() -> tuple[dict[str, str], str]:
    """A GitHub App's settings (id and PEM private key) and its public key, for the fake."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"github_app_id": "424242", "github_app_private_key": private}, public.decode()


@pytest.mark.parametrize("auth", ["token", "app"])
async def test_github_pull_request_merged_on_github_resolves_through_the_signed_webhook(
    make_stack: Any, tmp_path: Path, auth: str
) -> None:
    # The fake's repository is the bare remote the embedded stack seeds (and Argo CD follows).
    home = tmp_path / ".medic-github"
    remote = home / "gitops.git"
    seed_bare_repo(remote, load_scenario(SCENARIO).gitops)
    app_settings, public_key = app_credentials() if auth == "app" else ({}, "")
    credentials = app_settings or {"github_token": GITHUB_TOKEN}
    with SandboxGitHub(
        remote, token=GITHUB_TOKEN, owner="acme", name="gitops", app_id="424242", app_public_key=public_key
    ) as github:
        stack = await make_stack(
            SCENARIO,
            home=str(home),
            **credentials,
            github_repository=github.full_name,
            github_api_url=github.api_url,
            github_webhook_secret=WEBHOOK_SECRET,
            pr_poll_seconds=3600,  # only the webhook can end the wait in time
        )
        assert stack.settings.gitops_repo_url == str(remote.resolve())
        workflow_id = await post_alert(stack, SCENARIO)
        handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

        # The first attempt to open the PR creates it and never hears back (a crash, a lost
        # answer): Temporal retries the activity, which finds the PR instead of making another.
        github.drop_after_create()
        await approve(handle, "alice")
        pr = await opened_pull_request(handle, 1)
        assert pr.host == "github" and pr.url.endswith(f"/acme/gitops/pull/{pr.number}")
        assert list(github.pulls) == [pr.number] and github.count("POST", "/pulls") == 1
        assert git(stack, "for-each-ref", "--format=%(refname:short)", "refs/heads/medic/") == pr.branch
        assert git(stack, "rev-list", f"main..{pr.branch}") == pr.head_commit
        assert await attempts(handle, "open_pull_request") == [2]
        pull = github.pulls[pr.number]
        assert {"medic", "medic:fix", "risk:medium"} <= set(pull.labels)
        assert "```diff" in pull.body and "memory: 256Mi" in pull.body
        assert "approve by **alice**" in pull.body
        assert GITHUB_TOKEN not in pull.body

        github.merge_as(pr.number, "carol")
        delivered = await deliver_webhook(stack, github, pr.number)
        assert delivered.status_code == 202, delivered.text
        result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "resolved", result.reason
    steps = audit(stack, result.incident_id)
    assert ("awaiting_merge", "completed", "carol") in steps
    assert "medic" not in managers(stack) and "argocd-controller" in managers(stack)
    assert git(stack, "rev-parse", "main^2") == pr.head_commit
    if auth == "app":
        # medic spoke only with the installation token it minted (the test's own reads use the
        # personal token the fake also knows).
        assert github.minted and set(github.used_tokens) <= {*github.minted, GITHUB_TOKEN}
        assert github.count("POST", "/app/installations/4242/access_tokens") >= 1


async def test_github_fix_that_does_not_heal_is_reverted_by_a_github_revert_pull_request(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = scenario_variant(tmp_path, SCENARIO, heals_at_least="4Gi")
    home = tmp_path / ".medic-github-revert"
    remote = home / "gitops.git"
    seed_bare_repo(remote, load_scenario(scenario).gitops)
    original = (load_scenario(scenario).gitops)[VALUES]
    with SandboxGitHub(remote, token=GITHUB_TOKEN, owner="acme", name="gitops") as github:
        stack = await make_stack(
            scenario,
            home=str(home),
            github_token=GITHUB_TOKEN,
            github_repository=github.full_name,
            github_api_url=github.api_url,
            github_webhook_secret=WEBHOOK_SECRET,
            pr_poll_seconds=1,  # merges made in GitHub's UI are seen by polling here
        )
        workflow_id = await post_alert(stack, scenario)
        handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

        await approve(handle, "alice")
        fix = await opened_pull_request(handle, 1)
        github.merge_as(fix.number, "carol")
        revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
        while revert_round.approval_round != "revert":
            revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
        await approve(handle, "alice")
        revert = await opened_pull_request(handle, 2)
        pull = github.pulls[revert.number]
        assert revert.kind == "revert" and "medic:revert" in pull.labels
        assert f"#{fix.number}" in pull.body and "Verification failed" in pull.body
        github.merge_as(revert.number, "carol")
        result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "rolled_back", result.reason
    assert git(stack, "show", f"main:{VALUES}") == original.rstrip("\n")
    assert memory_limit(deployment(stack, "payments", "ledger"), "ledger") == "256Mi"
    assert "medic" not in managers(stack)
    steps = audit(stack, result.incident_id)
    assert [s for s in steps if s[:2] == ("awaiting_merge", "completed")] == [
        ("awaiting_merge", "completed", "carol"),
        ("awaiting_merge", "completed", "carol"),
    ]
