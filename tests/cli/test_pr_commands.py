"""`medic pr list / show / merge / close` on the local host: a bare repository and a SQLite store."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

import cli.main
import integrations.temporal.client
from domain.gitops.pull_requests import PullRequest, PullRequestEvent, PullRequestSpec, branch_for
from integrations.git import GitRepo
from integrations.pull_requests import LocalPullRequestHost
from sandbox.gitops import seed_bare_repo
from store.db import make_engine, session_factory, transaction
from store.migrate import upgrade
from store.pull_requests import StorePullRequestRecords
from store.repositories import IncidentRepository

runner = CliRunner()
WORKFLOW = "incident-alert-0123456789abcdef0123"
INCIDENT = f"{WORKFLOW}.1a2b3c4d"
FILES = {"values/ledger.yaml": "memory: 256Mi\n"}


@dataclass
class Env:
    remote: Path
    pr: PullRequest


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    remote = tmp_path / "gitops.git"
    base = seed_bare_repo(remote, FILES)
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    for name in (
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITLAB_TOKEN",
        "MEDIC_GITLAB_TOKEN",
        "MEDIC_GITLAB_PROJECT",
        "MEDIC_GITOPS_REPO",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("MEDIC_GITOPS_REPO", str(remote))
    monkeypatch.setenv("MEDIC_GITOPS_WORKDIR", str(tmp_path / "work"))
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        IncidentRepository(session).upsert(INCIDENT, title="ledger OOMKilled")
    host = LocalPullRequestHost(GitRepo(str(remote), tmp_path / "opener"), StorePullRequestRecords(sessions))
    pr = host.open_pull_request(
        PullRequestSpec(
            incident_id=INCIDENT,
            branch=branch_for(INCIDENT),
            base_commit=base,
            title="medic: raise ledger memory",
            body="why",
            commit_message="medic: raise ledger memory\n",
            files={"values/ledger.yaml": "memory: 512Mi\n"},
            created_at=datetime(2026, 11, 23, tzinfo=UTC),
        )
    )
    engine.dispose()
    return Env(remote=remote, pr=pr)


@dataclass
class FakeHandle:
    client: FakeClient
    workflow_id: str
    run_id: str | None

    async def describe(self) -> Any:
        if self.client.gone:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        return type("Described", (), {"status": self.client.status, "run_id": self.client.run_id})()

    async def signal(self, name: str, arg: Any) -> None:
        self.client.signals.append((self.workflow_id, self.run_id, name, arg))


@dataclass
class FakeClient:
    run_id: str = "1a2b3c4d-0000-4000-8000-000000000000"
    status: WorkflowExecutionStatus = WorkflowExecutionStatus.RUNNING
    gone: bool = False
    signals: list[tuple[str, str | None, str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None) -> FakeHandle:
        return FakeHandle(self, workflow_id, run_id)


@pytest.fixture
def temporal(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    fake = FakeClient()

    async def connect(settings: Any, runtime: Any = None) -> Any:
        return fake

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(integrations.temporal.client, "connect", connect)
    monkeypatch.setattr(cli.main, "_exit_now", exit_now)
    return fake


def git(remote: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], capture_output=True, check=True, text=True
    ).stdout.strip()


def test_list_and_show(env: Env) -> None:
    listed = runner.invoke(cli.main.app, ["pr", "list"])
    assert listed.exit_code == 0, listed.output
    assert env.pr.branch in listed.stdout and "open" in listed.stdout
    as_json = runner.invoke(cli.main.app, ["pr", "list", "--json", "--incident", INCIDENT])
    assert '"number": ' + str(env.pr.number) in as_json.stdout
    shown = runner.invoke(cli.main.app, ["pr", "show", str(env.pr.number)])
    assert shown.exit_code == 0 and env.pr.head_commit in shown.stdout and INCIDENT in shown.stdout
    assert runner.invoke(cli.main.app, ["pr", "show", "999"]).exit_code == 1


def test_merge_merges_and_signals_the_incidents_run(env: Env, temporal: FakeClient) -> None:
    result = runner.invoke(cli.main.app, ["pr", "merge", str(env.pr.number), "--as", "alice"])
    assert result.exit_code == 0, result.output
    merge = git(env.remote, "rev-parse", "main")
    assert f"is merged into main as {merge}" in result.stdout
    assert f"told incident {INCIDENT}" in result.stdout
    (signal,) = temporal.signals
    assert signal == (
        WORKFLOW,
        temporal.run_id,
        "pull_request_event",
        PullRequestEvent(number=env.pr.number, status="merged", merge_commit=merge, actor="alice"),
    )
    shown = runner.invoke(cli.main.app, ["pr", "show", str(env.pr.number), "--json"])
    assert '"status": "merged"' in shown.stdout and '"merged_by": "alice"' in shown.stdout
    again = runner.invoke(cli.main.app, ["pr", "merge", str(env.pr.number), "--as", "bob"])
    assert again.exit_code == 0 and git(env.remote, "rev-parse", "main") == merge


def test_a_gone_workflow_is_tolerated_with_a_clear_message(env: Env, temporal: FakeClient) -> None:
    temporal.gone = True
    result = runner.invoke(cli.main.app, ["pr", "merge", str(env.pr.number), "--as", "alice"])
    assert result.exit_code == 0, result.output
    assert "has no running workflow any more" in result.output and temporal.signals == []


def test_a_later_run_of_the_workflow_is_not_signalled(env: Env, temporal: FakeClient) -> None:
    temporal.run_id = "ffffffff-0000-4000-8000-000000000000"  # the alert group's next incident
    result = runner.invoke(cli.main.app, ["pr", "close", str(env.pr.number), "--as", "carol"])
    assert result.exit_code == 0, result.output
    assert "is closed" in result.stdout and "no running workflow" in result.output
    assert temporal.signals == []


def test_an_unreachable_temporal_says_how_to_signal_by_hand(
    env: Env, temporal: FakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(settings: Any, runtime: Any = None) -> Any:
        raise RuntimeError("Failed client connect: connection refused")

    monkeypatch.setattr(integrations.temporal.client, "connect", refuse)
    result = runner.invoke(cli.main.app, ["pr", "close", str(env.pr.number)])
    assert result.exit_code == 1
    assert "temporal workflow signal --workflow-id" in result.output and '"status":"closed"' in result.output


def test_merging_a_closed_pr_is_refused(env: Env, temporal: FakeClient) -> None:
    assert runner.invoke(cli.main.app, ["pr", "close", str(env.pr.number), "--as", "carol"]).exit_code == 0
    refused = runner.invoke(cli.main.app, ["pr", "merge", str(env.pr.number), "--as", "alice"])
    assert refused.exit_code == 2 and "closed" in refused.output


def test_with_github_configured_merge_points_there(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_x")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/gitops")
    result = runner.invoke(cli.main.app, ["pr", "merge", str(env.pr.number)])
    assert result.exit_code == 2 and "GitHub" in result.output


def test_with_gitlab_configured_merge_points_there(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-x")
    monkeypatch.setenv("MEDIC_GITLAB_PROJECT", "acme/gitops")
    result = runner.invoke(cli.main.app, ["pr", "merge", str(env.pr.number)])
    assert result.exit_code == 2 and "GitLab (acme/gitops)" in result.output


def test_a_real_remote_is_never_merged_into_by_the_local_host(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIC_GITOPS_REPO", "https://git.example/acme/gitops.git")
    result = runner.invoke(cli.main.app, ["pr", "merge", str(env.pr.number), "--as", "alice"])
    assert result.exit_code == 2, result.output
    assert "not a local bare repository" in result.output
    assert "GITLAB_TOKEN and MEDIC_GITLAB_PROJECT" in result.output
