"""GitRepo with real git against a bare remote seeded in tmp_path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from integrations.git import GitError, GitRefNotFound, GitRepo, GitUnavailable
from sandbox.gitops import seed_bare_repo

FILES = {
    "values/ledger-values.yaml": "replicaCount: 2\n",
    "applications/payments-ledger.yaml": "kind: Application\n",
}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    seed_bare_repo(path, FILES)
    return path


def test_sync_clones_then_reads_files_at_main(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    commit = repo.sync()
    assert repo.head("main") == commit == repo.head("HEAD") and len(commit) == 40
    assert repo.list_files("main") == sorted(FILES)
    assert repo.read_file("values/ledger-values.yaml") == "replicaCount: 2\n"
    assert repo.read_file("values/ledger-values.yaml", commit) == "replicaCount: 2\n"


def test_missing_paths_read_as_none(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    repo.sync()
    assert repo.read_file("values/nope.yaml") is None
    assert repo.read_file("values") is None, "a directory is not a file"


def test_sync_is_idempotent_and_fetches_new_commits(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    first = repo.sync()
    assert repo.sync() == first
    second = seed_bare_repo(remote, {**FILES, "values/ledger-values.yaml": "replicaCount: 3\n"})
    assert second != first
    assert repo.head("main") == first, "reads see the remote as last synced"
    assert repo.sync() == second
    assert repo.read_file("values/ledger-values.yaml") == "replicaCount: 3\n"
    assert repo.read_file("values/ledger-values.yaml", first) == "replicaCount: 2\n"


def test_an_unknown_ref_is_git_ref_not_found(remote: Path, tmp_path: Path) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    repo.sync()
    with pytest.raises(GitRefNotFound):
        repo.head("release-9")
    with pytest.raises(GitRefNotFound):
        repo.read_file("values/ledger-values.yaml", "0" * 40)


def test_an_unreachable_remote_is_git_unavailable(tmp_path: Path) -> None:
    repo = GitRepo(str(tmp_path / "missing.git"), tmp_path / "work")
    with pytest.raises(GitUnavailable):
        repo.sync()
    assert not (tmp_path / "work").exists(), "a failed clone leaves nothing behind"


def test_a_workdir_of_another_remote_is_refused(remote: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.git"
    seed_bare_repo(other, {"a.yaml": "a: 1\n"})
    GitRepo(str(other), tmp_path / "work").sync()
    with pytest.raises(GitError, match="not of the configured remote"):
        GitRepo(str(remote), tmp_path / "work").sync()


def test_credentials_in_the_remote_url_never_reach_the_message(tmp_path: Path) -> None:
    repo = GitRepo("http://user:hunter2@127.0.0.1:1/gitops.git", tmp_path / "work", timeout=20)
    with pytest.raises(GitError) as caught:
        repo.sync()
    assert "hunter2" not in str(caught.value) and "hunter2" not in " ".join(caught.value.command)


def test_seeding_the_same_files_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "gitops.git"
    first = seed_bare_repo(path, FILES)
    assert seed_bare_repo(path, dict(reversed(list(FILES.items())))) == first
    log = subprocess.run(
        ["git", "--git-dir", str(path), "rev-list", "--count", "main"],
        capture_output=True,
        check=True,
        text=True,
    )
    assert log.stdout.strip() == "1"


def test_seeding_other_files_adds_one_commit_holding_exactly_them(tmp_path: Path) -> None:
    path = tmp_path / "gitops.git"
    first = seed_bare_repo(path, FILES)
    second = seed_bare_repo(path, {"overlays/prod/kustomization.yaml": "images: []\n"})
    parent = subprocess.run(
        ["git", "--git-dir", str(path), "rev-parse", f"{second}^"], capture_output=True, check=True, text=True
    )
    assert parent.stdout.strip() == first
    repo = GitRepo(str(path), tmp_path / "work")
    repo.sync()
    assert repo.list_files() == ["overlays/prod/kustomization.yaml"]


def test_seeding_refuses_paths_outside_the_repository(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        seed_bare_repo(tmp_path / "gitops.git", {"../escape.yaml": "x: 1\n"})


def test_merge_base_is_where_a_branch_left_its_base_not_the_base_tip(remote: Path, tmp_path: Path) -> None:
    first = seed_bare_repo(remote, FILES)
    # A branch from `first`, then main moves on.
    env = {
        "GIT_DIR": str(remote),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
    }
    env |= {"GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin"}
    tree = subprocess.run(["git", "rev-parse", f"{first}^{{tree}}"], env=env, capture_output=True, text=True)
    change = subprocess.run(
        ["git", "commit-tree", tree.stdout.strip(), "-p", first, "-m", "feature"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(["git", "update-ref", "refs/heads/feature", change], env=env, check=True)
    later = seed_bare_repo(remote, {**FILES, "values/ledger-values.yaml": "replicaCount: 4\n"})
    repo = GitRepo(str(remote), tmp_path / "work")
    repo.sync()
    assert repo.head("main") == later != first
    assert repo.merge_base("main", change) == first
    assert repo.merge_base("main", "feature") == first
    with pytest.raises(GitRefNotFound):
        repo.merge_base("main", "0" * 40)


def test_trailer_values_are_read_per_commit_and_merges_are_left_out(remote: Path, tmp_path: Path) -> None:
    first = seed_bare_repo(remote, FILES)
    env = {"GIT_DIR": str(remote), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "PATH": "/usr/bin:/bin"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    tree = subprocess.run(
        ["git", "rev-parse", f"{first}^{{tree}}"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()

    def commit(message: str, *parents: str) -> str:
        args = [arg for parent in parents for arg in ("-p", parent)]
        return subprocess.run(
            ["git", "commit-tree", tree, *args, "-m", message],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    fix = commit("medic: raise memory\n\nMedic-Incident: incident-a.1", first)
    plain = commit("bump the image", first)
    merged = commit("Merge pull request #3", fix, plain)
    both = commit("medic: revert\n\nMedic-Incident: incident-b.2\nMedic-Incident: incident-c.3", merged)
    subprocess.run(["git", "update-ref", "refs/heads/main", both], env=env, check=True)
    repo = GitRepo(str(remote), tmp_path / "work")
    repo.sync()

    assert repo.trailer_values(first, fix, "Medic-Incident") == [["incident-a.1"]]
    # one list per commit but the merge, the person's commit an empty one (the order is git log's)
    assert sorted(repo.trailer_values(first, "main", "Medic-Incident")) == [
        [],
        ["incident-a.1"],
        ["incident-b.2", "incident-c.3"],
    ]
    assert repo.trailer_values(fix, fix, "Medic-Incident") == []
