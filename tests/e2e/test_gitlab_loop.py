"""GitOps mode through GitLab merge requests, end to end on the real Temporal dev server: an alert on
an Argo CD-managed Deployment becomes a merge request on the loopback GitLab (whose repository is
the bare remote the sandbox Argo CD follows), merged there by a person, told by GitLab's webhook,
synced and verified — or, when the fix does not heal, reverted by a second merge request.

medic itself never writes the Deployment: the sandbox cluster's field managers show only Argo CD's
controller changing it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.embedded import Stack
from domain.steps.remediation import RemediationResult
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import load_scenario
from tests.conftest import wait_for_step
from tests.e2e.test_gitops_loop import (
    SCENARIO,
    VALUES,
    approve,
    attempts,
    audit,
    git,
    managers,
    opened_pull_request,
)
from tests.e2e.test_remediation_loop import deployment, memory_limit, post_alert, scenario_variant
from tests.fakes.gitlab_api import SandboxGitLab
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

GITLAB_TOKEN = "glpat-e2e-project-token"
WEBHOOK_TOKEN = "gitlab-hook-e2e"


async def deliver_webhook(
    stack: Stack, gitlab: SandboxGitLab, iid: int, action: str = "merge"
) -> httpx.Response:
    """What GitLab posts when an MR is merged or closed: its "Merge Request Hook", with the secret
    token of the webhook."""
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{stack.gateway_url}/webhooks/gitlab",
            json=gitlab.hook_payload(iid, action, "carol"),
            headers={
                "X-Gitlab-Event": "Merge Request Hook",
                "X-Gitlab-Token": WEBHOOK_TOKEN,
                "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            },
        )


async def make_gitlab_stack(
    make_stack: Any, scenario: Path, home: Path, gitlab: SandboxGitLab, **extra: Any
) -> Stack:
    stack: Stack = await make_stack(
        scenario,
        home=str(home),
        gitlab_token=GITLAB_TOKEN,
        gitlab_project=gitlab.path_with_namespace,
        gitlab_url=gitlab.base_url,
        gitlab_webhook_token=WEBHOOK_TOKEN,
        **extra,
    )
    # The fake's repository is the bare remote the embedded stack seeds (and Argo CD follows).
    assert stack.settings.gitops_repo_url == str(gitlab.repo)
    return stack


async def test_gitlab_merge_request_merged_in_gitlab_resolves_through_the_webhook(
    make_stack: Any, tmp_path: Path
) -> None:
    home = tmp_path / ".medic-gitlab"
    remote = home / "gitops.git"
    seed_bare_repo(remote, load_scenario(SCENARIO).gitops)
    with SandboxGitLab(remote, token=GITLAB_TOKEN, prefix="/gitlab") as gitlab:
        stack = await make_gitlab_stack(
            make_stack,
            SCENARIO,
            home,
            gitlab,
            pr_poll_seconds=3600,  # only the webhook ends the wait in time
        )
        workflow_id = await post_alert(stack, SCENARIO)
        handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

        # The first attempt to open the MR creates it and never hears back (a crash, a lost
        # answer): Temporal retries the activity, which finds the MR instead of making another.
        gitlab.drop_after_create()
        await approve(handle, "alice")
        pr = await opened_pull_request(handle, 1)
        assert pr.host == "gitlab" and pr.url == f"{gitlab.base_url}/acme/gitops/-/merge_requests/{pr.number}"
        assert list(gitlab.merge_requests) == [pr.number] and gitlab.count("POST", "/merge_requests") == 1
        assert git(stack, "for-each-ref", "--format=%(refname:short)", "refs/heads/medic/") == pr.branch
        assert git(stack, "rev-list", f"main..{pr.branch}") == pr.head_commit
        assert await attempts(handle, "open_pull_request") == [2]
        mr = gitlab.merge_requests[pr.number]
        assert {"medic", "medic:fix", "risk:medium"} <= set(mr.labels)
        assert "```diff" in mr.description and "memory: 256Mi" in mr.description
        assert "approve by **alice**" in mr.description
        assert GITLAB_TOKEN not in mr.description
        assert all(r.headers.get("private-token") == GITLAB_TOKEN for r in gitlab.requests)

        gitlab.merge_as(pr.number, "carol")
        delivered = await deliver_webhook(stack, gitlab, pr.number)
        assert delivered.status_code == 202, delivered.text
        result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "resolved", result.reason
    steps = audit(stack, result.incident_id)
    assert ("awaiting_merge", "completed", "carol") in steps
    assert ("syncing", "completed", "medic") in steps and ("verifying", "passed", "medic") in steps
    assert "medic" not in managers(stack) and "argocd-controller" in managers(stack)
    assert git(stack, "rev-parse", "main^2") == pr.head_commit
    live = deployment(stack, "payments", "ledger")
    assert memory_limit(live, "ledger") != "256Mi"


async def test_gitlab_fix_that_does_not_heal_is_reverted_by_a_revert_merge_request(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = scenario_variant(tmp_path, SCENARIO, heals_at_least="4Gi")
    home = tmp_path / ".medic-gitlab-revert"
    remote = home / "gitops.git"
    seed_bare_repo(remote, load_scenario(scenario).gitops)
    original = load_scenario(scenario).gitops[VALUES]
    with SandboxGitLab(remote, token=GITLAB_TOKEN) as gitlab:
        stack = await make_gitlab_stack(
            make_stack,
            scenario,
            home,
            gitlab,
            pr_poll_seconds=1,  # merges in GitLab's UI seen by polling
        )
        workflow_id = await post_alert(stack, scenario)
        handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

        await approve(handle, "alice")
        fix = await opened_pull_request(handle, 1)
        gitlab.merge_as(fix.number, "carol")  # no webhook: polling finds the merge
        revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
        while revert_round.approval_round != "revert":
            revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
        await approve(handle, "alice")
        revert = await opened_pull_request(handle, 2)
        mr = gitlab.merge_requests[revert.number]
        assert revert.kind == "revert" and revert.host == "gitlab" and "medic:revert" in mr.labels
        # GitLab's reference to a merge request (`#n` would name an issue)
        assert (
            f"Fix PR: !{fix.number} {fix.url}" in mr.description and "Verification failed" in mr.description
        )
        gitlab.merge_as(revert.number, "carol")
        delivered = await deliver_webhook(stack, gitlab, revert.number)
        assert delivered.status_code in (200, 202), delivered.text
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
    assert ("reverting", "completed", "medic") in steps
    assert ("verifying_rollback", "passed", "medic") in steps
