"""LocalPullRequestHost: real git with a bare remote, records in the store (SQLite + PostgreSQL)."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.gitops.pull_requests import PullRequestSpec, branch_for, labels_for
from domain.settings import settings_from_mapping
from integrations.git import GitRepo
from integrations.pull_requests import (
    GitHubPullRequestHost,
    LocalPullRequestHost,
    PullRequestConflict,
    PullRequestHost,
    PullRequestNotFound,
    github_remote_url,
    pull_request_event,
    pull_request_host,
    pull_request_host_from_settings,
    pull_request_host_kind,
)
from sandbox.gitops import seed_bare_repo
from store import models
from store.db import session_factory, transaction
from store.pull_requests import StorePullRequestRecords
from store.repositories import IncidentRepository

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
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def incident_id(sessions: sessionmaker[Session]) -> str:
    # Unique per test: the PostgreSQL database is shared by the run.
    value = f"incident-alert-{uuid.uuid4().hex[:20]}.1a2b3c4d"
    with transaction(sessions) as session:
        IncidentRepository(session).upsert(value, title="ledger OOMKilled")
    return value


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    seed_bare_repo(path, FILES)
    return path


@pytest.fixture
def host(remote: Path, tmp_path: Path, sessions: sessionmaker[Session]) -> LocalPullRequestHost:
    return LocalPullRequestHost(GitRepo(str(remote), tmp_path / "work"), StorePullRequestRecords(sessions))


def spec_for(
    incident_id: str, base: str, kind: str = "fix", files: dict[str, str] = FIXED
) -> PullRequestSpec:
    return PullRequestSpec.model_validate(
        {
            "incident_id": incident_id,
            "kind": kind,
            "branch": branch_for(incident_id, kind),  # type: ignore[arg-type]
            "base_commit": base,
            "title": f"medic: raise ledger memory ({kind})",
            "body": "why and what",
            "commit_message": f"medic: set limits memory=512Mi ({incident_id})\n",
            "labels": labels_for(kind, "medium"),  # type: ignore[arg-type]
            "files": files,
            "created_at": datetime(2026, 11, 23, 18, 0, tzinfo=UTC),
        }
    )


def _rows(sessions: sessionmaker[Session], incident_id: str) -> int:
    with transaction(sessions) as session:
        return session.scalar(
            select(func.count())
            .select_from(models.PullRequest)
            .where(models.PullRequest.incident_id == incident_id)
        )


def test_open_makes_one_branch_one_commit_and_one_record_however_often_it_runs(
    host: LocalPullRequestHost, remote: Path, incident_id: str, sessions: sessionmaker[Session]
) -> None:
    assert isinstance(host, PullRequestHost)
    spec = spec_for(incident_id, git(remote, "rev-parse", "main"))
    pr = host.open_pull_request(spec)
    assert (pr.host, pr.status, pr.branch, pr.incident_id, pr.kind) == (
        "local",
        "open",
        spec.branch,
        incident_id,
        "fix",
    )
    assert pr.url == f"local://{remote}#{pr.number}" and pr.title == spec.title
    assert git(remote, "rev-parse", f"refs/heads/{spec.branch}") == pr.head_commit
    assert host.open_pull_request(spec) == pr
    assert host.find_pull_request(spec.branch) == pr and host.get_pull_request(pr.number) == pr
    assert _rows(sessions, incident_id) == 1
    assert git(remote, "rev-list", "--count", f"main..{spec.branch}") == "1"


def test_a_crash_after_the_push_before_the_record_ends_with_one_pr(
    host: LocalPullRequestHost,
    remote: Path,
    incident_id: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    spec = spec_for(incident_id, git(remote, "rev-parse", "main"))
    # The first attempt pushed its branch and died before recording the PR.
    pushed = GitRepo(str(remote), tmp_path / "crashed").commit_branch(spec, "medic", "medic@localhost")
    pr = host.open_pull_request(spec)
    assert pr.head_commit == pushed
    assert _rows(sessions, incident_id) == 1


def test_foreign_content_on_the_branch_is_a_conflict(
    host: LocalPullRequestHost,
    remote: Path,
    incident_id: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    base = git(remote, "rev-parse", "main")
    GitRepo(str(remote), tmp_path / "someone").commit_branch(
        spec_for(incident_id, base, files={"values/ledger.yaml": "hacked: true\n"}), "x", "x@x"
    )
    with pytest.raises(PullRequestConflict):
        host.open_pull_request(spec_for(incident_id, base))
    assert _rows(sessions, incident_id) == 0


def test_merge_makes_a_merge_commit_on_the_base_once(
    host: LocalPullRequestHost, remote: Path, incident_id: str
) -> None:
    base = git(remote, "rev-parse", "main")
    pr = host.open_pull_request(spec_for(incident_id, base))
    merged = host.merge_pull_request(pr.number, merged_by="alice")
    assert (merged.status, merged.merged_by) == ("merged", "alice")
    assert merged.merge_commit == git(remote, "rev-parse", "main")
    assert git(remote, "rev-list", "--parents", "-n", "1", "main").split()[1:] == [base, pr.head_commit]
    assert git(remote, "show", "main:values/ledger.yaml") + "\n" == FIXED["values/ledger.yaml"]
    assert host.merge_pull_request(pr.number, merged_by="bob") == merged, "merging again changes nothing"
    assert pull_request_event(merged, "alice") is not None
    assert pull_request_event(merged, "alice").model_dump() == {  # type: ignore[union-attr]
        "number": pr.number,
        "status": "merged",
        "merge_commit": merged.merge_commit,
        "actor": "alice",
    }


def test_a_merge_whose_record_update_was_lost_finds_its_merge_commit(
    host: LocalPullRequestHost, remote: Path, incident_id: str, tmp_path: Path
) -> None:
    pr = host.open_pull_request(spec_for(incident_id, git(remote, "rev-parse", "main")))
    merge = GitRepo(str(remote), tmp_path / "crashed").merge_branch(pr.branch, pr.base, "Merge", "alice")
    assert host.merge_pull_request(pr.number, merged_by="alice").merge_commit == merge
    assert git(remote, "rev-parse", "main") == merge


def test_close_then_merge_is_refused_and_unknown_numbers_are_not_found(
    host: LocalPullRequestHost, remote: Path, incident_id: str
) -> None:
    pr = host.open_pull_request(spec_for(incident_id, git(remote, "rev-parse", "main")))
    closed = host.close_pull_request(pr.number, closed_by="carol")
    assert (closed.status, closed.closed_by) == ("closed", "carol")
    assert host.close_pull_request(pr.number, closed_by="dave") == closed
    with pytest.raises(PullRequestConflict):
        host.merge_pull_request(pr.number, merged_by="alice")
    with pytest.raises(PullRequestNotFound):
        host.get_pull_request(10**7)
    assert pull_request_event(host.open_pull_request(spec_for(incident_id, pr.head_commit, "revert"))) is None


def test_comments_are_recorded_once(
    host: LocalPullRequestHost, remote: Path, incident_id: str, sessions: sessionmaker[Session]
) -> None:
    pr = host.open_pull_request(spec_for(incident_id, git(remote, "rev-parse", "main")))
    host.comment(pr.number, "verification passed")
    host.comment(pr.number, "verification passed")
    with transaction(sessions) as session:
        row = session.scalars(select(models.PullRequest).where(models.PullRequest.branch == pr.branch)).one()
        assert [c["text"] for c in row.comments] == ["verification passed"]


def test_the_factory_picks_github_only_with_a_token_and_a_repository(
    remote: Path, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    repo = GitRepo(str(remote), tmp_path / "work")
    records = StorePullRequestRecords(sessions)
    assert pull_request_host_kind("", "acme/gitops") == "local" == pull_request_host_kind("t", "")
    assert isinstance(
        pull_request_host(repo, records=records, github_repository="acme/gitops"), LocalPullRequestHost
    )
    github = pull_request_host(repo, github_token="t", github_repository="acme/gitops")
    assert isinstance(github, GitHubPullRequestHost) and github.kind == "github"
    with pytest.raises(ValueError, match="records"):
        pull_request_host(repo)
    with pytest.raises(ValueError, match="owner/name"):
        pull_request_host(repo, github_token="t", github_repository="gitops")
    assert github_remote_url("acme/gitops") == "https://github.com/acme/gitops.git"
    assert (
        github_remote_url("acme/gitops", "https://ghe.example/api/v3")
        == "https://ghe.example/acme/gitops.git"
    )


def test_the_factory_from_settings_sends_the_token_only_to_github(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    records = StorePullRequestRecords(sessions)
    local = pull_request_host_from_settings(
        settings_from_mapping({"MEDIC_GITOPS_REPO": "/srv/gitops.git", "MEDIC_HOME": str(tmp_path)}), records
    )
    assert isinstance(local, LocalPullRequestHost) and local.repo.remote_url == "/srv/gitops.git"
    github_env = {"GITHUB_TOKEN": "ghp_t", "GITHUB_REPOSITORY": "acme/gitops", "MEDIC_HOME": str(tmp_path)}
    github = pull_request_host_from_settings(settings_from_mapping(github_env))
    assert isinstance(github, GitHubPullRequestHost)
    assert github.repo.remote_url == "https://github.com/acme/gitops.git" and github.repo._token == "ghp_t"
    elsewhere = pull_request_host_from_settings(
        settings_from_mapping({**github_env, "MEDIC_GITOPS_REPO": "https://git.example/acme/gitops.git"})
    )
    assert isinstance(elsewhere, GitHubPullRequestHost) and elsewhere.repo._token == ""
    with pytest.raises(ValueError, match="MEDIC_GITOPS_REPO"):
        pull_request_host_from_settings(settings_from_mapping({"MEDIC_HOME": str(tmp_path)}), records)
