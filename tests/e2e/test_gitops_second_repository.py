"""GitOps mode end to end with two repositories: the configured one (MEDIC_GITOPS_REPO) holds other
files, and the Argo CD-managed Deployment's Application deploys from a second local bare repository
listed in MEDIC_GITOPS_REPOSITORIES_FILE. medic's fix is prepared in that repository's clone, opened
there as a pull request (the local host), merged there, synced by the sandbox Argo CD following
that repository, and verified — or, when the fix does not heal, reverted by a second pull request
there — while the configured repository is not touched."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.embedded import Stack, git_source_urls
from domain.gitops.pull_requests import PullRequest, branch_for
from domain.steps.remediation import RemediationResult
from integrations.git import GitRepo
from integrations.pull_requests import LocalPullRequestHost
from sandbox.argocd_sync import ArgoController
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import load_scenario
from store.db import make_engine, session_factory
from store.pull_requests import StorePullRequestRecords
from tests.conftest import wait_for_step
from tests.e2e.test_gitops_loop import SCENARIO, VALUES, approve, managers, opened_pull_request
from tests.e2e.test_remediation_loop import deployment, memory_limit, post_alert, scenario_variant
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e


def git(remote: Path, *args: str) -> str:
    command = ["git", "--git-dir", str(remote), *args]
    return subprocess.run(command, capture_output=True, check=True, text=True).stdout.strip()


@dataclass
class TwoRepositories:
    stack: Stack
    scenario: Path
    primary: Path
    primary_seed: str
    platform: Path
    platform_seed: str
    url: str
    merger: LocalPullRequestHost

    def untouched(self) -> None:
        """The configured repository has no branch and no commit of medic's."""
        assert git(self.primary, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split() == [
            "main"
        ]
        assert git(self.primary, "rev-parse", "main") == self.primary_seed

    async def merge(self, pr: PullRequest) -> None:
        """A human merges it in that repository (as in a forge's UI); medic's poll sees it."""
        await asyncio.to_thread(self.merger.merge_pull_request, pr.number, merged_by="carol")


async def two_repositories(make_stack: Any, tmp_path: Path, scenario: Path) -> TwoRepositories:
    loaded = load_scenario(scenario)
    primary = tmp_path / "apps.git"
    primary_seed = seed_bare_repo(primary, {"README.md": "the apps repository\n"})
    platform = tmp_path / "platform.git"
    platform_seed = seed_bare_repo(platform, loaded.gitops)
    (url,) = git_source_urls(loaded.argocd)
    mapping = tmp_path / "repositories.yaml"
    mapping.write_text(f"- url: {url}\n  clone_url: {platform}\n  pull_requests: {{host: local}}\n")
    stack = await make_stack(
        scenario, pr_poll_seconds=1, gitops_repo_url=str(primary), gitops_repositories_file=str(mapping)
    )
    # The sandbox Argo CD follows the second repository (the stack's own follows none, as
    # MEDIC_GITOPS_REPO is given).
    assert stack.argocd is not None and stack.cluster is not None
    stack.argocd.controller = ArgoController(
        stack.argocd.applications, stack.cluster, platform, notifier=stack.argocd.notifier
    )
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    merger = LocalPullRequestHost(
        GitRepo(str(platform), tmp_path / "merger"), StorePullRequestRecords(sessions)
    )
    return TwoRepositories(stack, scenario, primary, primary_seed, platform, platform_seed, url, merger)


async def test_a_fix_of_an_application_in_a_second_repository_lands_there_merged_and_synced(
    make_stack: Any, tmp_path: Path
) -> None:
    two = await two_repositories(make_stack, tmp_path, SCENARIO)
    stack = two.stack
    workflow_id = await post_alert(stack, SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await approve(handle, "alice")
    change = waiting.gitops_change
    assert change is not None and change.repository == two.url and change.base_commit == two.platform_seed
    (diff,) = change.files
    assert diff.path == VALUES
    new_limit = next(line for line in diff.diff.splitlines() if line.startswith("+    memory:")).split()[2]

    pr = await opened_pull_request(handle, 1)
    assert pr.repository == two.url and pr.branch == branch_for(waiting.incident_id)
    assert pr.url == f"local://{two.platform}#{pr.number}"
    assert f"memory: {new_limit}" in git(two.platform, "show", f"{pr.branch}:{VALUES}")

    await two.merge(pr)
    result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "resolved", result.reason
    assert memory_limit(deployment(stack, "payments", "ledger"), "ledger") == new_limit
    assert "medic" not in managers(stack) and "argocd-controller" in managers(stack)
    assert git(two.platform, "rev-parse", "main^2") == pr.head_commit
    two.untouched()


async def test_a_fix_in_a_second_repository_that_does_not_heal_is_reverted_there(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = scenario_variant(tmp_path, SCENARIO, heals_at_least="4Gi")
    two = await two_repositories(make_stack, tmp_path, scenario)
    original = load_scenario(scenario).gitops[VALUES]
    workflow_id = await post_alert(two.stack, scenario)
    handle = two.stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)

    await approve(handle, "alice")
    fix = await opened_pull_request(handle, 1)
    await two.merge(fix)
    revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
    while revert_round.approval_round != "revert":
        revert_round = await wait_for_step(handle, "awaiting_approval", timeout=90)
    assert revert_round.gitops_change is not None and revert_round.gitops_change.repository == two.url
    await approve(handle, "alice")
    revert = await opened_pull_request(handle, 2)
    assert revert.kind == "revert" and revert.repository == two.url
    assert revert.url == f"local://{two.platform}#{revert.number}"
    await two.merge(revert)
    result: RemediationResult = await asyncio.wait_for(handle.result(), 120)

    assert result.outcome == "rolled_back", result.reason
    assert git(two.platform, "show", f"main:{VALUES}") + "\n" == original
    assert memory_limit(deployment(two.stack, "payments", "ledger"), "ledger") == "256Mi"
    two.untouched()
