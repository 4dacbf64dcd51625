"""The repositories medic may write: URL forms, the mapping file, and which source an edit changes."""

from __future__ import annotations

import pytest

from domain.gitops.repositories import (
    GitOpsRepositories,
    default_repositories,
    edit_refusal,
    edited_sources,
    normalize_repo_url,
    repositories_from_yaml,
    same_repository,
    source_of_file,
    unwritable_sources,
)

APPS = "https://github.com/acme/gitops.git"
PLATFORM = "https://github.com/acme/platform.git"


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/gitops.git",
        "https://github.com/acme/gitops",
        "https://GitHub.com/acme/gitops/",
        "https://x-access-token@github.com:443/acme/gitops.git",
        "git@github.com:acme/gitops.git",
        "git@github.com:acme/gitops",
        "ssh://git@github.com/acme/gitops.git",
        "ssh://git@GITHUB.COM:22/acme/gitops",
    ],
)
def test_every_spelling_of_a_repository_is_one_repository(url: str) -> None:
    assert normalize_repo_url(url) == "github.com/acme/gitops"
    assert same_repository(url, APPS)


def test_different_repositories_and_paths_stay_different() -> None:
    assert not same_repository(APPS, PLATFORM)
    assert not same_repository("https://github.com/acme/gitops.git", "https://gitlab.com/acme/gitops.git")
    assert not same_repository("", APPS)
    # a local path keeps its case; file:// is the same path
    assert normalize_repo_url("file:///srv/GitOps.git") == "/srv/GitOps"
    assert same_repository("/srv/gitops.git", "file:///srv/gitops")


def test_the_default_mapping_is_the_configured_repository_with_its_aliases() -> None:
    repos = default_repositories(
        "git@github.com:acme/gitops.git", ("https://mirror.example/gitops.git",), APPS, "acme/gitops"
    )
    assert repos.writable("https://github.com/ACME/gitops") and repos.writable(
        "https://mirror.example/gitops"
    )
    assert not repos.writable(PLATFORM)
    primary = repos.primary()
    assert primary is not None and primary.pull_requests.host == "github"
    assert default_repositories() == GitOpsRepositories()


def test_the_file_adds_repositories_and_names_of_the_configured_one() -> None:
    defaults = default_repositories(APPS)
    repos = repositories_from_yaml(
        f"""
repositories:
  - url: {PLATFORM}
    aliases: [git@github.com:acme/platform.git]
    pull_requests: {{host: github, repository: acme/platform}}
  - url: git@github.com:acme/gitops.git
    aliases: [https://mirror.example/apps.git]
""",
        defaults,
    )
    assert [r.url for r in repos.repositories] == [APPS, PLATFORM]
    assert repos.writable("https://mirror.example/apps") and repos.writable("git@github.com:acme/platform")
    assert repos.primary() == repos.find("ssh://git@github.com/acme/gitops")
    assert repositories_from_yaml("", defaults) == defaults
    assert repositories_from_yaml(f"- url: {PLATFORM}\n").writable(PLATFORM), "a bare list is taken too"


@pytest.mark.parametrize(
    "text, message",
    [
        ("url: [", "MEDIC_GITOPS_REPOSITORIES_FILE is not YAML at line 1"),
        ("url: x", "MEDIC_GITOPS_REPOSITORIES_FILE must be a list of repositories (url, aliases, ...)"),
        ("- aliases: [a]", "MEDIC_GITOPS_REPOSITORIES_FILE entry 1: url: Field required"),
        (
            "- {url: a}\n- {url: b, colour: red}",
            "MEDIC_GITOPS_REPOSITORIES_FILE entry 2: colour: Extra inputs",
        ),
        (
            "- {url: a, pull_requests: {host: gitea}}",
            "MEDIC_GITOPS_REPOSITORIES_FILE entry 1: "
            "pull_requests.host: should be 'github', 'gitlab' or 'local'",
        ),
        (
            "- {url: a, pull_requests: {host: github, repository: platform}}",
            "MEDIC_GITOPS_REPOSITORIES_FILE entry 1 (a): pull_requests.repository must be owner/name, "
            "not 'platform'",
        ),
    ],
)
def test_a_mapping_file_that_does_not_fit_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        repositories_from_yaml(text)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


# --- which source an edit changes ----------------------------------------------------------------

MULTI = [
    {
        "repoURL": "https://charts.example.com",
        "chart": "cart",
        "helm": {"valueFiles": ["$values/cart/prod.yaml"]},
    },
    {"repoURL": APPS, "ref": "values"},
    {"repoURL": PLATFORM, "path": "manifests/cart"},
]


def test_the_source_holding_the_file_is_the_one_that_counts() -> None:
    assert source_of_file(MULTI, "cart/prod.yaml") == MULTI[1]
    assert source_of_file(MULTI, "manifests/cart/deployment.yaml") == MULTI[2]
    assert source_of_file(MULTI, "elsewhere.yaml") is None
    repos = default_repositories(APPS)
    assert unwritable_sources(MULTI, repos, "cart/prod.yaml") == []
    assert unwritable_sources(MULTI, repos, "manifests/cart/deployment.yaml") == [PLATFORM]
    # The file unknown: every Git source must be writable (the chart repository is none).
    assert edited_sources(MULTI) == MULTI[1:]
    assert unwritable_sources(MULTI, repos) == [PLATFORM]


def test_an_application_from_an_unmapped_repository_is_refused_with_the_repository_named() -> None:
    repos = default_repositories(APPS)
    sources = [{"repoURL": "git@github.com:acme/platform.git", "path": "apps/cart"}]
    assert edit_refusal("shop-cart", sources, repos, "apps/cart/deployment.yaml") == (
        "Application shop-cart deploys from git@github.com:acme/platform.git, which medic may not write; "
        "add it to MEDIC_GITOPS_REPOSITORIES_FILE"
    )
    assert (
        edit_refusal("shop-cart", [{"repoURL": "git@github.com:acme/gitops", "path": "apps"}], repos) is None
    )
    # A packaged chart alone: its repository is what would have to change.
    chart = [{"repoURL": "https://charts.example.com", "chart": "cart", "helm": {"values": "x: 1"}}]
    assert unwritable_sources(chart, repos) == ["https://charts.example.com"]


def test_a_second_mapped_repository_is_edited_in_its_own_clone_one_repository_per_change() -> None:
    repos = repositories_from_yaml(f"- url: {PLATFORM}\n", default_repositories(APPS))
    platform = repos.find(PLATFORM)
    sources = [{"repoURL": PLATFORM, "path": "apps/cart"}]
    # Made in the platform repository's clone: nothing to refuse.
    assert edit_refusal("shop-cart", sources, repos, repository=platform) is None
    # Made in the configured repository's clone, it would be another repository's file.
    refusal = edit_refusal("shop-cart", sources, repos)
    assert refusal == (
        f"Application shop-cart deploys from {PLATFORM}, not from {APPS}, the repository this change "
        "is made in: one pull request changes one repository"
    )
