"""A GitOps change in a second repository medic may write (MEDIC_GITOPS_REPOSITORIES_FILE): the
Application deploys from a bare repository other than the configured one; medic prepares the fix
in that repository's own clone, opens its pull request there (the local host), merges it, and the
sandbox Argo CD — following that repository — syncs it, while the configured repository is not
touched. The clones and hosts are wired as the worker wires them (`workers.main.gitops_clones`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session, sessionmaker

from activities.gitops.argocd import ApplicationSyncActivities
from activities.gitops.change import GitOpsChangeActivities
from activities.gitops.pull_requests import PullRequestActivities
from cli.embedded import git_source_urls
from domain.gitops.repositories import default_repositories, repositories_from_yaml
from domain.kube.observation import ArgoApplication
from domain.settings import Settings
from domain.steps.gitops import (
    ApplicationCheck,
    ApplicationsInput,
    OpenPullRequestInput,
    PrepareChangeInput,
    PrepareRevertInput,
    PullRequestInput,
)
from integrations.argocd import ArgoClient, to_argo_application
from integrations.git import GitRepo
from integrations.gitops_clones import GitOpsClones
from integrations.pull_requests import LocalPullRequestHost
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import Scenario, load_named
from store.db import make_engine, session_factory, transaction
from store.migrate import upgrade
from store.pull_requests import StorePullRequestRecords
from store.repositories import IncidentRepository
from tests.activities.gitops.test_gitops_activities import APP, TARGET, TOKEN, VALUES, git, oom_plan, run
from workers.main import gitops_clones

PRIMARY_FILES = {"README.md": "the apps repository\n"}


@dataclass
class TwoRepositories:
    scenario: Scenario
    cluster: SandboxCluster
    primary: Path
    primary_seed: str
    platform: Path
    platform_seed: str
    platform_url: str
    clones: GitOpsClones
    client: ArgoClient
    sessions: sessionmaker[Session]
    incident_id: str
    activities: SimpleNamespace

    def application(self) -> ArgoApplication:
        return to_argo_application(self.client.get_application(APP), [TARGET.without_container()])


@pytest.fixture
def two(tmp_path: Path) -> Iterator[TwoRepositories]:
    scenario = load_named("oom-helm-values")
    cluster = SandboxCluster(scenario)
    # The configured repository holds something else; the Application's files are in the second.
    primary = tmp_path / "apps.git"
    primary_seed = seed_bare_repo(primary, PRIMARY_FILES)
    platform = tmp_path / "platform.git"
    platform_seed = seed_bare_repo(platform, scenario.gitops)
    (platform_url,) = git_source_urls(scenario.argocd)
    mapping = repositories_from_yaml(
        f"- url: {platform_url}\n  clone_url: {platform}\n  pull_requests: {{host: local}}\n",
        default_repositories(str(primary)),
    )
    db = f"sqlite:///{tmp_path / 'medic.db'}"
    upgrade(db)
    sessions = session_factory(make_engine(db))
    incident_id = f"incident-platform-{uuid.uuid4().hex[:8]}.0a1b2c3d"
    with transaction(sessions) as session:
        IncidentRepository(session).upsert(incident_id, title="ledger OOMKilled")
    settings = Settings(gitops_repo_url=str(primary), gitops_workdir=str(tmp_path / "work"))
    repo = GitRepo(str(primary), tmp_path / "work")
    host = LocalPullRequestHost(repo, StorePullRequestRecords(sessions))
    clones = gitops_clones(settings, mapping, repo, host, sessions)
    with SandboxArgoCD(scenario.argocd, token=TOKEN, cluster=cluster, repo=platform) as argocd:
        client = ArgoClient(argocd.url, TOKEN)
        change = GitOpsChangeActivities(repo, client, repositories=mapping, clones=clones)
        pull_requests = PullRequestActivities(repo, host, clones=clones)
        applications = ApplicationSyncActivities(client, repo, clones=clones)
        activities = SimpleNamespace(
            prepare=change.prepare_gitops_change,
            prepare_revert=change.prepare_gitops_revert,
            open=pull_requests.open_pull_request,
            get=pull_requests.get_pull_request,
            merge=pull_requests.merge_pull_request,
            close=pull_requests.close_pull_request,
            sync=applications.sync_applications,
            check=applications.check_applications,
        )
        try:
            yield TwoRepositories(
                scenario,
                cluster,
                primary,
                primary_seed,
                platform,
                platform_seed,
                platform_url,
                clones,
                client,
                sessions,
                incident_id,
                activities,
            )
        finally:
            client.close()


def test_a_fix_lands_as_a_pull_request_in_the_second_repository_merged_and_synced(
    two: TwoRepositories, tmp_path: Path
) -> None:
    plan = oom_plan()
    change = run(
        two.activities.prepare,
        PrepareChangeInput(
            incident_id=two.incident_id,
            plan=plan,
            plan_hash=plan.plan_hash(),
            applications=[two.application()],
        ),
    )
    assert change.refused == []
    assert change.repository == two.platform_url and change.base_commit == two.platform_seed
    assert [f.path for f in change.files] == [VALUES]
    assert [a.repository for a in change.applications] == [two.platform_url]
    # Its own clone, beside the configured repository's work directory.
    clone = two.clones.clone(two.platform_url)
    assert clone is not None and clone.remote_url == str(two.platform)
    assert Path(clone.workdir).parent == tmp_path / "work.repositories"

    pr = run(
        two.activities.open,
        OpenPullRequestInput(
            incident_id=two.incident_id,
            change=change,
            plan=plan,
            plan_hash=plan.plan_hash(),
            applications=[two.application()],
            title="ledger OOMKilled",
        ),
    )
    assert pr.repository == two.platform_url and pr.status == "open"
    assert pr.url == f"local://{two.platform}#{pr.number}"
    assert "memory: 512Mi" in git(two.platform, "show", f"{pr.branch}:{VALUES}")

    again = run(
        two.activities.get,
        PullRequestInput(incident_id=two.incident_id, number=pr.number, repository=pr.repository),
    )
    assert again == pr
    merged = run(
        two.activities.merge,
        PullRequestInput(incident_id=two.incident_id, number=pr.number, repository=pr.repository),
    )
    assert merged.status == "merged" and merged.repository == two.platform_url
    assert merged.merge_commit == git(two.platform, "rev-parse", "main")

    # The configured repository is untouched: no branch, no commit.
    assert git(two.primary, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split() == ["main"]
    assert git(two.primary, "rev-parse", "main") == two.primary_seed

    request = ApplicationsInput(
        incident_id=two.incident_id, applications=change.applications, revision=merged.merge_commit or ""
    )
    run(two.activities.sync, request)
    for _ in range(20):
        check: ApplicationCheck = run(two.activities.check, request)
        (app,) = check.applications
        if app.synced and app.health_status == "Healthy" and not app.operation_in_progress:
            break
    else:
        pytest.fail(f"Argo CD never reported the merge synced and Healthy: {check}")
    live = two.cluster.peek("apps/v1", "Deployment", "payments", "ledger")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"

    # The revert of the fix goes to the same repository.
    revert = run(
        two.activities.prepare_revert,
        PrepareRevertInput(incident_id=two.incident_id, change=change, fix=merged),
    )
    assert revert.refused == [] and revert.repository == two.platform_url
    assert revert.base_commit == merged.merge_commit and [f.path for f in revert.files] == [VALUES]


def test_a_pull_request_of_an_unknown_repository_is_not_sent_to_another_host(two: TwoRepositories) -> None:
    from temporalio.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as refused:
        run(
            two.activities.get,
            PullRequestInput(
                incident_id=two.incident_id, number=1, repository="https://git.example/else.git"
            ),
        )
    assert refused.value.type == "NotConfigured" and "else.git" in str(refused.value)


def test_a_multi_source_fix_goes_to_the_repository_of_the_values_source_holding_the_file(
    two: TwoRepositories,
) -> None:
    # The Application's own manifests come from the configured repository; its values file from the
    # second one's `$values` source: the edit is made there, in its clone.
    app = two.application()
    manifests = {"repoURL": str(two.primary), "path": "extra", "targetRevision": "main"}
    mixed = app.model_copy(update={"sources": [*app.sources, manifests]})
    plan = oom_plan()
    change = run(
        two.activities.prepare,
        PrepareChangeInput(
            incident_id=two.incident_id, plan=plan, plan_hash=plan.plan_hash(), applications=[mixed]
        ),
    )
    assert change.refused == [] and change.repository == two.platform_url
    assert [f.path for f in change.files] == [VALUES] and change.base_commit == two.platform_seed
