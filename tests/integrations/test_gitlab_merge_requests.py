"""GitLabPullRequestHost with the real python-gitlab against the loopback GitLab fake
(tests.fakes.gitlab_api), whose git side is a real bare repository."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gitlab.exceptions import GitlabError
from pytest_httpserver import HTTPServer

from domain.gitops.pull_requests import PullRequestSpec, branch_for, labels_for
from integrations.git import GitRepo
from integrations.gitlab_merge_requests import GitLabPullRequestHost, gitlab_remote_url
from integrations.pull_requests import (
    PullRequestConflict,
    PullRequestForbidden,
    PullRequestHost,
    PullRequestNotFound,
    PullRequestUnavailable,
)
from sandbox.gitops import seed_bare_repo
from tests.fakes.gitlab_api import PROJECT_ID, SandboxGitLab

TOKEN = "glpat-" + "x" * 20
READ_ONLY = "glpat-" + "r" * 20
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
    path = tmp_path / "gitlab" / "acme" / "gitops.git"
    seed_bare_repo(path, FILES)
    return path


@pytest.fixture
def gitlab(remote: Path) -> Iterator[SandboxGitLab]:
    # Served the way a self-managed GitLab under a path is, so the configurable base URL is exercised.
    with SandboxGitLab(remote, token=TOKEN, read_only_tokens=(READ_ONLY,), prefix="/gitlab") as fake:
        yield fake


def make_host(
    gitlab: SandboxGitLab, remote: Path, workdir: Path, token: str = TOKEN, project: str = ""
) -> GitLabPullRequestHost:
    return GitLabPullRequestHost(
        GitRepo(str(remote), workdir),
        project or gitlab.path_with_namespace,
        token,
        gitlab.base_url,
        timeout=10,
    )


@pytest.fixture
def host(gitlab: SandboxGitLab, remote: Path, tmp_path: Path) -> Iterator[GitLabPullRequestHost]:
    h = make_host(gitlab, remote, tmp_path / "work")
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


def test_open_pushes_the_branch_and_opens_one_labelled_merge_request(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    assert isinstance(host, PullRequestHost)
    spec = spec_for(remote)
    pr = host.open_pull_request(spec)
    assert (pr.host, pr.number, pr.status, pr.incident_id, pr.kind) == ("gitlab", 1, "open", INCIDENT, "fix")
    assert pr.branch == spec.branch and pr.base == "main" and pr.title == spec.title
    assert pr.url == f"{gitlab.base_url}/acme/gitops/-/merge_requests/1"
    assert pr.head_commit == git(remote, "rev-parse", f"refs/heads/{spec.branch}")
    mr = gitlab.merge_requests[1]
    assert mr.description == spec.body and mr.labels == spec.labels
    assert host.open_pull_request(spec) == pr
    assert gitlab.count("POST", "/merge_requests") == 1 and len(gitlab.merge_requests) == 1
    assert gitlab.count("PUT", "/merge_requests/1") == 0, "labels already there are not added again"
    assert git(remote, "rev-list", "--count", f"main..{spec.branch}") == "1"
    # the project is addressed by its URL-encoded path under the self-managed base URL
    assert gitlab.requests[0].path.startswith("/gitlab/api/v4/projects/acme%2Fgitops/")
    assert all(r.headers.get("private-token") == TOKEN for r in gitlab.requests)


def test_a_lost_answer_after_the_merge_request_was_created_ends_with_one(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    spec = spec_for(remote)
    gitlab.drop_after_create()
    with pytest.raises(PullRequestUnavailable, match="unreachable") as caught:
        host.open_pull_request(spec)
    assert caught.value.retryable
    assert len(gitlab.merge_requests) == 1, "created, then the connection dropped"
    pr = host.open_pull_request(spec)  # Temporal's retry
    assert pr.number == 1 and len(gitlab.merge_requests) == 1
    assert gitlab.count("POST", "/merge_requests") == 1
    assert gitlab.merge_requests[1].labels == spec.labels


def test_a_502_after_the_create_went_through_ends_with_one(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    spec = spec_for(remote)
    gitlab.fail_after_create(502)
    with pytest.raises(PullRequestUnavailable, match="502") as caught:
        host.open_pull_request(spec)
    assert caught.value.retryable
    pr = host.open_pull_request(spec)
    assert pr.number == 1 and list(gitlab.merge_requests) == [1]


def test_a_duplicate_refused_with_409_is_looked_up_and_returned(
    gitlab: SandboxGitLab, remote: Path, tmp_path: Path
) -> None:
    spec = spec_for(remote)
    first = make_host(gitlab, remote, tmp_path / "a").open_pull_request(spec)
    # GitLab's list lags behind a create made a moment ago: the second attempt's lookup misses
    # the MR, its create is refused with 409, and the MR is looked up again.
    gitlab.stale_list()
    found = make_host(gitlab, remote, tmp_path / "b").open_pull_request(spec)
    assert found.model_copy(update={"updated_at": None}) == first.model_copy(update={"updated_at": None})
    assert gitlab.count("POST", "/merge_requests") == 2 and len(gitlab.merge_requests) == 1


def test_foreign_content_on_the_branch_is_a_conflict_and_opens_nothing(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path, tmp_path: Path
) -> None:
    GitRepo(str(remote), tmp_path / "someone").commit_branch(
        spec_for(remote, files={"values/ledger.yaml": "hacked: true\n"}), "x", "x@x"
    )
    with pytest.raises(PullRequestConflict) as caught:
        host.open_pull_request(spec_for(remote))
    assert not caught.value.retryable
    assert gitlab.count("POST", "/merge_requests") == 0


def test_merge_makes_a_real_merge_commit_once(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    base = git(remote, "rev-parse", "main")
    pr = host.open_pull_request(spec_for(remote))
    merged = host.merge_pull_request(pr.number, merged_by="alice")
    assert merged.status == "merged" and merged.merged_by == gitlab.username
    assert merged.merge_commit == git(remote, "rev-parse", "main")
    assert git(remote, "rev-list", "--parents", "-n", "1", "main").split()[1:] == [base, pr.head_commit]
    assert "Merged-by: alice" in git(remote, "log", "-1", "--format=%B", "main")
    assert host.merge_pull_request(pr.number, merged_by="alice") == merged
    assert gitlab.count("PUT", "/merge") == 1, "a merged MR is not merged again"
    assert host.get_pull_request(pr.number) == merged


def test_a_merge_refused_while_gitlab_still_checks_mergeability_is_retryable(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    gitlab.still_checking()
    with pytest.raises(PullRequestUnavailable, match="still checking") as caught:
        host.merge_pull_request(pr.number, merged_by="alice")
    assert caught.value.retryable and caught.value.retry_after == 5.0
    assert host.merge_pull_request(pr.number, merged_by="alice").status == "merged"  # the retry


def test_a_merge_request_merged_in_the_web_ui_is_reported_merged_by_its_merger(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    commit = gitlab.merge_as(pr.number, "carol")
    merged = host.merge_pull_request(pr.number, merged_by="medic")
    assert (merged.status, merged.merge_commit, merged.merged_by) == ("merged", commit, "carol")
    assert gitlab.count("PUT", "/merge") == 0
    assert host.find_pull_request(pr.branch) == merged
    assert host.get_pull_request(pr.number) == merged


def test_an_unmergeable_or_closed_merge_request_is_a_conflict(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    seed_bare_repo(remote, {**FILES, "values/ledger.yaml": "resources: {}\n"})  # main moved, conflicting
    with pytest.raises(PullRequestConflict, match="not mergeable.*cannot be merged"):
        host.merge_pull_request(pr.number, merged_by="alice")
    closed = host.close_pull_request(pr.number, closed_by="alice")
    assert (closed.status, closed.closed_by) == ("closed", "alice")
    assert gitlab.merge_requests[pr.number].state == "closed"
    assert host.close_pull_request(pr.number, closed_by="alice") == closed
    assert gitlab.count("PUT", f"/merge_requests/{pr.number}") == 1, "closed once"
    with pytest.raises(PullRequestConflict, match="closed"):
        host.merge_pull_request(pr.number, merged_by="alice")


def test_a_merge_request_closed_in_the_web_ui_is_reported_closed(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    gitlab.close_as(pr.number, "carol")
    closed = host.get_pull_request(pr.number)
    assert (closed.status, closed.closed_by, closed.merge_commit) == ("closed", "carol", None)


def test_notes_are_posted_once_and_system_notes_are_not_comments(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    host.comment(pr.number, "Verification passed: ledger is healthy.")
    host.comment(pr.number, "Verification passed: ledger is healthy.")
    host.close_pull_request(pr.number, closed_by="medic")  # GitLab adds its system note "closed"
    host.comment(pr.number, "closed")
    assert [(n["body"], n["system"]) for n in gitlab.notes(pr.number)] == [
        ("Verification passed: ledger is healthy.", False),
        ("closed", True),
        ("closed", False),
    ]


def test_review_reads_the_head_the_changed_files_and_keeps_its_own_notes(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    pr = host.open_pull_request(spec_for(remote, files={**FIXED, "apps/new.yaml": "kind: New\n"}))
    target = host.review_target(pr.number)
    assert (target.host, target.repository, target.number) == ("gitlab", "acme/gitops", pr.number)
    assert (target.head_ref, target.base_ref, target.head_sha) == (pr.branch, "main", pr.head_commit)
    assert target.author == gitlab.username and target.title == pr.title
    assert host.changed_files(target) == ["apps/new.yaml", "values/ledger.yaml"]

    marker = "<!-- medic:review -->"
    other = gitlab.note_as(pr.number, "dave", f"{marker} not medic's")
    ids = host.upsert_comment(target, marker, [f"{marker} 1", f"{marker} 2"])
    assert len(ids) == 2 and other not in ids
    assert host.upsert_comment(target, marker, [f"{marker} 1 again"]) == ids[:1]
    bodies = [(n["author"]["username"], n["body"]) for n in gitlab.notes(pr.number)]
    assert bodies == [("dave", f"{marker} not medic's"), (gitlab.username, f"{marker} 1 again")]
    assert gitlab.count("GET", "/api/v4/user") == 1, "the token's user is asked once"

    host.set_commit_status(target, "pending", "reviewing")
    host.set_commit_status(
        target, "neutral", "a memory limit over the namespace's default", target_url="http://c/1"
    )
    host.set_commit_status(target, "error", "the review failed")
    assert [(s["status"], s["name"], s["description"]) for s in gitlab.statuses(pr.head_commit)] == [
        ("pending", "medic/review", "reviewing"),
        ("success", "medic/review", "warnings: a memory limit over the namespace's default"),
        ("failed", "medic/review", "the review failed"),
    ]
    assert gitlab.statuses(pr.head_commit)[1]["target_url"] == "http://c/1"

    host.merge_pull_request(pr.number, merged_by="alice")
    with pytest.raises(PullRequestConflict, match="merged: nothing to review"):
        host.review_target(pr.number)


def test_a_numeric_project_id_addresses_the_same_project(
    gitlab: SandboxGitLab, remote: Path, tmp_path: Path
) -> None:
    h = make_host(gitlab, remote, tmp_path / "w", project=str(PROJECT_ID))
    pr = h.open_pull_request(spec_for(remote))
    assert pr.number == 1 and gitlab.requests[-1].path.startswith(f"/gitlab/api/v4/projects/{PROJECT_ID}/")
    assert h.permissions() == {"pull": True, "push": True, "merge": True, "admin": False}


def test_missing_permissions_and_bad_tokens_are_not_retryable(
    gitlab: SandboxGitLab, remote: Path, tmp_path: Path
) -> None:
    reader = make_host(gitlab, remote, tmp_path / "reader", token=READ_ONLY)
    assert reader.permissions()["push"] is False
    with pytest.raises(PullRequestForbidden, match="not allowed") as caught:
        reader.open_pull_request(spec_for(remote))
    assert not caught.value.retryable
    stranger = make_host(gitlab, remote, tmp_path / "stranger", token="glpat-wrong")
    with pytest.raises(PullRequestForbidden, match="refused the token"):
        stranger.get_pull_request(1)
    with pytest.raises(PullRequestNotFound):
        make_host(gitlab, remote, tmp_path / "w").get_pull_request(42)
    with pytest.raises(PullRequestNotFound, match="Project Not Found"):
        make_host(gitlab, remote, tmp_path / "x", project="acme/other").get_pull_request(1)


def test_server_errors_rate_limits_and_a_dead_server_are_retryable_without_retrying_inside(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path
) -> None:
    spec = spec_for(remote)
    gitlab.fail_next(502)
    with pytest.raises(PullRequestUnavailable, match="502") as caught:
        host.open_pull_request(spec)
    assert caught.value.retryable and len(gitlab.requests) == 1, "python-gitlab did not retry"
    gitlab.rate_limit_next()
    with pytest.raises(PullRequestUnavailable, match="rate limit") as limited:
        host.open_pull_request(spec)
    assert limited.value.retry_after == 60 and len(gitlab.requests) == 2
    pr = host.open_pull_request(spec)
    assert len(gitlab.merge_requests) == 1 and pr.number == 1
    base_url = gitlab.base_url
    gitlab.stop()
    gone = GitLabPullRequestHost(host.repo, "acme/gitops", TOKEN, base_url, timeout=5)
    with pytest.raises(PullRequestUnavailable, match="unreachable"):
        gone.get_pull_request(pr.number)


def test_bad_settings_are_refused_in_one_line(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "w")
    with pytest.raises(ValueError, match="MEDIC_GITLAB_PROJECT must be"):
        GitLabPullRequestHost(repo, "gitops", TOKEN)
    with pytest.raises(ValueError, match="MEDIC_GITLAB_URL must be"):
        GitLabPullRequestHost(repo, "acme/gitops", TOKEN, "gitlab.example")


def test_the_clone_url_of_a_project_path_keeps_a_self_managed_path() -> None:
    assert gitlab_remote_url("acme/gitops") == "https://gitlab.com/acme/gitops.git"
    assert gitlab_remote_url("a/b/c", "https://example.com/gitlab/") == "https://example.com/gitlab/a/b/c.git"
    assert gitlab_remote_url("4242") == ""


def test_the_token_never_leaves_for_another_host(
    host: GitLabPullRequestHost, gitlab: SandboxGitLab, remote: Path, httpserver: HTTPServer
) -> None:
    pr = host.open_pull_request(spec_for(remote))
    httpserver.expect_request("/elsewhere").respond_with_json({"iid": 1})
    # a redirect to another host: followed (a GET), but without the token
    gitlab.redirect_next(httpserver.url_for("/elsewhere"))
    host.get_pull_request(pr.number)
    ((request, _),) = httpserver.log
    assert "PRIVATE-TOKEN" not in request.headers and TOKEN not in str(request.headers)
    # a next page's link to another host: read from GitLab's own base URL instead
    for i in range(25):
        gitlab.note_as(pr.number, "dave", f"note {i}")
    gitlab.link_base = httpserver.url_for("").rstrip("/")
    host.comment(pr.number, "note 24")  # on the second page: found there, not posted again
    assert gitlab.count("POST", "/notes") == 0 and gitlab.count("GET", "/notes") == 2
    # and any full URL elsewhere is refused before anything is sent
    with pytest.raises(GitlabError, match="refusing to send the token"):
        host._gitlab.http_get(httpserver.url_for("/api/v4/user"))
    assert len(httpserver.log) == 1
