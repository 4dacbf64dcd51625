"""GitRepo's writes (commit_branch, merge_branch, branch_tip) with real git against bare remotes."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.gitops.pull_requests import PullRequestSpec, branch_for
from integrations.git import (
    GitBranchConflict,
    GitMergeConflict,
    GitPermissionDenied,
    GitRefNotFound,
    GitRepo,
)
from sandbox.gitops import seed_bare_repo
from tests.integrations.git_http import GitHTTPServer

FILES = {
    "values/ledger-values.yaml": "replicaCount: 2\nresources:\n  limits:\n    memory: 256Mi\n",
    "apps/ledger.yaml": "kind: Application\n",
}
FIXED = {"values/ledger-values.yaml": "replicaCount: 2\nresources:\n  limits:\n    memory: 512Mi\n"}
WHEN = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)


def git(remote: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(remote), *args], capture_output=True, check=True, text=True
    )
    return done.stdout.strip()


def spec_for(
    base: str, incident_id: str = "incident-alert-0123.1a2b3c4d", **changes: object
) -> PullRequestSpec:
    values: dict[str, object] = {
        "incident_id": incident_id,
        "branch": branch_for(incident_id),
        "base_commit": base,
        "title": "medic: raise ledger memory",
        "body": "body",
        "commit_message": f"medic: set limits memory=512Mi of payments/Deployment/ledger ({incident_id})\n",
        "files": FIXED,
        "created_at": WHEN,
    }
    values.update(changes)
    return PullRequestSpec.model_validate(values)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    seed_bare_repo(path, FILES)
    return path


@pytest.fixture
def base(remote: Path) -> str:
    return git(remote, "rev-parse", "main")


def test_commit_branch_pushes_one_commit_with_exactly_the_files_on_the_base(
    remote: Path, base: str, tmp_path: Path
) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    spec = spec_for(base)
    sha = repo.commit_branch(spec, "medic", "medic@localhost")
    assert git(remote, "rev-parse", f"refs/heads/{spec.branch}") == sha
    assert git(remote, "rev-list", "--parents", "-n", "1", sha).split() == [sha, base]
    assert (
        git(remote, "show", f"{sha}:values/ledger-values.yaml") + "\n" == FIXED["values/ledger-values.yaml"]
    )
    assert git(remote, "show", f"{sha}:apps/ledger.yaml") == "kind: Application", "other files are kept"
    assert git(remote, "log", "-1", "--format=%an <%ae> %aI %cI", sha) == (
        "medic <medic@localhost> 2026-11-23T18:30:00+00:00 2026-11-23T18:30:00+00:00"
    )
    assert git(remote, "log", "-1", "--format=%B", sha) == spec.commit_message.strip()
    assert git(remote, "rev-parse", "main") == base, "the base branch is untouched"
    assert repo.branch_tip(spec.branch) == sha
    assert repo.branch_tip("medic/nothing") is None


def test_commit_branch_again_reuses_the_branch_and_pushes_nothing(
    remote: Path, base: str, tmp_path: Path
) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    spec = spec_for(base)
    first = repo.commit_branch(spec, "medic", "medic@localhost")
    reflog_before = git(remote, "for-each-ref", "--format=%(objectname)", f"refs/heads/{spec.branch}")
    # Another clone (another worker) and another author: the existing branch is recognised.
    again = GitRepo(str(remote), tmp_path / "other").commit_branch(spec, "someone", "else@example.com")
    assert again == first == reflog_before
    assert git(remote, "rev-list", "--count", f"{base}..{spec.branch}") == "1"


def test_the_commit_is_deterministic_so_a_crash_before_the_push_builds_the_same_sha(
    remote: Path, base: str, tmp_path: Path
) -> None:
    # Build in one bare repository, then in a fresh one with the same seed: same sha.
    spec = spec_for(base)
    first = GitRepo(str(remote), tmp_path / "a").commit_branch(spec, "medic", "medic@localhost")
    other = tmp_path / "other.git"
    assert seed_bare_repo(other, FILES) == base
    second = GitRepo(str(other), tmp_path / "b").commit_branch(spec, "medic", "medic@localhost")
    assert first == second


def test_without_a_date_the_base_commits_date_is_used(remote: Path, base: str, tmp_path: Path) -> None:
    sha = GitRepo(str(remote), tmp_path / "work").commit_branch(
        spec_for(base, created_at=None), "medic", "medic@localhost"
    )
    assert git(remote, "log", "-1", "--format=%cI", sha) == git(remote, "log", "-1", "--format=%cI", base)


def test_a_branch_with_foreign_content_is_a_conflict_and_is_never_overwritten(
    remote: Path, base: str, tmp_path: Path
) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    spec = spec_for(base)
    repo.commit_branch(spec_for(base, files={"values/ledger-values.yaml": "replicaCount: 9\n"}), "x", "x@x")
    foreign = git(remote, "rev-parse", f"refs/heads/{spec.branch}")
    with pytest.raises(GitBranchConflict) as caught:
        repo.commit_branch(spec, "medic", "medic@localhost")
    assert caught.value.found == foreign and caught.value.branch == spec.branch
    assert git(remote, "rev-parse", f"refs/heads/{spec.branch}") == foreign


def _blind_first_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first look at the branch misses it, as when another attempt pushes right after our fetch."""
    real = GitRepo._tip
    calls = {"n": 0}

    def tip(self: GitRepo, branch: str) -> str | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real(self, branch)

    monkeypatch.setattr(GitRepo, "_tip", tip)


def test_a_branch_pushed_concurrently_with_the_same_change_is_accepted(
    remote: Path, base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(base)
    # Same change, other identity: another sha, same parent and tree. The push is refused
    # (not a fast-forward) and the branch recognised.
    theirs = GitRepo(str(remote), tmp_path / "theirs").commit_branch(spec, "other", "other@example.com")
    _blind_first_lookup(monkeypatch)
    assert GitRepo(str(remote), tmp_path / "work").commit_branch(spec, "medic", "medic@localhost") == theirs
    assert git(remote, "rev-parse", f"refs/heads/{spec.branch}") == theirs


def test_a_branch_pushed_concurrently_with_other_content_is_a_conflict(
    remote: Path, base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_for(base)
    GitRepo(str(remote), tmp_path / "theirs").commit_branch(
        spec_for(base, files={"apps/ledger.yaml": "kind: Other\n"}), "x", "x@x"
    )
    _blind_first_lookup(monkeypatch)
    with pytest.raises(GitBranchConflict, match="someone else"):
        GitRepo(str(remote), tmp_path / "work").commit_branch(spec, "medic", "medic@localhost")


def test_merge_branch_makes_one_merge_commit_and_is_idempotent(
    remote: Path, base: str, tmp_path: Path
) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    spec = spec_for(base)
    tip = repo.commit_branch(spec, "medic", "medic@localhost")
    merge = repo.merge_branch(spec.branch, "main", "Merge pull request #1", "alice", expected_tip=tip)
    assert git(remote, "rev-parse", "main") == merge
    assert git(remote, "rev-list", "--parents", "-n", "1", merge).split() == [merge, base, tip]
    assert "Merged-by: alice" in git(remote, "log", "-1", "--format=%B", merge)
    assert (
        git(remote, "show", f"{merge}:values/ledger-values.yaml") + "\n" == FIXED["values/ledger-values.yaml"]
    )
    # Again (a retry after the push, from another clone): the same merge, nothing new.
    assert GitRepo(str(remote), tmp_path / "other").merge_branch(spec.branch, "main", "again", "bob") == merge
    assert git(remote, "rev-parse", "main") == merge


def test_merge_finds_its_merge_commit_after_the_base_moved_on(
    remote: Path, base: str, tmp_path: Path
) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    spec = spec_for(base)
    repo.commit_branch(spec, "medic", "medic@localhost")
    merge = repo.merge_branch(spec.branch, "main", "Merge", "alice")
    later = seed_bare_repo(remote, {**FILES, **FIXED, "apps/other.yaml": "kind: Application\n"})
    assert later != merge
    assert repo.merge_branch(spec.branch, "main", "Merge", "alice") == merge


def test_merge_onto_a_moved_base_merges_both(remote: Path, base: str, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    spec = spec_for(base)
    tip = repo.commit_branch(spec, "medic", "medic@localhost")
    moved = seed_bare_repo(remote, {**FILES, "apps/other.yaml": "kind: Application\n"})
    merge = repo.merge_branch(spec.branch, "main", "Merge", "alice")
    assert git(remote, "rev-list", "--parents", "-n", "1", merge).split() == [merge, moved, tip]


def test_a_moved_branch_or_a_conflicting_merge_is_refused(remote: Path, base: str, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    spec = spec_for(base)
    repo.commit_branch(spec, "medic", "medic@localhost")
    with pytest.raises(GitBranchConflict, match="moved"):
        repo.merge_branch(spec.branch, "main", "Merge", "alice", expected_tip="0" * 40)
    seed_bare_repo(remote, {**FILES, "values/ledger-values.yaml": "replicaCount: 3\n"})
    with pytest.raises(GitMergeConflict):
        repo.merge_branch(spec.branch, "main", "Merge", "alice")
    with pytest.raises(GitRefNotFound):
        repo.merge_branch("medic/nothing", "main", "Merge", "alice")


def test_paths_and_branch_names_are_checked(remote: Path, base: str, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    with pytest.raises(ValueError):
        repo.commit_branch(spec_for(base, files={"../escape.yaml": "x"}), "m", "m@l")
    with pytest.raises(ValueError):
        repo.commit_branch(spec_for(base, branch="--force"), "m", "m@l")


def test_an_https_remote_gets_the_token_as_a_header_never_in_config_or_errors(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    remote = root / "acme" / "gitops.git"
    base = seed_bare_repo(remote, FILES)
    token = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    with GitHTTPServer(root, token) as server:
        url = f"{server.url}/acme/gitops.git"
        repo = GitRepo(url, tmp_path / "work", token=token, timeout=30)
        sha = repo.commit_branch(spec_for(base), "medic", "medic@localhost")
        assert git(remote, "rev-parse", f"refs/heads/{spec_for(base).branch}") == sha
        assert server.authorizations and all(a.startswith("Basic ") for a in server.authorizations)
        config = (tmp_path / "work" / ".git" / "config").read_text()
        assert token not in config and "extraheader" not in config.lower() and "x-access-token" not in config
        assert token not in repr(repo)

        wrong = GitRepo(url, tmp_path / "wrong", token="ghs_wrong", timeout=30)
        with pytest.raises(GitPermissionDenied) as caught:
            wrong.sync()
        assert "ghs_wrong" not in str(caught.value) and "ghs_wrong" not in " ".join(caught.value.command)
