"""The repositories a worker may write: the configured one, then MEDIC_GITOPS_REPOSITORIES_FILE."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.settings import settings_from_mapping
from integrations.git import GitRepo
from store.db import make_engine, session_factory
from workers.main import WorkerConfigError, gitops_clones, gitops_repositories, review_repo_urls

APPS = "https://github.com/acme/gitops.git"


def test_the_file_adds_repositories_and_aliases_of_the_configured_one(tmp_path: Path) -> None:
    listed = tmp_path / "repositories.yaml"
    listed.write_text(
        "- url: https://github.com/acme/platform.git\n"
        "- url: git@github.com:acme/gitops.git\n"
        "  aliases: [https://mirror.example/gitops.git]\n"
    )
    settings = settings_from_mapping(
        {"MEDIC_GITOPS_REPO": APPS, "MEDIC_GITOPS_REPOSITORIES_FILE": str(listed)}
    )
    repositories = gitops_repositories(settings)
    assert [r.url for r in repositories.repositories] == [APPS, "https://github.com/acme/platform.git"]
    assert repositories.writable("ssh://git@github.com/acme/platform")
    # The configured repository's new names count for a change review too.
    assert "https://mirror.example/gitops.git" in review_repo_urls(settings)
    assert gitops_repositories(settings_from_mapping({"MEDIC_GITOPS_REPO": APPS})).names() == (APPS,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read MEDIC_GITOPS_REPOSITORIES_FILE {path}: No such file or directory"),
        ("- aliases: [x]\n", "MEDIC_GITOPS_REPOSITORIES_FILE entry 1: url: Field required"),
    ],
)
def test_a_file_that_cannot_be_used_stops_the_worker_in_one_line(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "repositories.yaml"
    if text is not None:
        path.write_text(text)
    settings = settings_from_mapping({"MEDIC_GITOPS_REPO": APPS, "MEDIC_GITOPS_REPOSITORIES_FILE": str(path)})
    with pytest.raises(WorkerConfigError) as caught:
        gitops_repositories(settings)
    assert str(caught.value) == message.format(path=path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "- url: https://git.example/platform.git\n",
            "MEDIC_GITOPS_REPOSITORIES_FILE: https://git.example/platform.git: the local pull request host "
            "merges straight into the repository, so it serves only a local bare repository; give the "
            "entry pull_requests: {host: github, repository: owner/name}",
        ),
        (
            "- url: https://github.com/acme/platform.git\n"
            "  pull_requests: {host: github, repository: acme/platform}\n",
            "MEDIC_GITOPS_REPOSITORIES_FILE: https://github.com/acme/platform.git: its pull requests go to "
            "GitHub (acme/platform), but neither GITHUB_TOKEN nor the GitHub App (MEDIC_GITHUB_APP_ID) is "
            "configured",
        ),
    ],
    ids=["local-host-on-a-remote", "github-without-credentials"],
)
def test_a_repository_whose_host_cannot_be_built_stops_the_worker_in_one_line(
    tmp_path: Path, entry: str, message: str
) -> None:
    path = tmp_path / "repositories.yaml"
    path.write_text(entry)
    settings = settings_from_mapping(
        {
            "MEDIC_GITOPS_REPO": APPS,
            "MEDIC_GITOPS_REPOSITORIES_FILE": str(path),
            "MEDIC_GITOPS_WORKDIR": str(tmp_path / "work"),
        }
    )
    repo = GitRepo(APPS, tmp_path / "work")
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'medic.db'}"))
    with pytest.raises(WorkerConfigError) as caught:
        gitops_clones(settings, gitops_repositories(settings), repo, None, sessions)
    assert str(caught.value) == message
