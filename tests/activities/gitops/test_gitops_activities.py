"""The GitOps activities on real parts: git with a bare remote (the scenario's GitOps files), the
local PR host with its records in a migrated SQLite store, the GitHub fake, and the sandbox Argo CD
following the same bare repository and syncing the sandbox cluster."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.gitops.argocd import ApplicationSyncActivities
from activities.gitops.change import GitOpsChangeActivities
from activities.gitops.pull_requests import PullRequestActivities
from cli.embedded import git_source_urls
from domain.analysis.plan import Plan, Restart, SetResources
from domain.gitops.pull_requests import PullRequest, branch_for
from domain.incident.model import ResourceRef
from domain.kube.observation import ArgoApplication
from domain.review.plan_impact import PlanImpact
from domain.steps.gitops import (
    ApplicationCheck,
    ApplicationsInput,
    GitOpsChange,
    OpenPullRequestInput,
    PrepareChangeInput,
    PrepareRevertInput,
    PullRequestInput,
)
from integrations.argocd import ArgoClient, to_argo_application
from integrations.git import GitRepo
from integrations.pull_requests import GitHubPullRequestHost, LocalPullRequestHost, PullRequestHost
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import Scenario, load_named
from store.db import make_engine, session_factory, transaction
from store.migrate import upgrade
from store.pull_requests import StorePullRequestRecords
from store.repositories import IncidentRepository
from tests.fakes.github_api import SandboxGitHub

TARGET = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
VALUES = "values/ledger-values.yaml"
APP = "payments-ledger"
TOKEN = "argocd-test-token"
GITHUB_TOKEN = "gh-test-token-with-write"


def git(remote: Path, *args: str) -> str:
    command = ["git", "--git-dir", str(remote), *args]
    return subprocess.run(command, capture_output=True, check=True, text=True).stdout.strip()


def show(remote: Path, rev: str, path: str) -> str:
    """A file's text at `rev`, exactly (no stripping)."""
    command = ["git", "--git-dir", str(remote), "show", f"{rev}:{path}"]
    return subprocess.run(command, capture_output=True, check=True, text=True).stdout


def commit_on_main(remote: Path, tmp: Path, path: str, text: str, message: str) -> str:
    """Someone else's commit on main (a clone, a commit, a push)."""
    work = tmp / f"other-{uuid.uuid4().hex[:6]}"
    subprocess.run(["git", "clone", "--quiet", str(remote), str(work)], check=True, capture_output=True)
    (work / path).write_text(text)
    identity = ["-c", "user.name=someone", "-c", "user.email=someone@example.invalid"]
    subprocess.run(["git", "-C", str(work), *identity, "commit", "-qam", message], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "main"], check=True, capture_output=True)
    return git(remote, "rev-parse", "main")


def gitops_activities(
    repo: GitRepo,
    host: PullRequestHost | None,
    argocd: ArgoClient | None,
    *,
    console_url: str = "",
    repo_urls: tuple[str, ...] = (),
) -> SimpleNamespace:
    """The GitOps path's activities, wired as the worker wires them."""
    change = GitOpsChangeActivities(repo, argocd, repo_urls=repo_urls)
    pull_requests = PullRequestActivities(repo, host, console_url=console_url)
    applications = ApplicationSyncActivities(argocd, repo)
    return SimpleNamespace(
        prepare_gitops_change=change.prepare_gitops_change,
        prepare_gitops_revert=change.prepare_gitops_revert,
        open_pull_request=pull_requests.open_pull_request,
        get_pull_request=pull_requests.get_pull_request,
        merge_pull_request=pull_requests.merge_pull_request,
        close_pull_request=pull_requests.close_pull_request,
        sync_applications=applications.sync_applications,
        check_applications=applications.check_applications,
    )


@dataclass
class World:
    scenario: Scenario
    cluster: SandboxCluster
    remote: Path
    seed: str
    repo: GitRepo
    argocd: SandboxArgoCD
    client: ArgoClient
    sessions: sessionmaker[Session]
    incident_id: str
    tmp: Path

    def application(self) -> ArgoApplication:
        raw = self.client.get_application(APP)
        return to_argo_application(raw, [TARGET.without_container()])

    def activities(self, host: PullRequestHost | None = None) -> SimpleNamespace:
        host = host or LocalPullRequestHost(self.repo, StorePullRequestRecords(self.sessions))
        # the URLs the scenario's Applications name the repository by, as the worker is given them
        urls = (str(self.remote), *git_source_urls(self.scenario.argocd))
        return gitops_activities(
            self.repo, host, self.client, console_url="http://console.example", repo_urls=urls
        )

    def prepare(self, plan: Plan, apps: list[ArgoApplication] | None = None) -> GitOpsChange:
        input = PrepareChangeInput(
            incident_id=self.incident_id,
            plan=plan,
            plan_hash=plan.plan_hash(),
            applications=apps if apps is not None else [self.application()],
        )
        return run(self.activities().prepare_gitops_change, input)

    def open_input(self, change: GitOpsChange, plan: Plan, **extra: Any) -> OpenPullRequestInput:
        return OpenPullRequestInput(
            incident_id=self.incident_id,
            change=change,
            plan=plan,
            plan_hash=plan.plan_hash(),
            applications=[self.application()],
            title="ledger OOMKilled",
            **extra,
        )

    def prs(self) -> int:
        from sqlalchemy import func, select

        from store import models

        with transaction(self.sessions) as session:
            return int(session.scalar(select(func.count()).select_from(models.PullRequest)) or 0)

    def pr(self, number: int) -> PullRequestInput:
        return PullRequestInput(incident_id=self.incident_id, number=number)

    def branches(self) -> list[str]:
        return git(self.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()


def run(fn: Any, arg: Any) -> Any:
    return ActivityEnvironment().run(fn, arg)


def oom_plan(limit: str = "512Mi") -> Plan:
    return Plan(actions=[SetResources(target=TARGET, mode="gitops", file=VALUES, limits={"memory": limit})])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    scenario = load_named("oom-helm-values")
    cluster = SandboxCluster(scenario)
    remote = tmp_path / "gitops.git"
    seed = seed_bare_repo(remote, scenario.gitops)
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    upgrade(url)
    sessions = session_factory(make_engine(url))
    incident_id = f"incident-gitops-{uuid.uuid4().hex[:8]}.0a1b2c3d"
    with transaction(sessions) as session:
        IncidentRepository(session).upsert(incident_id, title="ledger OOMKilled")
    with SandboxArgoCD(scenario.argocd, token=TOKEN, cluster=cluster, repo=remote) as argocd:
        client = ArgoClient(argocd.url, TOKEN)
        try:
            yield World(
                scenario,
                cluster,
                remote,
                seed,
                GitRepo(str(remote), tmp_path / "work"),
                argocd,
                client,
                sessions,
                incident_id,
                tmp_path,
            )
        finally:
            client.close()


def test_prepare_computes_the_diff_at_the_head_of_the_deployed_branch(world: World) -> None:
    change = world.prepare(oom_plan())

    assert change.refused == [] and change.kind == "fix"
    assert (change.base, change.base_commit) == ("main", world.seed)
    (file,) = change.files
    assert file.path == VALUES
    assert "-    memory: 256Mi   # raised from 192Mi in PR #412" in file.diff
    assert "+    memory: 512Mi   # raised from 192Mi in PR #412" in file.diff
    assert [a.name for a in change.applications] == [APP] and change.applications[0].automated
    assert len(change.edit_hash) == 16
    assert "Ledger service" not in change.model_dump_json()  # no whole file in the history


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        (Plan(actions=[Restart(target=TARGET, mode="gitops")]), "a restart changes nothing that Git defines"),
        (
            Plan(
                actions=[
                    SetResources(target=TARGET, mode="gitops", file="other.yaml", limits={"memory": "1Gi"})
                ]
            ),
            f"the plan names other.yaml, but resources is set in {VALUES}",
        ),
        (
            Plan(actions=[SetResources(target=TARGET, mode="direct", limits={"memory": "1Gi"})]),
            "a direct action changes no file",
        ),
    ],
    ids=["restart", "wrong-file", "direct-action"],
)
def test_prepare_refuses_what_it_cannot_make_with_confidence(world: World, plan: Plan, reason: str) -> None:
    change = world.prepare(plan)
    assert change.files == [] and change.base_commit == ""
    assert any(reason in r for r in change.refused), change.refused


@pytest.mark.parametrize("revision", ["refs/tags/v1", "3f2a9c1e4b5d", "v1.2.0"], ids=["ref", "commit", "tag"])
def test_prepare_refuses_an_application_that_deploys_no_branch(world: World, revision: str) -> None:
    git(world.remote, "tag", "v1.2.0", "main")
    app = world.application()
    pinned = app.model_copy(
        update={"sources": [{**s, "targetRevision": revision} if s.get("ref") else s for s in app.sources]}
    )
    (reason,) = world.prepare(oom_plan(), [pinned]).refused
    assert "not a branch" in reason and "a pull request cannot change what" in reason


def test_prepare_never_edits_an_application_from_a_repository_medic_may_not_write(world: World) -> None:
    # The same files, but the Application says they are another team's repository: medic's clone
    # holds a file at that path, and editing it would change the wrong repository.
    platform = "git@github.com:acme/platform.git"
    app = world.application()
    elsewhere = app.model_copy(update={"sources": [{**s, "repoURL": platform} for s in app.sources]})
    change = world.prepare(oom_plan(), [elsewhere])
    assert change.files == [] and change.edit_hash == ""
    assert change.refused == [
        f"Application {APP} deploys from {platform}, which medic may not write; "
        "add it to MEDIC_GITOPS_REPOSITORIES_FILE"
    ]
    assert world.branches() == ["main"] and git(world.remote, "rev-parse", "main") == world.seed


def test_open_makes_one_branch_one_commit_and_one_pr_however_often_it_is_retried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = oom_plan()
    change = world.prepare(plan)
    records = StorePullRequestRecords(world.sessions)
    activities = world.activities(LocalPullRequestHost(world.repo, records))
    input = world.open_input(change, plan)

    # The first attempt dies after its push, before the PR is recorded.
    original = records.create
    monkeypatch.setattr(records, "create", lambda pr: (_ for _ in ()).throw(ConnectionError("worker died")))
    with pytest.raises(ConnectionError):
        run(activities.open_pull_request, input)
    branch = branch_for(world.incident_id)
    assert branch in world.branches() and world.prs() == 0
    monkeypatch.setattr(records, "create", original)

    first = run(activities.open_pull_request, input)
    # ... and the next one after the PR was made, its answer lost.
    again = run(activities.open_pull_request, input)

    assert again == first and first.branch == branch and first.status == "open"
    assert world.prs() == 1
    assert world.branches() == ["main", branch]
    assert git(world.remote, "rev-list", f"main..{branch}").split() == [first.head_commit]
    assert "memory: 512Mi" in git(world.remote, "show", f"{branch}:{VALUES}")
    message = git(world.remote, "log", "-1", "--format=%B", branch)
    assert world.incident_id in message and "limits memory=512Mi" in message


def test_open_refuses_a_change_other_than_the_one_approved(world: World) -> None:
    plan = oom_plan()
    change = world.prepare(plan)
    tampered = change.model_copy(update={"edit_hash": "0" * 16})

    with pytest.raises(ApplicationError) as refused:
        run(world.activities().open_pull_request, world.open_input(tampered, plan))

    assert refused.value.type == "ChangeMismatch" and refused.value.non_retryable
    assert world.branches() == ["main"]


def test_merged_fix_is_synced_by_argo_cd_and_reported_synced_and_healthy(world: World) -> None:
    plan = oom_plan()
    activities = world.activities()
    pr = run(activities.open_pull_request, world.open_input(world.prepare(plan), plan))
    merged: PullRequest = run(activities.merge_pull_request, world.pr(pr.number))
    assert merged.status == "merged" and merged.merge_commit == git(world.remote, "rev-parse", "main")
    request = ApplicationsInput(
        incident_id=world.incident_id,
        applications=world.prepare(plan).applications,
        revision=merged.merge_commit,
    )

    started: ApplicationCheck = run(activities.sync_applications, request)
    assert started.applications[0].automated and not started.applications[0].sync_requested
    for _ in range(20):
        check: ApplicationCheck = run(activities.check_applications, request)
        (app,) = check.applications
        if app.synced and app.health_status == "Healthy" and not app.operation_in_progress:
            break
    else:
        pytest.fail(f"Argo CD never reported the merge synced and Healthy: {check}")

    live = world.cluster.peek("apps/v1", "Deployment", "payments", "ledger")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    managers = {
        m.manager for m in world.cluster.field_managers("apps/v1", "Deployment", "payments", "ledger")
    }
    assert managers == {"argocd-controller"}


def test_an_application_without_automated_sync_is_asked_to_sync(tmp_path: Path, world: World) -> None:
    apps = [dict(a) for a in world.scenario.argocd]
    apps[0] = {**apps[0], "spec": {k: v for k, v in apps[0]["spec"].items() if k != "syncPolicy"}}
    with SandboxArgoCD(apps, token=TOKEN, cluster=world.cluster, repo=world.remote) as manual:
        client = ArgoClient(manual.url, TOKEN)
        activities = gitops_activities(
            world.repo, LocalPullRequestHost(world.repo, StorePullRequestRecords(world.sessions)), client
        )
        plan = oom_plan("640Mi")
        change = world.prepare(plan)
        pr = run(activities.open_pull_request, world.open_input(change, plan))
        merged = run(activities.merge_pull_request, world.pr(pr.number))
        request = ApplicationsInput(
            incident_id=world.incident_id,
            applications=[a.model_copy(update={"automated": False}) for a in change.applications],
            revision=merged.merge_commit or "",
        )
        started: ApplicationCheck = run(activities.sync_applications, request)
        assert started.applications[0].sync_requested and not started.applications[0].automated
        for _ in range(20):
            (app,) = run(activities.check_applications, request).applications
            if app.synced and not app.operation_in_progress:
                break
        else:
            pytest.fail("the requested sync never completed")
        client.close()
    live = world.cluster.peek("apps/v1", "Deployment", "payments", "ledger")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "640Mi"


def test_revert_puts_the_files_back_keeping_changes_made_since(world: World) -> None:
    plan = oom_plan()
    activities = world.activities()
    change = world.prepare(plan)
    fix = run(activities.open_pull_request, world.open_input(change, plan))
    fix = run(activities.merge_pull_request, world.pr(fix.number))
    # Someone changes the same file elsewhere after the merge: the revert keeps that.
    merged_text = show(world.remote, "main", VALUES)
    since = commit_on_main(
        world.remote, world.tmp, VALUES, merged_text.replace("replicaCount: 2", "replicaCount: 3"), "scale"
    )

    revert: GitOpsChange = run(
        activities.prepare_gitops_revert,
        PrepareRevertInput(incident_id=world.incident_id, change=change, fix=fix),
    )
    assert revert.kind == "revert" and revert.refused == [] and revert.base_commit == since
    assert (revert.reverts_base, revert.reverts_head) == (world.seed, fix.head_commit)
    (diff,) = revert.files
    assert "-    memory: 512Mi" in diff.diff and "+    memory: 256Mi" in diff.diff
    assert "replicaCount" not in diff.diff

    pr = run(
        activities.open_pull_request,
        world.open_input(revert, plan, reason="verification failed: pods crashing", fix=fix),
    )
    assert pr.kind == "revert" and pr.branch == branch_for(world.incident_id, "revert")
    text = show(world.remote, pr.branch, VALUES)
    original = world.scenario.gitops[VALUES]
    assert text == original.replace("replicaCount: 2", "replicaCount: 3")
    assert run(activities.open_pull_request, world.open_input(revert, plan, reason="again", fix=fix)) == pr


def test_revert_of_lines_changed_again_since_is_refused(world: World) -> None:
    plan = oom_plan()
    activities = world.activities()
    change = world.prepare(plan)
    fix = run(activities.open_pull_request, world.open_input(change, plan))
    fix = run(activities.merge_pull_request, world.pr(fix.number))
    merged_text = show(world.remote, "main", VALUES)
    commit_on_main(world.remote, world.tmp, VALUES, merged_text.replace("512Mi", "768Mi"), "more memory")

    revert = run(
        activities.prepare_gitops_revert,
        PrepareRevertInput(incident_id=world.incident_id, change=change, fix=fix),
    )
    (reason,) = revert.refused
    assert "changed again since the fix in the lines the fix changed" in reason


def test_closing_comments_once_and_closes(world: World) -> None:
    plan = oom_plan()
    records = StorePullRequestRecords(world.sessions)
    activities = world.activities(LocalPullRequestHost(world.repo, records))
    pr = run(activities.open_pull_request, world.open_input(world.prepare(plan), plan))
    close = PullRequestInput(
        incident_id=world.incident_id, number=pr.number, actor="medic", comment="medic: the incident expired"
    )

    closed = run(activities.close_pull_request, close)
    assert run(activities.close_pull_request, close) == closed

    assert closed.status == "closed" and closed.closed_by == "medic"
    from store.repositories import PullRequestRepository

    with transaction(world.sessions) as session:
        row = PullRequestRepository(session).get("local", pr.number)
        assert row is not None
        assert [c["text"] for c in row.comments] == ["medic: the incident expired"]
    with pytest.raises(ApplicationError) as refused:
        run(activities.merge_pull_request, world.pr(pr.number))
    assert refused.value.type == "PullRequestConflict" and refused.value.non_retryable


@pytest.fixture
def github(world: World) -> Iterator[SandboxGitHub]:
    with SandboxGitHub(world.remote, token=GITHUB_TOKEN, owner="acme", name="gitops") as fake:
        yield fake


def github_host(world: World, github: SandboxGitHub) -> GitHubPullRequestHost:
    return GitHubPullRequestHost(
        world.repo,
        github.full_name,
        GITHUB_TOKEN,
        github.api_url,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_github_pull_request_carries_the_diff_labels_and_no_secret(
    world: World, github: SandboxGitHub
) -> None:
    # A secret next to the changed lines would be in the diff's context.
    secret = "hunter2-Sup3rS3cret-Pa55"
    text = world.scenario.gitops[VALUES].replace("  limits:\n", f"  limits:\n    # dbPassword: {secret}\n")
    commit_on_main(world.remote, world.tmp, VALUES, text, "a comment")
    plan = oom_plan()
    change = world.prepare(plan)
    assert secret not in change.model_dump_json()
    host = github_host(world, github)
    activities = world.activities(host)

    impact = PlanImpact(monthly_delta_usd=0.62, summary="+$0.62/month (list prices); downtime: none found")
    github.drop_after_create()  # the PR is made, the answer lost: the retry finds it
    with pytest.raises(ApplicationError) as lost:
        run(activities.open_pull_request, world.open_input(change, plan, impact=impact))
    assert not lost.value.non_retryable
    pr = run(activities.open_pull_request, world.open_input(change, plan, impact=impact))

    assert pr.host == "github" and pr.branch == branch_for(world.incident_id)
    assert list(github.pulls) == [pr.number] and github.count("POST", "/pulls") == 1
    pull = github.pulls[pr.number]
    assert {"medic", "automated-remediation", "medic:fix"} <= set(pull.labels)
    assert "+    memory: 512Mi" in pull.body and secret not in pull.body and secret not in pull.title
    assert "## Impact\n\n+$0.62/month (list prices); downtime: none found\n" in pull.body
    assert world.branches() == ["main", pr.branch]

    merge_commit = github.merge_as(pr.number, "carol")
    seen: PullRequest = run(activities.get_pull_request, world.pr(pr.number))
    assert (seen.status, seen.merge_commit, seen.merged_by) == ("merged", merge_commit, "carol")
    host.close()


def test_github_rate_limit_is_retried_after_the_hosts_delay(world: World, github: SandboxGitHub) -> None:
    host = github_host(world, github)
    plan = oom_plan()
    pr = run(world.activities(host).open_pull_request, world.open_input(world.prepare(plan), plan))
    github.rate_limit_next()
    with pytest.raises(ApplicationError) as limited:
        run(
            world.activities(host).get_pull_request,
            world.pr(pr.number),
        )
    assert limited.value.type == "PullRequestUnavailable" and not limited.value.non_retryable
    assert limited.value.next_retry_delay is not None
    host.close()
