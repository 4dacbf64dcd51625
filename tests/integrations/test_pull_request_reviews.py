"""A change review's calls on both PR hosts: GitHub through the real PyGithub against the loopback
fake (tests.fakes.github_api), the local host with real git and its comments and statuses in the
store (SQLite + PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from domain.review.render import MARKER
from domain.steps.review import ReviewTarget, review_workflow_id
from integrations.git import GitRepo
from integrations.pull_requests import (
    GitHubPullRequestHost,
    LocalPullRequestHost,
    PullRequestConflict,
    PullRequestFailed,
    PullRequestForbidden,
    PullRequestHost,
    PullRequestNotFound,
    PullRequestUnavailable,
    local_review_target,
    status_description,
)
from sandbox.gitops import seed_bare_repo
from store.db import session_factory
from store.pull_requests import StorePullRequestRecords
from store.reviews import CommitStatusRepository, ReviewCommentRepository, StoreReviewRecords
from tests.fakes.github_api import SandboxGitHub
from tests.integrations.test_github_pull_requests import READ_ONLY, TOKEN, git, make_host

FILES = {"apps/shop/values.yaml": "replicas: 2\n", "apps/shop/app.yaml": "kind: App\n", "old.yaml": "a: 1\n"}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "github" / "acme" / "gitops.git"
    seed_bare_repo(path, FILES)
    return path


@pytest.fixture
def github(remote: Path) -> Iterator[SandboxGitHub]:
    with SandboxGitHub(remote, token=TOKEN, read_only_tokens=(READ_ONLY,)) as fake:
        yield fake


@pytest.fixture
def host(github: SandboxGitHub, remote: Path, tmp_path: Path) -> Iterator[GitHubPullRequestHost]:
    h = make_host(github, remote, tmp_path / "work")
    yield h
    h.close()


def parts(*texts: str) -> list[str]:
    return [f"{MARKER}\n{t}" for t in texts]


# --- GitHub --------------------------------------------------------------------------------------


def test_a_persons_pr_is_read_as_a_review_target(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    assert isinstance(host, PullRequestHost)
    number = github.open_pull_request_as(
        "dave", "feature/scale", {"apps/shop/values.yaml": "replicas: 5\n"}, title="Scale"
    )
    target = host.review_target(number)
    assert target == ReviewTarget(
        host="github",
        repository="acme/gitops",
        number=number,
        base_ref="main",
        head_ref="feature/scale",
        head_sha=git(remote, "rev-parse", "feature/scale"),
        title="Scale",
        author="dave",
    )
    with pytest.raises(PullRequestNotFound):
        host.review_target(99)
    github.merge_as(number, "carol")
    with pytest.raises(PullRequestConflict, match="merged"):
        host.review_target(number)


def test_changed_files_follow_every_page_and_name_both_sides_of_a_rename(
    host: GitHubPullRequestHost, github: SandboxGitHub
) -> None:
    files: dict[str, str | None] = {f"apps/many/f{i:02}.yaml": f"n: {i}\n" for i in range(34)}
    files.update({"old.yaml": None, "moved/old.yaml": "a: 1\n"})
    number = github.open_pull_request_as("dave", "feature/many", files)
    names = host.changed_files(host.review_target(number))
    assert len(names) == 36 and len(set(names)) == 36
    assert {"moved/old.yaml", "old.yaml", "apps/many/f33.yaml"} <= set(names)
    assert github.count("GET", f"/pulls/{number}/files") == 2, "GitHub's 30 a page: two pages"


def test_the_comment_is_created_in_parts_then_edited_in_place_and_trimmed(
    host: GitHubPullRequestHost, github: SandboxGitHub
) -> None:
    number = github.open_pull_request_as("dave", "feature/c", {"apps/shop/values.yaml": "replicas: 3\n"})
    target = host.review_target(number)
    github.comment_as(number, "dave", "LGTM?")
    github.comment_as(number, "mallory", f"{MARKER}\nnot medic's")

    ids = host.upsert_comment(target, MARKER, parts("one", "two", "three"))
    assert len(ids) == 3
    assert host.upsert_comment(target, MARKER, parts("one", "two", "three")) == ids
    assert github.count("PATCH", "") == 0 and github.count("POST", "/comments") == 3, "nothing changed twice"

    again = host.upsert_comment(target, MARKER, parts("one", "TWO"))
    assert again == ids[:2]
    bodies = [(c["user"]["login"], c["body"]) for c in github.comments(number)]
    assert bodies == [
        ("dave", "LGTM?"),
        ("mallory", f"{MARKER}\nnot medic's"),
        ("medic-bot", f"{MARKER}\none"),
        ("medic-bot", f"{MARKER}\nTWO"),
    ]
    assert github.count("PATCH", "") == 1 and github.count("DELETE", "") == 1
    with pytest.raises(ValueError, match="marker"):
        host.upsert_comment(target, MARKER, ["no marker"])


def test_a_part_over_githubs_limit_is_a_one_line_conflict(
    host: GitHubPullRequestHost, github: SandboxGitHub
) -> None:
    number = github.open_pull_request_as("dave", "feature/big", {"apps/shop/values.yaml": "replicas: 4\n"})
    with pytest.raises(PullRequestConflict) as caught:
        host.upsert_comment(host.review_target(number), MARKER, [MARKER + "x" * 65536])
    assert "Body is too long" in str(caught.value) and "\n" not in str(caught.value)


def test_statuses_map_neutral_to_success_with_warnings_and_cut_the_description(
    host: GitHubPullRequestHost, github: SandboxGitHub, remote: Path
) -> None:
    number = github.open_pull_request_as("dave", "feature/s", {"apps/shop/values.yaml": "replicas: 6\n"})
    target = host.review_target(number)
    host.set_commit_status(target, "pending", "reviewing 2 applications")
    host.set_commit_status(
        target, "neutral", "cost +$120/month; " + "w" * 200, target_url="http://medic/review/1"
    )

    latest, first = github.statuses(target.head_sha)
    assert (first["state"], first["context"], first["description"]) == (
        "pending",
        "medic/review",
        "reviewing 2 applications",
    )
    assert latest["state"] == "success" and latest["target_url"] == "http://medic/review/1"
    assert latest["description"].startswith("warnings: cost +$120/month")
    assert len(latest["description"]) == 140 and latest["description"].endswith("…")
    listed = host._repository.get_commit(target.head_sha).get_statuses()
    assert [s.state for s in listed] == ["success", "pending"]


def test_errors_are_classified_in_one_line(github: SandboxGitHub, remote: Path, tmp_path: Path) -> None:
    number = github.open_pull_request_as("dave", "feature/e", {"apps/shop/values.yaml": "replicas: 7\n"})
    reader = make_host(github, remote, tmp_path / "ro", token=READ_ONLY)
    target = reader.review_target(number)
    with pytest.raises(PullRequestForbidden):
        reader.set_commit_status(target, "success", "ok")
    with pytest.raises(PullRequestForbidden):
        reader.upsert_comment(target, MARKER, parts("x"))
    github.fail_next(502)
    with pytest.raises(PullRequestUnavailable) as caught:
        reader.changed_files(target)
    assert caught.value.retryable and "\n" not in str(caught.value)
    reader.close()


def test_status_description_is_one_line_within_githubs_limit() -> None:
    assert status_description("failure", "denied:\n  privileged pod") == "denied: privileged pod"
    assert status_description("neutral", "") == "warnings"
    assert status_description("neutral", "warnings: 2") == "warnings: 2"
    assert len(status_description("success", "x" * 500)) == 140


# --- local ---------------------------------------------------------------------------------------


@pytest.fixture
def person_branch(remote: Path) -> str:
    """A person's branch on the bare remote: one file changed, one renamed, one added."""
    with SandboxGitHub(remote) as pusher:  # only its git side: it pushes as a person would
        pusher.open_pull_request_as(
            "erin",
            "feature/local",
            {
                "apps/shop/values.yaml": "replicas: 9\n",
                "old.yaml": None,
                "new.yaml": "a: 1\n",
                "x/y.yaml": "y\n",
            },
            title="More shop replicas",
        )
    return "feature/local"


@pytest.fixture
def local_host(remote: Path, tmp_path: Path, engine: Engine) -> LocalPullRequestHost:
    sessions = session_factory(engine)
    return LocalPullRequestHost(
        GitRepo(str(remote), tmp_path / "work"),
        StorePullRequestRecords(sessions),
        reviews=StoreReviewRecords(sessions),
    )


def test_a_local_branch_is_a_review_target_with_its_files_from_the_merge_base(
    local_host: LocalPullRequestHost, remote: Path, person_branch: str
) -> None:
    target = local_review_target(str(remote), person_branch)
    assert (target.host, target.number, target.head_ref, target.base_ref) == (
        "local",
        0,
        person_branch,
        "main",
    )
    assert target.head_sha == git(remote, "rev-parse", person_branch)
    assert (target.title, target.author) == ("More shop replicas", "erin")
    # main moves on after the branch was cut: its change is not the branch's
    with SandboxGitHub(remote) as pusher:
        pusher.push_as("frank", "main", {"apps/shop/app.yaml": "kind: App2\n"})
    assert sorted(local_host.changed_files(target)) == [
        "apps/shop/values.yaml",
        "new.yaml",
        "old.yaml",
        "x/y.yaml",
    ]
    with pytest.raises(PullRequestNotFound, match="no-such"):
        local_review_target(str(remote), "no-such")
    with pytest.raises(PullRequestNotFound):
        local_host.review_target(404)


def test_local_comments_and_statuses_live_in_the_store(
    local_host: LocalPullRequestHost, remote: Path, person_branch: str, engine: Engine
) -> None:
    target = local_review_target(str(remote), person_branch)
    # The PostgreSQL database is shared by the run: a repository path of this test only.
    target = target.model_copy(update={"repository": f"{remote}#{uuid.uuid4().hex[:6]}"})
    ids = local_host.upsert_comment(target, MARKER, parts("a", "b"))
    assert local_host.upsert_comment(target, MARKER, parts("a")) == ids[:1]
    local_host.set_commit_status(target, "neutral", "2 warnings")
    with session_factory(engine)() as session:
        bodies = [c.body for c in ReviewCommentRepository(session).parts(review_workflow_id(target), MARKER)]
        status = CommitStatusRepository(session).get(target.repository, target.head_sha, "medic/review")
    assert bodies == parts("a")
    assert status is not None and (status.state, status.description) == ("neutral", "warnings: 2 warnings")


def test_a_local_host_without_review_records_says_so(
    remote: Path, tmp_path: Path, engine: Engine, person_branch: str
) -> None:
    bare = LocalPullRequestHost(
        GitRepo(str(remote), tmp_path / "w"), StorePullRequestRecords(session_factory(engine))
    )
    with pytest.raises(PullRequestFailed, match="store"):
        bare.set_commit_status(local_review_target(str(remote), person_branch), "success", "ok")
