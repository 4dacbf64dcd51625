"""`plan_deploy_watch` against the sandbox Argo CD that follows a real bare repository: the watch
takes only the workloads the revision changed (from the manifests API at both revisions) — one of
two, one that mounts a changed ConfigMap, none for a Service — and falls back to every workload of
the Application, saying so, when that cannot be known; a temporary failure is left to Temporal."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deploy.watch import DeployWatchActivities
from domain.deploy.model import DeployEvent, WorkloadRef, deploy_watch_id
from domain.deploy.watch import DeployWatchPlan
from integrations.argocd import ArgoClient
from integrations.prometheus import PrometheusClient
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import Scenario, load_named
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository, figures_of
from store.migrate import upgrade
from tests.sandbox.test_argocd_sync import commit_files

TOKEN = "deploy-plan-token"
APP = "shop-checkout"
DEPLOYMENT = "manifests/shop/checkout/deployment.yaml"
WORKER = "manifests/shop/checkout/worker.yaml"
CONFIG = "manifests/shop/checkout/configmap.yaml"
SERVICE = "manifests/shop/checkout/service.yaml"
CHECKOUT = WorkloadRef(namespace="shop", kind="Deployment", name="checkout")
WORKER_REF = WorkloadRef(namespace="shop", kind="Deployment", name="checkout-worker")
WORKER_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout-worker, namespace: shop}
spec:
  selector: {matchLabels: {app: checkout-worker}}
  template:
    metadata: {labels: {app: checkout-worker}}
    spec:
      containers: [{name: worker, image: "registry.example/shop/worker:2.0.0"}]
"""
SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop}
spec: {ports: [{port: 80}]}
"""


@dataclass
class World:
    scenario: Scenario
    server: SandboxArgoCD
    activities: DeployWatchActivities
    sessions: sessionmaker[Session]
    repo: Path
    seed: str


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path_factory.mktemp('deploy-plan') / 'medic.db'}"
    upgrade(url)
    return session_factory(make_engine(url))


@pytest.fixture
def world(tmp_path: Path, sessions: sessionmaker[Session]) -> Iterator[World]:
    base = load_named("crashloop-bad-release")
    apps = copy.deepcopy(base.argocd)
    for app in apps:
        app["spec"]["syncPolicy"].pop("automated", None)
        app["status"]["resources"].append(
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": "shop",
                "name": "checkout-worker",
            }
        )
    scenario = base.model_copy(
        update={"argocd": apps, "gitops": {**base.gitops, WORKER: WORKER_YAML, SERVICE: SERVICE_YAML}}
    )
    repo = tmp_path / "gitops.git"
    seed = seed_bare_repo(repo, scenario.gitops)
    with (
        SandboxArgoCD(apps, token=TOKEN, cluster=SandboxCluster(scenario), repo=repo) as server,
        ArgoClient(server.url, TOKEN, timeout=5.0) as argocd,
        PrometheusClient("http://127.0.0.1:9") as prometheus,
    ):
        yield World(
            scenario, server, DeployWatchActivities(argocd, prometheus, None, sessions), sessions, repo, seed
        )


def edit(world: World, path: str, old: str, new: str) -> str:
    text = world.scenario.gitops[path]
    assert old in text, f"{path} no longer holds {old!r}"
    # a comment of its own, so two tests' commits (one store between them) never share a revision
    return commit_files(world.repo, {path: text.replace(old, new) + f"# {uuid.uuid4().hex}\n"})


def plan(world: World, revision: str, previous: str) -> DeployWatchPlan:
    event = DeployEvent(
        application=APP,
        app_namespace="argocd",
        project="shop",
        revision=revision,
        previous_revision=previous,
        source="notification",
    )
    result: DeployWatchPlan = ActivityEnvironment().run(world.activities.plan_deploy_watch, event)
    return result


def watch_figures(world: World, revision: str) -> dict[str, object]:
    with transaction(world.sessions) as session:
        row = DeploymentRepository(session).get(deploy_watch_id("argocd", APP, revision))
        assert row is not None and row.revision == revision
        figures = figures_of(row)["watch"]
    assert isinstance(figures, dict)
    return figures


def test_only_the_workload_the_revision_changed_is_watched(world: World) -> None:
    head = edit(world, WORKER, "worker:2.0.0", "worker:2.1.0")
    found = plan(world, head, world.seed)
    assert found.workloads == [WORKER_REF]
    assert found.note == "watching the 1 of 2 workload(s) the revision changed"
    figures = watch_figures(world, head)
    assert figures["selection"] == "changed"
    assert figures["changed"] == {WORKER_REF.label: ["its manifest changed"]}
    rendered = [q for _m, path, q in world.server.requests if path.endswith("/manifests")]
    assert [q["revision"] for q in rendered] == [world.seed, head]


def test_a_changed_config_map_takes_the_workload_that_mounts_it(world: World) -> None:
    head = edit(world, CONFIG, "timeout: 4s", "timeout: 2s")
    found = plan(world, head, world.seed)
    assert found.workloads == [CHECKOUT]
    figures = watch_figures(world, head)
    assert figures["changed"] == {
        CHECKOUT.label: ["it references ConfigMap shop/checkout-config, which changed"]
    }


def test_a_deploy_changing_only_a_service_changes_no_workload(world: World) -> None:
    head = edit(world, SERVICE, "port: 80", "port: 81")
    found = plan(world, head, world.seed)
    assert found.workloads == []
    assert found.note == "the deploy changed no workload (it changed Service shop/checkout)"


def test_without_a_previous_revision_every_workload_is_watched(world: World) -> None:
    found = plan(world, world.seed, "")
    assert found.workloads == [CHECKOUT, WORKER_REF]
    assert found.note == "watching every workload of the Application: the revision it ran before is unknown"
    assert watch_figures(world, world.seed)["selection"] == "all"
    assert not [path for _m, path, _q in world.server.requests if path.endswith("/manifests")]


def test_a_previous_revision_argo_cd_cannot_resolve_falls_back_to_every_workload(world: World) -> None:
    head = edit(world, WORKER, "worker:2.0.0", "worker:2.1.0")
    found = plan(world, head, "0" * 40)
    assert found.workloads == [CHECKOUT, WORKER_REF]
    assert found.note.startswith(
        "watching every workload of the Application: Argo CD did not render it at 000000000000"
    )
    assert "unable to resolve" in found.note


def test_a_temporary_failure_of_the_manifests_api_is_retried(world: World) -> None:
    head = edit(world, WORKER, "worker:2.0.0", "worker:2.1.0")
    original = world.server.respond

    def unavailable_manifests(method, path, query, headers, body):  # type: ignore[no-untyped-def]
        if path.endswith("/manifests"):  # the repo server is down; the Application still reads
            return 503, world.server.error_body(503, "repo server unavailable")
        return original(method, path, query, headers, body)

    world.server.respond = unavailable_manifests  # type: ignore[method-assign]
    with pytest.raises(ApplicationError) as failed:
        plan(world, head, world.seed)
    assert failed.value.type == "ArgoUnavailable" and not failed.value.non_retryable
    with transaction(world.sessions) as session:
        assert DeploymentRepository(session).get(deploy_watch_id("argocd", APP, head)) is None


def test_a_deploy_to_another_cluster_watches_nothing_here(
    world: World, sessions: sessionmaker[Session]
) -> None:
    # README "Clusters": the Application deploys to in-cluster; this medic runs on cluster edge
    with (
        ArgoClient(
            world.server.url, TOKEN, timeout=5.0, cluster_name="edge", cluster_server="https://edge:6443"
        ) as argocd,
        PrometheusClient("http://127.0.0.1:9") as prometheus,
    ):
        activities = DeployWatchActivities(argocd, prometheus, None, sessions)
        event = DeployEvent(
            application=APP,
            app_namespace="argocd",
            project="shop",
            revision=edit(world, WORKER, "worker:2.0.0", "worker:2.1.0"),
            previous_revision=world.seed,
            source="notification",
        )
        found: DeployWatchPlan = ActivityEnvironment().run(activities.plan_deploy_watch, event)
    assert found.workloads == []
    assert found.note == (
        f"Application {APP} is not watched here: it deploys to cluster in-cluster, not to edge"
    )
