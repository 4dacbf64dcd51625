"""A worker refuses, before it connects to anything, settings that name no pull request host it may
use: a real GitOps remote with neither GitHub nor GitLab (the local host would push to its base
branch unreviewed), or both hosts at once."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from cli.devserver import free_port
from domain.settings import Settings
from integrations.pull_requests import PR_HOST_FIX
from workers.main import WorkerConfigError, check_pull_request_settings, run_worker


def settings(**values: Any) -> Settings:
    # Temporal on a port nobody listens on: the refusal must come before any connection.
    return Settings(
        temporal_address=f"127.0.0.1:{free_port()}",
        snapshot_keys=Fernet.generate_key().decode(),
        worker_metrics_address="",
        worker_health_address="",
    ).model_copy(update=values)


@pytest.mark.parametrize(
    "remote",
    [
        "https://git.example/acme/gitops.git",
        "ssh://git@git.example/acme/gitops.git",
        "git@git.example:acme/gitops.git",
    ],
)
async def test_a_real_remote_without_a_pr_host_stops_the_worker_at_start(remote: str) -> None:
    with pytest.raises(WorkerConfigError) as caught:
        await run_worker(settings(gitops_repo_url=remote), startup_timeout=1)
    assert "not a local bare repository" in str(caught.value) and PR_HOST_FIX in str(caught.value)


async def test_both_hosts_stop_the_worker_at_start() -> None:
    both = settings(
        github_token="t", github_repository="acme/gitops", gitlab_token="t", gitlab_project="acme/gitops"
    )
    with pytest.raises(WorkerConfigError, match="both GitHub"):
        await run_worker(both, startup_timeout=1)


def test_a_local_bare_repository_or_a_pr_host_is_accepted() -> None:
    check_pull_request_settings(settings(gitops_repo_url="/srv/gitops.git"))
    check_pull_request_settings(settings(gitops_repo_url="file:///srv/gitops.git"))
    check_pull_request_settings(
        settings(
            gitops_repo_url="https://gitlab.example/acme/gitops.git",
            gitlab_token="t",
            gitlab_project="acme/gitops",
        )
    )
    check_pull_request_settings(settings())  # no GitOps repository: nothing to refuse
