"""ArgoClient's GitOps calls (refresh, sync, resource tree, managed resources) against the sandbox
Argo CD that follows a real bare repository, over loopback HTTP; and the pure state helpers."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integrations.argocd import (
    ApplicationState,
    ArgoClient,
    ArgoForbidden,
    ArgoInvalid,
    ArgoNotFound,
    ArgoOperationInProgress,
    ArgoUnavailable,
    SyncResource,
    application_state,
    same_commit,
    synced_to,
)
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import Scenario, load_named
from tests.sandbox.test_argocd_sync import commit_files, edited

TOKEN = "argo-sync-token"
APPS = "apps/v1"


@dataclass
class Argo:
    scenario: Scenario
    server: SandboxArgoCD
    client: ArgoClient
    cluster: SandboxCluster
    repo: Path
    seed: str

    @property
    def name(self) -> str:
        return str(self.scenario.argocd[0]["metadata"]["name"])

    def container(self, namespace: str, name: str) -> dict[str, Any]:
        live = self.cluster.peek(APPS, "Deployment", namespace, name)
        assert live is not None
        return dict(live["spec"]["template"]["spec"]["containers"][0])

    def until(self, done: Callable[[dict[str, Any]], bool], reads: int = 10) -> dict[str, Any]:
        """The Application once `done` holds for it: each read is one step of the sandbox."""
        for _ in range(reads):
            app = self.client.get_application(self.name)
            if done(app):
                return app
        raise AssertionError(f"not reached in {reads} reads: {json.dumps(app['status'])[:600]}")


@pytest.fixture
def argo_factory(tmp_path: Path) -> Iterator[Callable[..., Argo]]:
    opened: list[tuple[SandboxArgoCD, ArgoClient]] = []

    def make(name: str, *, manual: bool = False, **options: Any) -> Argo:
        scenario = load_named(name)
        apps = copy.deepcopy(scenario.argocd)
        if manual:
            for app in apps:
                app["spec"]["syncPolicy"].pop("automated", None)
        repo = tmp_path / f"{name}.git"
        seed = seed_bare_repo(repo, scenario.gitops)
        cluster = SandboxCluster(scenario, rollout_reads=options.pop("rollout_reads", 0))
        server = SandboxArgoCD(apps, token=TOKEN, cluster=cluster, repo=repo, **options)
        server.start()
        client = ArgoClient(server.url, TOKEN, timeout=5.0)
        opened.append((server, client))
        return Argo(scenario, server, client, cluster, repo, seed)

    yield make
    for server, client in opened:
        client.close()
        server.stop()


def test_refresh_shows_a_merged_commit_out_of_sync(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("crashloop-bad-release", manual=True)
    before = application_state(argo.client.get_application(argo.name))
    assert (before.sync_status, before.revision) == ("Synced", argo.seed)
    assert synced_to(before, argo.seed) and not before.automated

    commit = commit_files(
        argo.repo, edited(argo.scenario, "manifests/shop/checkout/deployment.yaml", "1.14.0", "1.13.2")
    )
    assert application_state(argo.client.get_application(argo.name)).revision == argo.seed, "not refreshed"
    state = application_state(argo.client.refresh_application(argo.name))
    assert (state.sync_status, state.revision) == ("OutOfSync", commit)
    assert not synced_to(state, commit) and not synced_to(state, argo.seed)
    assert ("GET", "/api/v1/applications/shop-checkout", {"refresh": "normal"}) in argo.server.requests
    argo.client.refresh_application(argo.name, hard=True, app_namespace="argocd", project="shop")
    assert argo.server.requests[-1][2] == {"refresh": "hard", "appNamespace": "argocd", "project": "shop"}


def test_sync_takes_the_application_from_out_of_sync_to_synced_at_the_commit(
    argo_factory: Callable[..., Argo],
) -> None:
    argo = argo_factory("image-pull-typo", manual=True, rollout_reads=1)
    commit = commit_files(
        argo.repo, edited(argo.scenario, "overlays/prod/kustomization.yaml", "4.2.O", "4.1.9")
    )
    argo.client.refresh_application(argo.name)

    requested = argo.client.sync_application(
        argo.name, revision=commit, sync_options=["ApplyOutOfSyncOnly=true"]
    )
    state = application_state(requested)
    assert state.operation_requested and state.operation_in_progress and not synced_to(state, commit)
    sync = requested["operation"]["sync"]
    assert sync == {
        "revision": commit,
        "prune": False,
        "dryRun": False,
        "syncStrategy": {"hook": {"force": False}},
        "syncOptions": ["ApplyOutOfSyncOnly=true"],
    }, "the request body as Argo CD received it"

    app = argo.until(lambda a: synced_to(a, commit))
    state = application_state(app)
    assert (state.operation_phase, state.operation_revision) == ("Succeeded", commit)
    assert not state.operation_in_progress and not state.operation_failed
    assert argo.container("web", "storefront")["image"] == "registry.example/web/storefront:4.1.9"
    assert state.health_status == "Progressing", "the rollout is still going on"
    assert (
        application_state(
            argo.until(lambda a: a["status"]["health"]["status"] != "Progressing")
        ).health_status
        == "Healthy"
    )


def test_a_multi_source_sync_pins_the_values_source(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("oom-helm-values", manual=True)
    commit = commit_files(
        argo.repo, edited(argo.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 512Mi")
    )
    requested = argo.client.sync_application(argo.name, revisions=[commit], source_positions=[2])
    assert requested["operation"]["sync"]["revisions"] == ["3.2.0", commit]
    app = argo.until(lambda a: synced_to(a, commit))
    state = application_state(app)
    assert state.revisions == ("3.2.0", commit) and state.operation_revisions == ("3.2.0", commit)
    assert argo.container("payments", "ledger")["resources"]["limits"]["memory"] == "512Mi"
    with pytest.raises(ValueError):
        argo.client.sync_application(argo.name, revisions=[commit])


def test_an_automated_application_syncs_after_a_refresh(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("oom-helm-values")
    argo.client.get_application(argo.name)
    commit = commit_files(
        argo.repo, edited(argo.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 640Mi")
    )
    refreshed = application_state(argo.client.refresh_application(argo.name))
    assert refreshed.automated and refreshed.self_heal and refreshed.operation_requested
    argo.until(lambda a: synced_to(a, commit))
    assert argo.container("payments", "ledger")["resources"]["limits"]["memory"] == "640Mi"


def test_the_poller_syncs_an_automated_application_unasked(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("crashloop-bad-release", poll_interval=0.05)
    commit_files(
        argo.repo, edited(argo.scenario, "manifests/shop/checkout/deployment.yaml", "1.14.0", "1.13.2")
    )
    deadline = time.monotonic() + 10
    while argo.container("shop", "checkout")["image"].endswith("1.14.0"):
        assert time.monotonic() < deadline, "the poller never synced the new commit"
        time.sleep(0.02)
    assert argo.container("shop", "checkout")["image"] == "registry.example/shop/checkout:1.13.2"


def test_managed_resources_and_resource_tree_over_http(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("oom-helm-values", manual=True)
    commit_files(
        argo.repo, edited(argo.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 512Mi")
    )
    argo.client.refresh_application(argo.name)
    (item,) = argo.client.managed_resources(argo.name, project="payments")
    assert {"kind", "namespace", "name", "group", "targetState", "liveState", "normalizedLiveState",
            "predictedLiveState", "diff", "modified"} <= item.keys()  # fmt: skip
    assert item["modified"] is True
    target = json.loads(item["targetState"])
    assert target["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"

    tree = argo.client.resource_tree(argo.name)
    kinds = sorted({n["kind"] for n in tree["nodes"]})
    assert kinds == ["Deployment", "Pod", "ReplicaSet"]
    pods = [n for n in tree["nodes"] if n["kind"] == "Pod"]
    assert {p["health"]["status"] for p in pods} == {"Healthy", "Degraded"}
    assert all(p["parentRefs"][0]["kind"] == "ReplicaSet" for p in pods)


def test_a_sync_to_a_missing_commit_ends_in_a_failed_operation(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("crashloop-bad-release", manual=True)
    missing = "f" * 40
    argo.client.sync_application(argo.name, revision=missing)
    state = application_state(
        argo.until(lambda a: bool((a["status"].get("operationState") or {}).get("finishedAt")))
    )
    assert state.operation_failed and state.operation_phase == "Error" and missing in state.operation_message
    assert synced_to(state, argo.seed), "the live state is untouched"


def test_refusals_of_the_api_server_are_classified(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("crashloop-bad-release", sync_reads=3)
    with pytest.raises(ArgoInvalid) as caught:
        argo.client.sync_application(argo.name, revision=argo.seed)
    assert caught.value.status == 400 and "auto-sync currently set to main" in caught.value.message
    with pytest.raises(ArgoInvalid, match="Unable to resolve 'nope'"):  # a dry run may pin any revision
        argo.client.sync_application(argo.name, revision="nope", dry_run=True)
    argo.client.sync_application(argo.name)
    with pytest.raises(ArgoOperationInProgress) as busy:
        argo.client.sync_application(argo.name)
    assert isinstance(busy.value, ArgoUnavailable), "retryable: the running operation ends"
    with pytest.raises(ArgoNotFound):
        argo.client.sync_application("nope")
    with pytest.raises(ArgoNotFound):
        argo.client.resource_tree("nope")
    with pytest.raises(ArgoForbidden):
        argo.client.get_application(argo.name, project="elsewhere")


def test_transport_failures_and_tokens_on_sync(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("crashloop-bad-release", manual=True)
    argo.server.fail_next(503)
    with pytest.raises(ArgoUnavailable) as caught:
        argo.client.sync_application(argo.name)
    assert caught.value.status == 503
    argo.server.fail_next(500)
    with pytest.raises(ArgoUnavailable):
        argo.client.refresh_application(argo.name)
    with ArgoClient(argo.server.url, "wrong", timeout=2.0) as wrong, pytest.raises(ArgoForbidden) as denied:
        wrong.sync_application(argo.name)
    assert denied.value.status == 403
    with ArgoClient(argo.server.url, "", timeout=2.0) as anonymous, pytest.raises(ArgoForbidden) as missing:
        anonymous.refresh_application(argo.name)
    assert missing.value.status == 401
    assert "operation" not in argo.client.get_application(argo.name), "no refused request started a sync"


def test_a_frozen_sandbox_refuses_to_sync_but_serves_the_tree() -> None:
    scenario = load_named("crashloop-bad-release")
    with (
        SandboxArgoCD(scenario.argocd, token=TOKEN, cluster=SandboxCluster(scenario)) as server,
        ArgoClient(server.url, TOKEN, timeout=2.0) as client,
    ):
        with pytest.raises(ArgoInvalid, match="follows no GitOps repository"):
            client.sync_application("shop-checkout")
        kinds = {n["kind"] for n in client.resource_tree("shop-checkout")["nodes"]}
        assert kinds == {"Deployment", "ReplicaSet", "Pod", "ConfigMap"}
        # a refresh of a frozen scenario answers the frozen Application
        assert client.refresh_application("shop-checkout")["status"] == scenario.argocd[0]["status"]


# --- pure helpers --------------------------------------------------------------------------------


def test_application_state_of_the_scenarios() -> None:
    (helm,) = load_named("oom-helm-values").argocd
    state = application_state(helm)
    assert (state.name, state.namespace, state.project) == ("payments-ledger", "argocd", "payments")
    assert state.target_revisions == ("3.2.0", "main") and state.automated and state.self_heal
    assert state.compared_revisions == ("9b2d7c1e4f6a8b0c2d4e6f8a0b1c3d5e7f9a1b2c",)
    (kustomize,) = load_named("image-pull-typo").argocd
    typed = application_state(kustomize)
    assert (typed.operation_phase, typed.operation_revision) == (
        "Succeeded",
        "2e8c4bac83d957e4e7d712f32afe10e57a71a9a1",
    )
    assert typed.health_message == 'Deployment "storefront" exceeded its progress deadline'


def test_synced_to_needs_synced_at_that_commit() -> None:
    sha = "2e8c4bac83d957e4e7d712f32afe10e57a71a9a1"
    app: dict[str, Any] = {
        "metadata": {"name": "a"},
        "status": {"sync": {"status": "Synced", "revision": sha}},
    }
    assert synced_to(app, sha) and synced_to(app, sha[:7]) and synced_to(app, sha.upper())
    assert not synced_to(app, sha[:6]), "too short to name a commit"
    assert not synced_to(app, "0" * 40)
    app["status"]["sync"]["status"] = "OutOfSync"
    assert not synced_to(app, sha)
    multi = {"status": {"sync": {"status": "Synced", "revisions": ["3.2.0", sha]}}}
    assert synced_to(multi, sha) and not synced_to(multi, "3.2.0"[:1])
    assert synced_to(ApplicationState(name="a", sync_status="Synced", revision=sha), sha)


def test_disabled_automation_is_not_automated() -> None:
    app = {"spec": {"syncPolicy": {"automated": {"enabled": False, "selfHeal": True}}}}
    state = application_state(app)
    assert not state.automated and not state.self_heal
    assert application_state({"spec": {"syncPolicy": {"automated": {}}}}).automated


def test_same_commit() -> None:
    assert same_commit("abcdef1", "ABCDEF1234") and not same_commit("", "abc")
    assert not same_commit("main", "main0000")


def test_sync_resources_go_on_the_wire(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("crashloop-bad-release", manual=True)
    only = SyncResource(group="apps", kind="Deployment", name="checkout", namespace="shop")
    requested = argo.client.sync_application(argo.name, resources=[only], dry_run=True, strategy="apply")
    sync = requested["operation"]["sync"]
    assert sync["resources"] == [
        {"group": "apps", "kind": "Deployment", "name": "checkout", "namespace": "shop"}
    ]
    assert sync["dryRun"] is True and sync["syncStrategy"] == {"apply": {"force": False}}


def test_concurrent_readers_while_a_sync_runs(argo_factory: Callable[..., Argo]) -> None:
    argo = argo_factory("oom-helm-values", manual=True, poll_interval=0.01)
    commit = commit_files(
        argo.repo, edited(argo.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 512Mi")
    )
    errors: list[BaseException] = []

    def read(kube: bool) -> None:
        try:
            with ArgoClient(argo.server.url, TOKEN, timeout=5.0) as client:
                for _ in range(15):
                    if kube:
                        argo.cluster.get(APPS, "Deployment", "payments", "ledger")
                        argo.cluster.list_objects("v1", "Pod", "payments")
                    else:
                        client.get_application(argo.name)
                        client.managed_resources(argo.name)
        except BaseException as exc:  # collected: a thread's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(i % 2 == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    argo.client.sync_application(argo.name, revisions=[commit], source_positions=[2])
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    argo.until(lambda a: synced_to(a, commit))
    assert argo.container("payments", "ledger")["resources"]["limits"]["memory"] == "512Mi"
