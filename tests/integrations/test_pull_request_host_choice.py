"""Which pull request host the settings make: GitHub, GitLab or the local one — and the local one
only over a local bare repository, never over a real remote whose base branch its merge would push
to without review."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from domain.settings import settings_from_mapping
from integrations.git import GitRepo, is_local_remote
from integrations.gitlab_merge_requests import GitLabPullRequestHost
from integrations.pull_requests import (
    PR_HOST_FIX,
    LocalPullRequestHost,
    PullRequestHostConfigError,
    gitops_clone,
    pull_request_host,
    pull_request_host_from_settings,
    pull_request_host_kind,
)
from store.pull_requests import StorePullRequestRecords

GITLAB = {"GITLAB_TOKEN": "glpat-t", "MEDIC_GITLAB_PROJECT": "acme/gitops"}
GITHUB = {"GITHUB_TOKEN": "ghp_t", "GITHUB_REPOSITORY": "acme/gitops"}


@pytest.mark.parametrize(
    ("remote", "local"),
    [
        ("/srv/gitops.git", True),
        ("gitops.git", True),
        ("./repos/gitops.git", True),
        ("file:///srv/gitops.git", True),
        ("https://git.example/acme/gitops.git", False),
        ("http://127.0.0.1:8080/gitops.git", False),
        ("ssh://git@git.example/acme/gitops.git", False),
        ("git@github.com:acme/gitops.git", False),
        ("git.example:acme/gitops.git", False),
        ("", False),
    ],
)
def test_a_local_remote_is_a_path_or_a_file_url(remote: str, local: bool) -> None:
    assert is_local_remote(remote) is local


@pytest.mark.parametrize(
    "remote",
    [
        "https://git.example/acme/gitops.git",
        "ssh://git@git.example/acme/gitops.git",
        "git@git.example:acme/gitops.git",
    ],
)
def test_a_real_remote_without_a_pr_host_is_refused_with_the_fix(remote: str, tmp_path: Path) -> None:
    records = StorePullRequestRecords(sessionmaker())
    settings = settings_from_mapping({"MEDIC_GITOPS_REPO": remote, "MEDIC_HOME": str(tmp_path)})
    with pytest.raises(PullRequestHostConfigError) as caught:
        pull_request_host_from_settings(settings, records)
    message = str(caught.value)
    assert "not a local bare repository" in message and "bypassing review" in message
    assert message.endswith(PR_HOST_FIX) and "\n" not in message
    # whoever builds one: the factory, or the host itself
    with pytest.raises(PullRequestHostConfigError):
        pull_request_host(GitRepo(remote, tmp_path / "w"), records=records)
    with pytest.raises(PullRequestHostConfigError):
        LocalPullRequestHost(GitRepo(remote, tmp_path / "w"), records)


def test_credentials_in_a_refused_remote_are_not_repeated(tmp_path: Path) -> None:
    remote = GitRepo("https://bot:s3cret@git.example/acme/gitops.git", tmp_path / "w")
    with pytest.raises(PullRequestHostConfigError) as caught:
        LocalPullRequestHost(remote, StorePullRequestRecords(sessionmaker()))
    assert "s3cret" not in str(caught.value)


def test_a_local_bare_repository_keeps_the_local_host(tmp_path: Path) -> None:
    records = StorePullRequestRecords(sessionmaker())  # built, not used: no database needed
    for remote in ("/srv/gitops.git", "file:///srv/gitops.git"):
        settings = settings_from_mapping({"MEDIC_GITOPS_REPO": remote, "MEDIC_HOME": str(tmp_path)})
        assert isinstance(pull_request_host_from_settings(settings, records), LocalPullRequestHost)


def test_gitlab_is_picked_with_a_token_and_a_project_and_its_token_goes_only_to_gitlab(
    tmp_path: Path,
) -> None:
    assert pull_request_host_kind(gitlab_token="t", gitlab_project="acme/gitops") == "gitlab"
    assert pull_request_host_kind(gitlab_project="acme/gitops") == "local"
    home = {"MEDIC_HOME": str(tmp_path)}
    host = pull_request_host_from_settings(settings_from_mapping({**GITLAB, **home}))
    assert isinstance(host, GitLabPullRequestHost) and host.kind == "gitlab"
    assert host.base_url == "https://gitlab.com" and host.project == "acme/gitops"
    # the clone is the project's https URL on gitlab.com, the token sent there as oauth2's password
    assert host.repo.remote_url == "https://gitlab.com/acme/gitops.git"
    assert host.repo._token == "glpat-t" and host.repo._token_user == "oauth2"
    # a self-managed GitLab under a path; MEDIC_GITLAB_TOKEN is read too
    managed = settings_from_mapping(
        {
            "MEDIC_GITLAB_TOKEN": "glpat-m",
            "MEDIC_GITLAB_PROJECT": "platform/gitops",
            "MEDIC_GITLAB_URL": "https://code.example/gitlab",
            **home,
        }
    )
    clone = gitops_clone(managed)
    assert clone is not None and clone.remote_url == "https://code.example/gitlab/platform/gitops.git"
    assert clone._token == "glpat-m"
    # a remote on another host (a mirror, ssh) never gets the token
    for elsewhere in ("https://mirror.example/acme/gitops.git", "git@gitlab.com:acme/gitops.git"):
        other = gitops_clone(settings_from_mapping({**GITLAB, **home, "MEDIC_GITOPS_REPO": elsewhere}))
        assert other is not None and other._token == ""


def test_a_numeric_gitlab_project_needs_the_clone_url(tmp_path: Path) -> None:
    numeric = {"GITLAB_TOKEN": "glpat-t", "MEDIC_GITLAB_PROJECT": "4242", "MEDIC_HOME": str(tmp_path)}
    with pytest.raises(PullRequestHostConfigError, match="numeric id.*set MEDIC_GITOPS_REPO"):
        gitops_clone(settings_from_mapping(numeric))
    clone = gitops_clone(
        settings_from_mapping({**numeric, "MEDIC_GITOPS_REPO": "https://gitlab.com/acme/gitops.git"})
    )
    assert clone is not None and clone._token == "glpat-t"


def test_github_and_gitlab_together_are_a_configuration_error_naming_both(tmp_path: Path) -> None:
    settings = settings_from_mapping({**GITHUB, **GITLAB, "MEDIC_HOME": str(tmp_path)})
    with pytest.raises(PullRequestHostConfigError, match=r"both GitHub \(acme/gitops\) and GitLab"):
        pull_request_host_from_settings(settings)
    with pytest.raises(PullRequestHostConfigError, match="unset GITHUB_TOKEN"):
        gitops_clone(settings)
