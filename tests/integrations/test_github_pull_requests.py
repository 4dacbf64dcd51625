"""GitHubPullRequestHost with the real PyGithub against the loopback GitHub fake (tests.fakes.github_api),
whose git side is a real bare repository."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.gitops.pull_requests import PullRequestSpec, branch_for, labels_for
from integrations.git import GitRepo
from integrations.pull_requests import (
    GitHubPullRequestHost,
    PullRequestConflict,
    PullRequestForbidden,
    PullRequestHost,
    PullRequestNotFound,
    PullRequestUnavailable,
)
from sandbox.gitops import seed_bare_repo
from tests.fakes.github_api import SandboxGitHub

TOKEN = "ghp_" + "x" * 36
READ_ONLY = "ghp_" + "r" * 36
INCIDENT = "incident-alert-0123456789abcdef0123.1a2b3c4d"
FILES = {
    "values/ledger.yaml": "resources:\n  limits:\n    memory: 256Mi\n",
    "apps/ledger.yaml": "kind: App\n",
}
FIXED = {"values/ledger.yaml": "resources:\n  limits:\n    memory: 512Mi\n"}


def git(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], capture_output=True, check=True, text=True
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "github" / "acme" / "gitops.git"
    seed_bare_repo(path, FILES)
    return path


@pytest.fixture
def github(remote: Path) -> Iterator[SandboxGitHub]:
    # Served the way GitHub Enterprise is (…/api/v3), so the configurable base URL is exercised.
    with SandboxGitHub(remote, token=TOKEN, read_only_tokens=(READ_ONLY,), prefix="/api/v3") as fake:
        yield fake


def make_host(
    github: SandboxGitHub, remote: Path, workdir: Path, token: str = TOKEN
) -> GitHubPullRequestHost:
    return GitHubPullRequestHost(
        GitRepo(str(remote), workdir),
        github.full_name,
        token,
        github.api_url,
        seconds_between_requests=None,
        seconds_between_writes=None,
        timeout=10,
    )


@pytest.fixture
def host(github: SandboxGitHub, remote: Path, tmp_path: Path) -> Iterator[GitHubPullRequestHost]:
    h = make_host(github, remote, tmp_path / "work")
    yield h
    h.close()


def spec_for(remote: Path, files: dict[str, str] = FIXED, kind: str = "fix") -> PullRequestSpec:
    return PullRequestSpec.model_validate(
        {
            "incident_id": INCIDENT,
            "kind": kind,
            "branch": branch_for(INCIDENT, kind),  # type: ignore[arg-type]
            "base_commit": git(remote, "rev-parse", "main"),
            "title": "medic: set limits memory=512Mi of payments/Deployment/ledger",
            "body": "## Why\n\nOOMKilled\n\n<!-- medic:incident=x kind=fix -->\n",
            "commit_message": f"medic: set limits memory=512Mi ({INCIDENT})\n",
            "labels": labels_for(kind, "medium"),  # type: ignore[arg-type]
            "files": files,
            "created_at": datetime(2026, 11, 23, 18, 0, tzinfo=UTC),
        }
    )


def test_open_pushes_the_branch_and_opens_one_labelled_pr(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    assert isinstance(host, PullRequestHost)
    spec = spec_for(remote)
    pr = host.open_pull_request(spec)
    assert (pr.host, pr.number, pr.status, pr.incident_id, pr.kind) == ("github", 1, "open", INCIDENT, "fix")
    assert pr.branch == spec.branch and pr.base == "main" and pr.title == spec.title
    assert pr.url == f"{github.url}/acme/gitops/pull/1"
    assert pr.head_commit == git(remote, "rev-parse", f"refs/heads/{spec.branch}")
    pull = github.pulls[1]
    assert pull.body == spec.body and pull.labels == spec.labels
    assert host.open_pull_request(spec) == pr
    assert github.count("POST", "/pulls") == 1 and len(github.pulls) == 1
    assert github.count("POST", "/labels") == 1, "labels already there are not added again"
    assert git(remote, "rev-list", "--count", f"main..{spec.branch}") == "1"


def test_a_crash_after_the_push_before_the_pr_ends_with_one_pr(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path, tmp_path: Path
) -> None:
    spec = spec_for(remote)
    pushed = GitRepo(str(remote), tmp_path / "crashed").commit_branch(spec, "medic", "medic@localhost")
    pr = host.open_pull_request(spec)
    assert pr.head_commit == pushed
    assert github.count("POST", "/pulls") == 1 and len(github.pulls) == 1


def test_a_lost_answer_after_the_pr_was_created_ends_with_one_pr(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    spec = spec_for(remote)
    github.drop_after_create()
    with pytest.raises(PullRequestUnavailable) as caught:
        host.open_pull_request(spec)
    assert caught.value.retryable
    assert len(github.pulls) == 1 and github.pulls[1].labels == [], "created, then the connection dropped"
    pr = host.open_pull_request(spec)  # Temporal's retry
    assert pr.number == 1 and len(github.pulls) == 1
    assert github.count("POST", "/pulls") == 1
    assert github.pulls[1].labels == spec.labels, "the retry finishes what the first attempt began"


def test_a_duplicate_refused_with_422_is_looked_up_and_returned(
    github: SandboxGitHub, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(remote)
    first = make_host(github, remote, tmp_path / "a").open_pull_request(spec)
    second = make_host(github, remote, tmp_path / "b")
    real_find = GitHubPullRequestHost._find
    seen = {"n": 0}

    def stale_find(self: GitHubPullRequestHost, branch: str) -> Any:
        # GitHub's PR list lags behind a create made a moment ago.
        seen["n"] += 1
        return None if seen["n"] == 1 else real_find(self, branch)

    monkeypatch.setattr(GitHubPullRequestHost, "_find", stale_find)
    # The same pull request. The first attempt's answer was read before it added the labels, which
    # moves GitHub's updated_at on (by a second under load), so that field is not compared.
    found = second.open_pull_request(spec)
    assert found.model_copy(update={"updated_at": None}) == first.model_copy(update={"updated_at": None})
    assert github.count("POST", "/pulls") == 2 and len(github.pulls) == 1


def test_foreign_content_on_the_branch_is_a_conflict_and_opens_nothing(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path, tmp_path: Path
) -> None:
    GitRepo(str(remote), tmp_path / "someone").commit_branch(
        spec_for(remote, files={"values/ledger.yaml": "hacked: true\n"}), "x", "x@x"
    )
    with pytest.raises(PullRequestConflict) as caught:
        host.open_pull_request(spec_for(remote))
    assert not caught.value.retryable
    assert github.count("POST", "/pulls") == 0


def test_merge_makes_a_real_merge_commit_once(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    base = git(remote, "rev-parse", "main")
    pr = host.open_pull_request(spec_for(remote))
    merged = host.merge_pull_request(pr.number, merged_by="alice")
    assert merged.status == "merged" and merged.merged_by == "medic-bot"
    assert merged.merge_commit == git(remote, "rev-parse", "main")
    assert git(remote, "rev-list", "--parents", "-n", "1", "main").split()[1:] == [base, pr.head_commit]
    assert "Merged-by: alice" in git(remote, "log", "-1", "--format=%B", "main")
    assert host.merge_pull_request(pr.number, merged_by="alice") == merged
    assert github.count("PUT", "/merge") == 1, "a merged PR is not merged again"
    assert host.get_pull_request(pr.number) == merged


def test_a_pr_merged_in_the_web_ui_is_reported_merged_by_its_merger(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    commit = github.merge_as(pr.number, "carol")
    merged = host.merge_pull_request(pr.number, merged_by="medic")
    assert (merged.status, merged.merge_commit, merged.merged_by) == ("merged", commit, "carol")
    assert github.count("PUT", "/merge") == 0
    assert host.find_pull_request(pr.branch) == merged


def test_an_unmergeable_or_closed_pr_is_a_conflict(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    seed_bare_repo(remote, {**FILES, "values/ledger.yaml": "resources: {}\n"})  # main moved, conflicting
    with pytest.raises(PullRequestConflict, match="not mergeable"):
        host.merge_pull_request(pr.number, merged_by="alice")
    closed = host.close_pull_request(pr.number, closed_by="alice")
    assert (closed.status, closed.closed_by) == ("closed", "alice")
    assert host.close_pull_request(pr.number, closed_by="alice") == closed
    assert github.count("PATCH", f"/pulls/{pr.number}") == 1
    with pytest.raises(PullRequestConflict, match="closed"):
        host.merge_pull_request(pr.number, merged_by="alice")


def test_comments_are_posted_once(host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path) -> None:
    pr = host.open_pull_request(spec_for(remote))
    host.comment(pr.number, "Verification passed: ledger is healthy.")
    host.comment(pr.number, "Verification passed: ledger is healthy.")
    assert [c["body"] for c in github.pulls[pr.number].comments] == [
        "Verification passed: ledger is healthy."
    ]


def test_missing_permissions_and_bad_tokens_are_not_retryable(
    github: SandboxGitHub, remote: Path, tmp_path: Path
) -> None:
    reader = make_host(github, remote, tmp_path / "reader", token=READ_ONLY)
    with pytest.raises(PullRequestForbidden, match="not allowed") as caught:
        reader.open_pull_request(spec_for(remote))
    assert not caught.value.retryable
    stranger = make_host(github, remote, tmp_path / "stranger", token="ghp_wrong")
    with pytest.raises(PullRequestForbidden, match="refused the token"):
        stranger.get_pull_request(1)
    with pytest.raises(PullRequestNotFound):
        make_host(github, remote, tmp_path / "w").get_pull_request(42)


def test_server_errors_rate_limits_and_a_dead_server_are_retryable(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    spec = spec_for(remote)
    github.fail_next(502)
    with pytest.raises(PullRequestUnavailable, match="502") as caught:
        host.open_pull_request(spec)
    assert caught.value.retryable
    github.rate_limit_next()
    with pytest.raises(PullRequestUnavailable, match="rate limit") as limited:
        host.open_pull_request(spec)
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 61
    pr = host.open_pull_request(spec)
    assert len(github.pulls) == 1 and pr.number == 1
    api_url = github.api_url
    github.stop()
    gone = GitHubPullRequestHost(host.repo, github.full_name, TOKEN, api_url, seconds_between_requests=None)
    with pytest.raises(PullRequestUnavailable, match="unreachable"):
        gone.get_pull_request(pr.number)


def test_github_dot_com_paths_without_a_prefix(remote: Path, tmp_path: Path) -> None:
    with SandboxGitHub(remote, token=TOKEN) as fake:
        h = make_host(fake, remote, tmp_path / "work")
        pr = h.open_pull_request(spec_for(remote))
        assert pr.number == 1 and fake.requests[0].path == "/repos/acme/gitops/pulls"
        h.close()
