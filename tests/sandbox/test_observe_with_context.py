"""build_observation with Argo CD, Prometheus and the GitOps repository, all on loopback fakes and
a real bare git remote, for the shared scenarios."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.observe import ObserveActivities, ObserveInput, build_observation
from cli.embedded import git_source_urls
from cli.eval import observe_scenario
from domain.gitops.repositories import default_repositories, repositories_from_yaml
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, incident_from_group
from domain.kube.observation import Observation
from domain.settings import Settings
from integrations.argocd import ArgoClient
from integrations.git import GitRepo
from integrations.gitops_clones import GitOpsClones
from integrations.kubernetes import KubeClient
from integrations.prometheus import PrometheusClient
from integrations.sealing import generate_key
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.prometheus_api import SandboxPrometheus
from sandbox.scenario import Scenario, load_named
from sandbox.server import SandboxServer
from store.migrate import upgrade
from workers.main import activities_for

TOKEN = "observe-test-token"


@dataclass
class Stack:
    scenario: Scenario
    kube: KubeClient
    argocd: ArgoClient
    prometheus: PrometheusClient
    gitops: GitRepo
    argocd_server: SandboxArgoCD
    prometheus_server: SandboxPrometheus
    settings: Settings

    @property
    def incident(self) -> Incident:
        return incident_from_group(f"wf-{self.scenario.name}", AlertGroup.model_validate(self.scenario.alert))

    def observe(self) -> Observation:
        return build_observation(
            self.kube,
            self.incident,
            argocd=self.argocd,
            prometheus=self.prometheus,
            gitops=self.gitops,
            now=1795460100.0,
        )


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    scenario = load_named(request.param)
    cluster = SandboxCluster(scenario)
    remote = tmp_path / "gitops.git"
    seed_bare_repo(remote, scenario.gitops)
    with (
        SandboxServer(cluster) as kube_server,
        SandboxArgoCD(scenario.argocd, token=TOKEN, cluster=cluster) as argocd_server,
        SandboxPrometheus(scenario.metrics) as prometheus_server,
    ):
        kube = KubeClient.from_settings(kube_server.url)
        argocd = ArgoClient(argocd_server.url, TOKEN, timeout=2.0)
        prometheus = PrometheusClient(prometheus_server.url, timeout=2.0)
        settings = Settings(
            home=str(tmp_path),
            argocd_url=argocd_server.url,
            argocd_token=TOKEN,
            prometheus_url=prometheus_server.url,
            gitops_repo_url=str(remote),
        )
        try:
            yield Stack(
                scenario,
                kube,
                argocd,
                prometheus,
                GitRepo(str(remote), tmp_path / "work"),
                argocd_server,
                prometheus_server,
                settings,
            )
        finally:
            kube.close()
            argocd.close()
            prometheus.close()


def _expected_file(scenario: Scenario) -> str:
    (action,) = scenario.expect["actions"]
    return str(action["file"])


@pytest.mark.parametrize(
    ("stack", "app", "sync", "health"),
    [
        ("oom-helm-values", "payments-ledger", "Synced", "Degraded"),
        ("crashloop-bad-release", "shop-checkout", "Synced", "Progressing"),
        ("image-pull-typo", "storefront-prod", "Synced", "Degraded"),
    ],
    indirect=["stack"],
)
def test_owned_workloads_get_their_application_and_defining_files(
    stack: Stack, app: str, sync: str, health: str
) -> None:
    observation = stack.observe()
    (application,) = observation.argocd
    assert (application.id, application.sync_status, application.health_status) == (
        f"argocd/argocd/{app}",
        sync,
        health,
    )
    assert application.sources and application.resources
    files = {f.path: f for f in observation.gitops_files}
    expected = files[_expected_file(stack.scenario)]
    assert expected.id == f"gitops/{expected.path}" and expected.application == app
    assert expected.content == stack.scenario.gitops[expected.path]
    assert expected.revision == stack.gitops.head("main")
    assert not [n for n in observation.notes if "Argo CD" in n or "GitOps" in n]
    assert len(observation.item_ids()) == sum(
        len(group)
        for group in (
            observation.workloads,
            observation.revisions,
            observation.pods,
            observation.events,
            observation.logs,
            observation.argocd,
            observation.metrics,
            observation.gitops_files,
        )
    ), "ids are unique"


@pytest.mark.parametrize("stack", ["saturation-direct-scale"], indirect=True)
def test_saturation_gets_the_scenario_series_and_no_application(stack: Stack) -> None:
    observation = stack.observe()
    assert observation.argocd == [] and observation.gitops_files == []
    assert any("no Argo CD Application manages it" in n for n in observation.notes)
    series = {m.query: m for m in observation.metrics}
    assert set(series) == set(stack.scenario.metrics)
    for query, samples in stack.scenario.metrics.items():
        assert series[query].samples == [(float(t), float(v)) for t, v in samples]
    by_id = {m.id: m for m in observation.metrics}
    assert by_id["metric/cpu_usage_ratio/search/query-api"].samples[-1] == (1795460100.0, 0.999)
    assert {m.name for m in observation.metrics} == {
        "request_rate",
        "error_rate",
        "latency_p99",
        "cpu_usage_ratio",
        "cpu_throttling",
    }
    assert any("no data for memory_usage_ratio" in n for n in observation.notes)
    (_, path, query) = stack.prometheus_server.requests[0]
    assert path == "/api/v1/query_range" and float(query["end"]) == 1795460100.0
    assert float(query["start"]) == 1795460100.0 - 30 * 60


@pytest.mark.parametrize("stack", ["crashloop-bad-release"], indirect=True)
def test_the_newest_revision_says_what_changed(stack: Stack) -> None:
    observation = stack.observe()
    revisions = {r.revision: r for r in observation.revisions}
    image = "registry.example/shop/checkout"
    assert revisions[12].changes == [f"container checkout image: {image}:1.13.2 → {image}:1.14.0"]
    assert revisions[12].previous_revision == 11 and revisions[11].changes == []


@pytest.mark.parametrize("stack", ["oom-helm-values"], indirect=True)
def test_failing_context_sources_become_notes(stack: Stack, tmp_path: Path) -> None:
    stack.argocd_server.fail_next(500, times=10)
    stack.prometheus_server.fail_next(503, times=10)
    broken_git = GitRepo(str(tmp_path / "missing.git"), tmp_path / "work-broken")
    observation = build_observation(
        stack.kube, stack.incident, argocd=stack.argocd, prometheus=stack.prometheus, gitops=broken_git
    )
    assert observation.workloads, "the cluster part stands"
    assert observation.argocd == [] and observation.metrics == [] and observation.gitops_files == []
    # The ledger carries Argo CD's tracking: with Argo CD failing, who manages it is uncertain.
    (ledger,) = observation.ownership
    assert (ledger.name, ledger.state) == ("ledger", "uncertain")
    assert ledger.reason.startswith(
        "tracking-id annotation names Application payments-ledger, which Argo CD could not read"
    )
    assert any("Argo CD owner uncertain" in n for n in observation.notes)
    assert any(n.startswith("Prometheus could not be read") for n in observation.notes)


@pytest.mark.parametrize("stack", ["oom-helm-values"], indirect=True)
def test_an_unreachable_gitops_remote_is_a_note(stack: Stack, tmp_path: Path) -> None:
    broken_git = GitRepo(str(tmp_path / "missing.git"), tmp_path / "work-broken")
    observation = build_observation(stack.kube, stack.incident, argocd=stack.argocd, gitops=broken_git)
    assert [a.name for a in observation.argocd] == ["payments-ledger"]
    assert any(n.startswith("the GitOps repository could not be read") for n in observation.notes)


@pytest.mark.parametrize("stack", ["oom-helm-values"], indirect=True)
def test_the_activity_the_worker_registers_reads_every_source(stack: Stack) -> None:
    # The worker's own wiring (workers.main.activities_for), not a test-only way to build it.
    settings = stack.settings.model_copy(update={"snapshot_keys": generate_key()})
    upgrade(settings.resolved_database_url)
    (observe,) = [fn for fn in activities_for(settings, stack.kube) if fn.__name__ == "observe_incident"]
    activities: ObserveActivities = observe.__self__
    try:
        result = ActivityEnvironment().run(activities.observe_incident, ObserveInput(incident=stack.incident))
    finally:
        activities.close()
    assert [a.name for a in result.argocd] == ["payments-ledger"]
    assert "values/ledger-values.yaml" in {f.path for f in result.gitops_files}
    assert Path(stack.settings.resolved_gitops_workdir, ".git").exists()


@pytest.mark.parametrize("stack", ["oom-helm-values"], indirect=True)
def test_without_context_sources_nothing_changes(stack: Stack) -> None:
    observation = build_observation(stack.kube, stack.incident)
    assert observation.argocd == [] and observation.metrics == [] and observation.gitops_files == []
    assert observation.notes == []


def test_an_application_whose_status_lacks_the_workload_owns_it_by_its_managed_resources() -> None:
    scenario = load_named("crashloop-bad-release")
    (app,) = scenario.argocd
    listed = [r for r in app["status"]["resources"] if r.get("name") != "checkout"]
    stale = {**app, "status": {**app["status"], "resources": listed}}
    variant = scenario.model_copy(update={"argocd": [stale]})
    _, observation = observe_scenario(variant)
    checkout = observation.ownership_of("Deployment", "shop", "checkout")
    assert checkout is not None
    assert (checkout.state, checkout.application, checkout.listed_in) == (
        "managed",
        "shop-checkout",
        "managed-resources",
    )
    (application,) = observation.argocd
    assert application.manages("Deployment", "shop", "checkout")


def test_a_tracking_label_naming_an_application_that_lists_the_workload_nowhere_is_uncertain() -> None:
    scenario = load_named("saturation-direct-scale")
    cluster = copy.deepcopy(scenario.cluster)
    for obj in cluster:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "query-api":
            obj["metadata"]["labels"]["app.kubernetes.io/instance"] = "search-indexer"
    _, observation = observe_scenario(scenario.model_copy(update={"cluster": cluster}))
    query_api = observation.ownership_of("Deployment", "search", "query-api")
    assert query_api is not None and (query_api.state, query_api.application) == (
        "uncertain",
        "search-indexer",
    )
    assert query_api.reason == (
        "instance label names Application search-indexer, which does not list it "
        "(status or managed-resources)"
    )
    assert all(
        a.name != "search-indexer" or not a.manages("Deployment", "search", "query-api")
        for a in observation.argocd
    )


@pytest.mark.parametrize("stack", ["oom-helm-values"], indirect=True)
def test_the_files_are_read_from_the_clone_of_the_application_s_own_repository(
    stack: Stack, tmp_path: Path
) -> None:
    # The configured repository holds something else; the Application deploys from a second one.
    apps = tmp_path / "apps.git"
    seed_bare_repo(apps, {"README.md": "the apps repository\n"})
    (url,) = git_source_urls(stack.scenario.argocd)
    platform = stack.gitops.remote_url  # the scenario's files
    mapping = repositories_from_yaml(
        f"- url: {url}\n  clone_url: {platform}\n", default_repositories(str(apps))
    )
    primary = GitRepo(str(apps), tmp_path / "apps-work")
    clones = GitOpsClones(
        mapping,
        primary,
        workdir=str(tmp_path / "apps-work"),
        clone=lambda entry, workdir: GitRepo(entry.remote, workdir),
    )
    observation = build_observation(
        stack.kube, stack.incident, argocd=stack.argocd, gitops=clones, now=1795460100.0
    )
    files = {f.path: f for f in observation.gitops_files}
    expected = files[_expected_file(stack.scenario)]
    assert expected.content == stack.scenario.gitops[expected.path]
    assert not [n for n in observation.notes if "GitOps" in n]
    # Read only from the Application's repository: the configured clone was never needed.
    assert not primary.workdir.exists()
