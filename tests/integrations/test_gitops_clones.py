"""One clone and one pull request host per GitOps repository medic may write: which one a change,
a pull request and observe use, where each clone lives, and how each host is built from its
MEDIC_GITOPS_REPOSITORIES_FILE entry (no network: nothing here is cloned or called)."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.gitops.repositories import GitOpsRepository, default_repositories, repositories_from_yaml
from domain.settings import Settings
from integrations.git import GitRepo
from integrations.gitops_clones import GitOpsClones, repository_workdir
from integrations.pull_requests import (
    GitHubPullRequestHost,
    LocalPullRequestHost,
    PullRequestHost,
    pull_request_host_for_repository,
    repository_clone,
)

APPS = "https://github.com/acme/apps.git"
PLATFORM = "https://github.com/acme/platform.git"
VALUES = "git@github.com:acme/values.git"
MAPPING = f"""
- url: {PLATFORM}
  aliases: [git@github.com:acme/platform.git]
  pull_requests: {{host: github, repository: acme/platform}}
- url: {VALUES}
  pull_requests: {{host: github, repository: acme/values}}
"""


class Records:
    """Nothing is recorded: the hosts here are built, never used."""


def clones_of(tmp_path: Path) -> tuple[GitOpsClones, GitRepo, list[str]]:
    repositories = repositories_from_yaml(MAPPING, default_repositories(APPS))
    primary = GitRepo(APPS, tmp_path / "work")
    made: list[str] = []

    def clone(entry: GitOpsRepository, workdir: str) -> GitRepo:
        made.append(entry.url)
        return GitRepo(entry.remote, workdir)

    def host(entry: GitOpsRepository, repo: GitRepo) -> PullRequestHost:
        return GitHubPullRequestHost(repo, entry.pull_requests.repository, "token")

    clones = GitOpsClones(
        repositories, primary, None, workdir=str(tmp_path / "work"), clone=clone, make_host=host
    )
    return clones, primary, made


def test_each_repository_has_its_own_clone_beside_the_work_directory_made_once(tmp_path: Path) -> None:
    clones, primary, made = clones_of(tmp_path)
    assert clones.clone("") is primary and clones.clone(APPS) is primary
    platform = clones.clone(PLATFORM)
    assert platform is not None and platform.remote_url == PLATFORM
    # Any spelling of the repository is the same clone, made once.
    assert clones.clone("ssh://git@github.com/acme/platform") is platform
    assert clones.clone("git@github.com:acme/platform.git") is platform
    assert made == [PLATFORM]
    assert Path(platform.workdir).parent == tmp_path / "work.repositories"
    assert Path(platform.workdir).name.startswith("github.com-acme-platform-")
    values = clones.clone(VALUES)
    assert values is not None and values.workdir != platform.workdir
    # A repository medic may not write has no clone.
    assert clones.clone("https://github.com/acme/other.git") is None


def test_the_workdir_is_named_from_the_normalised_url() -> None:
    one = repository_workdir("/var/medic/gitops-work", "https://GitHub.com/acme/platform/")
    assert one == repository_workdir("/var/medic/gitops-work", "git@github.com:acme/platform.git")
    assert one.startswith("/var/medic/gitops-work.repositories/github.com-acme-platform-")
    # Names that read alike once made safe still differ.
    assert repository_workdir("/w", "https://h/a-b/c") != repository_workdir("/w", "https://h/a/b-c")


def test_each_repository_has_its_own_host_the_configured_one_its_own(tmp_path: Path) -> None:
    clones, primary, _ = clones_of(tmp_path)
    assert clones.host("") is None  # the configured host, as given
    platform = clones.host(PLATFORM)
    assert isinstance(platform, GitHubPullRequestHost) and platform.github_repository == "acme/platform"
    assert clones.host("git@github.com:acme/platform.git") is platform
    values = clones.host(VALUES)
    assert isinstance(values, GitHubPullRequestHost) and values.github_repository == "acme/values"
    assert clones.host("https://github.com/acme/other.git") is None


def test_the_repository_holding_the_file_is_chosen(tmp_path: Path) -> None:
    clones, primary, _ = clones_of(tmp_path)
    # A multi-source Application: the chart's templates in the apps repository, its values in another.
    sources = [
        {"repoURL": APPS, "path": "charts/cart", "helm": {"valueFiles": ["$values/cart/prod.yaml"]}},
        {"repoURL": "ssh://git@github.com/acme/values", "ref": "values"},
    ]
    assert clones.holding(sources, "cart/prod.yaml") == [VALUES]
    assert clones.holding(sources, "charts/cart/templates/deployment.yaml") == [""]
    # Not known which file: both, the configured one first.
    assert clones.holding(sources) == ["", VALUES]
    assert clones.clone_for(sources) is primary
    assert clones.clone_for([{"repoURL": PLATFORM, "path": "apps"}]) is clones.clone(PLATFORM)
    # An unmapped source: observe still reads the configured clone; nothing is edited there.
    assert clones.holding([{"repoURL": "https://github.com/acme/other.git", "path": "x"}]) == []
    assert clones.clone_for([{"repoURL": "https://github.com/acme/other.git", "path": "x"}]) is primary
    assert clones.name_of(clones.repository(PLATFORM)) == PLATFORM
    assert clones.name_of(clones.repository(APPS)) == ""


def test_without_a_mapping_the_one_clone_serves_everything(tmp_path: Path) -> None:
    repo = GitRepo(APPS, tmp_path / "work")
    clones = GitOpsClones(default_repositories(), repo)
    assert clones.clone("") is repo and clones.clone_for([{"repoURL": PLATFORM, "path": "a"}]) is repo
    assert clones.clone(PLATFORM) is None


def entry(yaml_text: str) -> GitOpsRepository:
    (found,) = repositories_from_yaml(yaml_text).repositories
    return found


def test_a_github_entry_gets_a_github_host_on_its_api_with_the_configured_credentials(tmp_path: Path) -> None:
    settings = Settings(github_token="gh-token")
    platform = entry(
        "- url: https://ghe.example/acme/platform.git\n"
        "  pull_requests: {host: github, repository: acme/platform, api_url: https://ghe.example/api/v3}\n"
    )
    clone = repository_clone(platform, settings, str(tmp_path / "p"))
    # The token goes to the clone of a repository on that GitHub's host only.
    assert clone._current_token() == "gh-token"
    host = pull_request_host_for_repository(platform, clone, settings)
    assert isinstance(host, GitHubPullRequestHost) and host.github_repository == "acme/platform"
    elsewhere = entry(
        "- url: https://ghe.example/acme/platform.git\n"
        "  clone_url: https://mirror.example/acme/platform.git\n"
        "  pull_requests: {host: github, repository: acme/platform, api_url: https://ghe.example/api/v3}\n"
    )
    assert repository_clone(elsewhere, settings, str(tmp_path / "m"))._current_token() == ""


def test_a_github_entry_without_credentials_is_a_configuration_error(tmp_path: Path) -> None:
    platform = entry(f"- url: {PLATFORM}\n  pull_requests: {{host: github, repository: acme/platform}}\n")
    clone = repository_clone(platform, Settings(), str(tmp_path / "p"))
    with pytest.raises(ValueError, match="neither GITHUB_TOKEN nor the GitHub App"):
        pull_request_host_for_repository(platform, clone, Settings())


def test_the_local_host_serves_only_a_local_bare_repository(tmp_path: Path) -> None:
    local = entry(f"- url: https://git.example/platform.git\n  clone_url: {tmp_path / 'platform.git'}\n")
    clone = repository_clone(local, Settings(), str(tmp_path / "p"))
    host = pull_request_host_for_repository(local, clone, Settings(), Records())  # type: ignore[arg-type]
    assert isinstance(host, LocalPullRequestHost) and host.repo is clone
    remote = entry("- url: https://git.example/platform.git\n")
    with pytest.raises(ValueError, match="serves only a local bare repository"):
        pull_request_host_for_repository(
            remote,
            repository_clone(remote, Settings(), str(tmp_path / "r")),
            Settings(),
            Records(),  # type: ignore[arg-type]
        )


def test_a_gitlab_entry_gets_a_gitlab_host_and_its_token_only_on_its_host(tmp_path: Path) -> None:
    from integrations.gitlab_merge_requests import GitLabPullRequestHost

    settings = Settings(gitlab_token="gl-token", gitlab_url="https://gitlab.example")
    platform = entry(
        "- url: https://gitlab.example/acme/platform.git\n"
        "  pull_requests: {host: gitlab, repository: acme/platform}\n"
    )
    clone = repository_clone(platform, settings, str(tmp_path / "p"))
    assert clone._current_token() == "gl-token"
    host = pull_request_host_for_repository(platform, clone, settings)
    assert isinstance(host, GitLabPullRequestHost)
    mirrored = entry(
        "- url: https://gitlab.example/acme/platform.git\n"
        "  clone_url: https://mirror.example/acme/platform.git\n"
        "  pull_requests: {host: gitlab, repository: acme/platform}\n"
    )
    assert repository_clone(mirrored, settings, str(tmp_path / "m"))._current_token() == ""
    with pytest.raises(ValueError, match="GITLAB_TOKEN is not configured"):
        pull_request_host_for_repository(platform, clone, Settings())
    with pytest.raises(ValueError, match="must be the GitLab project's path"):
        entry("- url: https://gitlab.example/x.git\n  pull_requests: {host: gitlab, repository: x}\n")
