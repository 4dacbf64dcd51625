"""The drift scan's activities on real parts: the sandbox Argo CD following a real bare GitOps
repository and reporting the sandbox cluster's live objects, over loopback HTTP with the real
client; the raw-manifest comparison through a real git clone and the sandbox Kubernetes API."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.drift.scan import DriftActivities
from domain.drift.model import (
    AppDrift,
    AppRef,
    DriftConfig,
    DriftPageInput,
    DriftPageResult,
    DriftScope,
    FieldDrift,
    IgnoreDifference,
)
from integrations.argocd import ArgoClient
from integrations.git import GitRepo
from integrations.kubernetes import KubeClient
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import Scenario
from sandbox.server import SandboxServer
from tests.sandbox.test_argocd_sync import commit_files

TOKEN = "drift-test-token"
APPS = "apps/v1"
TRACKING = "argocd.argoproj.io/tracking-id"

# (application, project, namespace, deployment, replicas)
ESTATE = [
    ("shop-web", "shop", "shop", "web", 3),
    ("shop-cart", "shop", "shop", "cart", 2),
    ("pay-ledger", "payments", "payments", "ledger", 2),
]


def deployment_manifest(namespace: str, name: str, replicas: int) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: registry.example/{namespace}/{name}:1.0.0
          ports: [{{containerPort: 8080, name: http}}]
          resources:
            requests: {{cpu: "0.25", memory: 256Mi}}
            limits: {{memory: 0.5Gi}}
"""


def live_deployment(app: str, namespace: str, name: str, replicas: int) -> dict[str, Any]:
    """The object as the cluster holds it after Argo CD applied it: defaults, server metadata,
    canonical quantities, the tracking-id annotation and a status."""
    return {
        "apiVersion": APPS,
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": 4,
            "creationTimestamp": "2026-11-20T10:00:00Z",
            "labels": {"app": name},
            "annotations": {
                "deployment.kubernetes.io/revision": "4",
                TRACKING: f"{app}:apps/Deployment:{namespace}/{name}",
            },
        },
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": f"registry.example/{namespace}/{name}:1.0.0",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "terminationMessagePath": "/dev/termination-log",
                        }
                    ],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst",
                },
            },
        },
        "status": {
            "observedGeneration": 4,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
    }


def application(app: str, project: str, namespace: str, name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": app, "namespace": "argocd"},
        "spec": {
            "project": project,
            "source": {
                "repoURL": "https://git.example/platform/gitops.git",
                "targetRevision": "main",
                "path": f"manifests/{namespace}/{name}",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            # manual sync: nothing puts the live state back behind the test's back
            "syncPolicy": {"syncOptions": ["CreateNamespace=false"]},
        },
        "status": {
            "sync": {"status": "Synced"},
            "health": {"status": "Healthy"},
            "resources": [
                {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": namespace, "name": name}
            ],
        },
    }


RAW_CONFIG = """apiVersion: v1
kind: ConfigMap
metadata: {name: nightly, namespace: ops}
data:
  schedule: "0 3 * * *"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unchanged, namespace: ops}
data: {mode: quiet}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: never-applied, namespace: ops}
data: {a: b}
"""
RAW_SECRET = """apiVersion: v1
kind: Secret
metadata: {name: token, namespace: ops}
stringData: {token: do-not-read}
"""


def scenario() -> Scenario:
    gitops = {
        f"manifests/{namespace}/{name}/deployment.yaml": deployment_manifest(namespace, name, replicas)
        for _, _, namespace, name, replicas in ESTATE
    }
    gitops["manifests/ops/config.yaml"] = RAW_CONFIG
    gitops["manifests/ops/secret.yml"] = RAW_SECRET
    gitops["manifests/ops/README.md"] = "not a manifest"
    gitops["manifests/ops/broken.yaml"] = "kind: [\n"
    gitops["docs/other.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: elsewhere, namespace: ops}\n"
    )
    cluster = [
        live_deployment(app, namespace, name, replicas) for app, _, namespace, name, replicas in ESTATE
    ]
    cluster += [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "nightly", "namespace": "ops", "uid": "u-1"},
            "data": {"schedule": "0 4 * * *"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "unchanged", "namespace": "ops"},
            "data": {"mode": "quiet"},
        },
    ]
    return Scenario(
        name="drift-estate",
        alert={},
        cluster=cluster,
        argocd=[application(app, project, namespace, name) for app, project, namespace, name, _ in ESTATE],
        gitops=gitops,
    )


@dataclass
class Estate:
    cluster: SandboxCluster
    remote: Path
    argocd: SandboxArgoCD
    client: ArgoClient
    tmp: Path
    heartbeats: list[Any] = field(default_factory=list)

    def activities(self, config: DriftConfig | None = None, **options: Any) -> DriftActivities:
        return DriftActivities(self.client, None, None, config or DriftConfig(), **options)

    def run(self, fn: Any, arg: Any) -> Any:
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: self.heartbeats.append(details[0] if details else None)
        return env.run(fn, arg)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """What `kubectl scale` does: a patch of spec.replicas by another field manager."""
        self.cluster.patch(
            APPS, "Deployment", namespace, name, {"spec": {"replicas": replicas}}, field_manager="kubectl"
        )

    def page(self, *names: str) -> DriftPageInput:
        refs = {app: AppRef(name=app, project=project) for app, project, *_ in ESTATE}
        return DriftPageInput(
            scan_id="drift-scan-test", applications=[refs.get(n, AppRef(name=n)) for n in names]
        )


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Estate]:
    world = scenario()
    cluster = SandboxCluster(world)
    remote = tmp_path / "gitops.git"
    seed_bare_repo(remote, world.gitops)
    with SandboxArgoCD(world.argocd, token=TOKEN, cluster=cluster, repo=remote) as argocd:
        client = ArgoClient(argocd.url, TOKEN, timeout=5.0)
        try:
            yield Estate(cluster, remote, argocd, client, tmp_path)
        finally:
            client.close()


# --- listing --------------------------------------------------------------------------------------


def test_all_applications_are_listed_sorted(estate: Estate) -> None:
    refs = estate.run(estate.activities().list_drift_applications, DriftScope())
    assert refs == [
        AppRef(name="pay-ledger", namespace="argocd", project="payments"),
        AppRef(name="shop-cart", namespace="argocd", project="shop"),
        AppRef(name="shop-web", namespace="argocd", project="shop"),
    ]


def test_a_project_scope_asks_argo_cd_for_that_project(estate: Estate) -> None:
    refs = estate.run(estate.activities().list_drift_applications, DriftScope.parse("project:shop"))
    assert [r.name for r in refs] == ["shop-cart", "shop-web"]
    assert ("GET", "/api/v1/applications", {"projects": "shop"}) in estate.argocd.requests


def test_a_namespace_scope_keeps_the_applications_deploying_there(estate: Estate) -> None:
    refs = estate.run(estate.activities().list_drift_applications, DriftScope.parse("namespace:payments"))
    assert [r.name for r in refs] == ["pay-ledger"]
    assert not estate.run(estate.activities().list_drift_applications, DriftScope.parse("namespace:nowhere"))


def test_listing_without_argo_cd_is_a_final_error() -> None:
    activities = DriftActivities(None, None, None, DriftConfig())
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(activities.list_drift_applications, DriftScope())
    assert caught.value.type == "NotConfigured" and caught.value.non_retryable


# --- scanning Applications -------------------------------------------------------------------------


def test_an_untouched_estate_has_no_drift(estate: Estate) -> None:
    result = estate.run(
        estate.activities().scan_drift_page, estate.page("pay-ledger", "shop-cart", "shop-web")
    )
    assert result == DriftPageResult(apps_scanned=3, resources_scanned=3)
    assert estate.heartbeats == [0, 1, 2]


def test_a_scaled_deployment_is_exactly_replicas_drift(estate: Estate) -> None:
    estate.scale("shop", "web", 7)
    result = estate.run(estate.activities().scan_drift_page, estate.page("shop-cart", "shop-web"))
    assert (result.apps_scanned, result.resources_scanned, result.errors) == (2, 2, [])
    (drift,) = result.drifted
    assert (drift.application, drift.app_namespace, drift.project, drift.destination_namespace) == (
        "shop-web",
        "argocd",
        "shop",
        "shop",
    )
    assert drift.sync_status == "OutOfSync"
    assert len(drift.revision) == 40
    (resource,) = drift.resources
    assert (resource.group, resource.kind, resource.namespace, resource.name) == (
        "apps",
        "Deployment",
        "shop",
        "web",
    )
    assert resource.fields == [FieldDrift(path="/spec/replicas", desired=3, live=7)]
    assert (drift.disposition, drift.reason) == ("report", "no drift policy configured")
    assert estate.heartbeats == [0, 1]


def test_the_drift_policy_decides_the_disposition(estate: Estate) -> None:
    estate.scale("payments", "ledger", 1)
    seen: list[AppDrift] = []

    def policy(drift: AppDrift) -> tuple[str, str]:
        seen.append(drift)
        return "sync", "replicas drifted on an automated Application"

    activities = estate.activities(disposition=policy)
    result = estate.run(activities.scan_drift_page, estate.page("pay-ledger", "shop-web"))
    assert [d.application for d in seen] == ["pay-ledger"]  # only drifted Applications are judged
    (drift,) = result.drifted
    assert (drift.disposition, drift.reason) == ("sync", "replicas drifted on an automated Application")


def test_a_policy_answer_that_is_no_disposition_is_a_final_error(estate: Estate) -> None:
    estate.scale("payments", "ledger", 1)
    activities = estate.activities(disposition=lambda drift: ("delete", "why not"))
    with pytest.raises(ApplicationError) as caught:
        estate.run(activities.scan_drift_page, estate.page("pay-ledger"))
    assert caught.value.type == "PolicyError" and caught.value.non_retryable


def test_ignore_differences_leave_the_scaled_replicas_out(estate: Estate) -> None:
    estate.scale("shop", "web", 7)
    config = DriftConfig(
        ignore_differences=[
            IgnoreDifference(group="apps", kind="Deployment", name="web", json_pointers=["/spec/replicas"])
        ]
    )
    result = estate.run(estate.activities(config).scan_drift_page, estate.page("shop-web"))
    assert result == DriftPageResult(apps_scanned=1, resources_scanned=1)


def test_a_changed_image_and_a_commit_in_git_are_drift_too(estate: Estate) -> None:
    estate.cluster.patch(
        APPS,
        "Deployment",
        "shop",
        "cart",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "cart", "image": "registry.example/shop/cart:hotfix"}]}
                }
            }
        },
        field_manager="kubectl",
    )
    result = estate.run(estate.activities().scan_drift_page, estate.page("shop-cart"))
    (drift,) = result.drifted
    assert drift.resources[0].fields == [
        FieldDrift(
            path="/spec/template/spec/containers/0/image",
            desired="registry.example/shop/cart:1.0.0",
            live="registry.example/shop/cart:hotfix",
        )
    ]
    # Git moves on: once Argo CD compares with the new commit, the desired state is the new one.
    commit = commit_files(
        estate.remote, {"manifests/shop/web/deployment.yaml": deployment_manifest("shop", "web", 4)}
    )
    estate.client.refresh_application("shop-web")
    (drift,) = estate.run(estate.activities().scan_drift_page, estate.page("shop-web")).drifted
    assert drift.revision == commit
    assert drift.resources[0].fields == [FieldDrift(path="/spec/replicas", desired=4, live=3)]


def test_an_application_that_vanished_is_skipped_and_noted(estate: Estate) -> None:
    estate.scale("shop", "web", 7)
    result = estate.run(estate.activities().scan_drift_page, estate.page("gone", "shop-web"))
    assert result.apps_scanned == 1
    assert [d.application for d in result.drifted] == ["shop-web"]
    assert result.errors == ["argocd/gone: the Application no longer exists; skipped"]
    assert estate.heartbeats == [0, 1]


def test_an_unavailable_argo_cd_is_retried_and_a_refusal_is_final(estate: Estate) -> None:
    estate.argocd.fail_next(503)
    with pytest.raises(ApplicationError) as caught:
        estate.run(estate.activities().scan_drift_page, estate.page("shop-web"))
    assert caught.value.type == "ArgoUnavailable" and not caught.value.non_retryable
    wrong = ArgoClient(estate.argocd.url, "wrong-token", timeout=5.0)
    try:
        activities = DriftActivities(wrong, None, None, DriftConfig())
        with pytest.raises(ApplicationError) as refused:
            estate.run(activities.scan_drift_page, estate.page("shop-web"))
        assert refused.value.type == "ArgoForbidden" and refused.value.non_retryable
        with pytest.raises(ApplicationError) as listing:
            estate.run(activities.list_drift_applications, DriftScope())
        assert listing.value.type == "ArgoForbidden"
    finally:
        wrong.close()


def test_the_page_result_holds_only_what_drifted(estate: Estate) -> None:
    estate.scale("shop", "cart", 5)
    result = estate.run(
        estate.activities().scan_drift_page, estate.page("pay-ledger", "shop-cart", "shop-web")
    )
    assert [d.application for d in result.drifted] == ["shop-cart"]
    # small enough for a workflow history: no live objects, no manifests
    assert len(json.dumps(result.model_dump(mode="json"))) < 1500


# --- the raw manifests -----------------------------------------------------------------------------


@pytest.fixture
def kube(estate: Estate) -> Iterator[KubeClient]:
    with SandboxServer(estate.cluster) as server:
        client = KubeClient.from_settings(server.url)
        try:
            yield client
        finally:
            client.close()


def raw_activities(estate: Estate, kube: KubeClient | None, **config: Any) -> DriftActivities:
    repo = GitRepo(str(estate.remote), estate.tmp / "work")
    return DriftActivities(estate.client, kube, repo, DriftConfig(raw_manifests=True, **config))


def test_unmanaged_manifests_are_compared_with_the_live_objects(estate: Estate, kube: KubeClient) -> None:
    estate.scale("shop", "web", 7)  # an Application's drift: not this activity's
    result = estate.run(raw_activities(estate, kube).scan_unmanaged_manifests, "drift-scan-test")
    (drift,) = result.drifted
    assert (drift.application, drift.key, drift.disposition) == ("", "unmanaged", "report")
    assert drift.reason == "no Argo CD Application manages these resources"
    assert len(drift.revision) == 40
    assert [(r.kind, r.namespace, r.name, r.live_missing) for r in drift.resources] == [
        ("ConfigMap", "ops", "never-applied", True),
        ("ConfigMap", "ops", "nightly", False),
    ]
    assert drift.resources[1].fields == [
        FieldDrift(path="/data/schedule", desired="0 3 * * *", live="0 4 * * *")
    ]
    # three ConfigMaps compared; the Secret, the tracked Deployments and docs/ are not
    assert (result.resources_scanned, drift.resources_scanned) == (3, 3)
    assert len(result.errors) == 1 and result.errors[0].startswith(
        "manifests/ops/broken.yaml: not valid YAML"
    )
    assert "do-not-read" not in json.dumps(result.model_dump(mode="json"))
    files = [h for h in estate.heartbeats if isinstance(h, str) and h.startswith("manifests/")]
    assert (
        files == sorted(files)
        and "manifests/ops/config.yaml" in files
        and "manifests/ops/README.md" not in files
    )


def test_unmanaged_manifests_honour_the_ignore_rules_and_another_directory(
    estate: Estate, kube: KubeClient
) -> None:
    ignoring = raw_activities(
        estate,
        kube,
        ignore_differences=[IgnoreDifference(kind="ConfigMap", name="nightly", json_pointers=["/data"])],
    )
    result = estate.run(ignoring.scan_unmanaged_manifests, "drift-scan-test")
    assert [r.name for r in result.drifted[0].resources] == ["never-applied"]
    docs = estate.run(raw_activities(estate, kube, manifests_dir="docs").scan_unmanaged_manifests, "s")
    assert [r.name for r in docs.drifted[0].resources] == ["elsewhere"]
    assert docs.resources_scanned == 1 and not docs.errors


def test_unmanaged_manifests_off_or_without_clients_scan_nothing(estate: Estate, kube: KubeClient) -> None:
    off = DriftActivities(estate.client, kube, GitRepo(str(estate.remote), estate.tmp / "w"), DriftConfig())
    assert estate.run(off.scan_unmanaged_manifests, "s") == DriftPageResult()
    no_kube = estate.run(raw_activities(estate, None).scan_unmanaged_manifests, "s")
    assert not no_kube.drifted and no_kube.errors == [
        "raw manifests: no Kubernetes API is configured; not compared"
    ]
    no_repo = DriftActivities(estate.client, kube, None, DriftConfig(raw_manifests=True))
    assert estate.run(no_repo.scan_unmanaged_manifests, "s").errors[0].startswith("raw manifests: no GitOps")


def test_an_unreachable_git_remote_is_retried(estate: Estate, kube: KubeClient) -> None:
    repo = GitRepo(str(estate.tmp / "missing.git"), estate.tmp / "work-missing")
    activities = DriftActivities(estate.client, kube, repo, DriftConfig(raw_manifests=True))
    with pytest.raises(ApplicationError) as caught:
        estate.run(activities.scan_unmanaged_manifests, "s")
    assert caught.value.type == "GitUnavailable" and not caught.value.non_retryable


def test_every_live_object_that_argo_cd_tracks_is_left_to_its_application(
    estate: Estate, kube: KubeClient
) -> None:
    # The manifest carries no tracking annotation, but the live object does: Argo CD applied it.
    nightly = estate.cluster.peek("v1", "ConfigMap", "ops", "nightly")
    assert nightly is not None
    labelled = copy.deepcopy(nightly)
    labelled["metadata"]["labels"] = {"app.kubernetes.io/instance": "ops"}
    estate.cluster.replace("v1", "ConfigMap", "ops", "nightly", labelled)
    result = estate.run(raw_activities(estate, kube).scan_unmanaged_manifests, "s")
    assert [r.name for r in result.drifted[0].resources] == ["never-applied"]
    assert result.resources_scanned == 2


def test_only_this_clusters_applications_are_scanned() -> None:
    # README "Clusters": the medic of each cluster scans the Applications that deploy there
    edge = application("edge-shop", "shop", "shop", "web")
    edge["spec"]["destination"] = {"name": "edge", "namespace": "shop"}
    apps = [*scenario().argocd, edge]
    with SandboxArgoCD(
        apps, token=TOKEN, clusters=[{"name": "edge", "server": "https://edge:6443"}]
    ) as argocd:
        for cluster, expected in (("", ["pay-ledger", "shop-cart", "shop-web"]), ("edge", ["edge-shop"])):
            with ArgoClient(argocd.url, TOKEN, timeout=5.0, cluster_name=cluster) as client:
                activities = DriftActivities(client, None, None, DriftConfig())
                refs = ActivityEnvironment().run(activities.list_drift_applications, DriftScope())
            assert [r.name for r in refs] == expected, cluster
