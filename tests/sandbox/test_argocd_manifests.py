"""Argo CD's manifests API (`GET /api/v1/applications/{name}/manifests`) on the sandbox Argo CD that
follows a real bare repository, through the real `ArgoClient`: an Application rendered at its
target revision, at a branch or commit, per source of a multi-source Application, and refused at a
revision that does not resolve, with nothing synced."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.argocd import ArgoClient, ArgoInvalid
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import Scenario, load_named
from tests.sandbox.test_argocd_sync import commit_files, edited

TOKEN = "argo-manifests-token"


@dataclass
class Argo:
    scenario: Scenario
    server: SandboxArgoCD
    client: ArgoClient
    cluster: SandboxCluster
    repo: Path
    seed: str


@pytest.fixture
def argo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Argo]:
    scenario = load_named(request.param)
    apps = copy.deepcopy(scenario.argocd)
    for app in apps:
        app["spec"]["syncPolicy"].pop("automated", None)
    repo = tmp_path / "gitops.git"
    seed = seed_bare_repo(repo, scenario.gitops)
    cluster = SandboxCluster(scenario)
    with (
        SandboxArgoCD(apps, token=TOKEN, cluster=cluster, repo=repo) as server,
        ArgoClient(server.url, TOKEN, timeout=5.0) as client,
    ):
        yield Argo(scenario, server, client, cluster, repo, seed)


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    return dict(manifest["spec"]["template"]["spec"]["containers"][0])


def without_resources(manifest: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    out["spec"]["template"]["spec"]["containers"][0].pop("resources")
    return out


@pytest.mark.parametrize("argo", ["oom-helm-values"], indirect=True)
def test_chart_less_helm_renders_whole_objects_whose_diff_is_only_the_values(argo: Argo) -> None:
    head = commit_files(
        argo.repo,
        edited(argo.scenario, "values/ledger-values.yaml", "memory: 256Mi", "memory: 512Mi"),
        branch="raise-memory",
    )
    (base,) = argo.client.application_manifests("payments-ledger")
    (after,) = argo.client.application_manifests(
        "payments-ledger", revisions=[head], source_positions=[2], project="payments"
    )
    assert argo.server.requests[-1][2]["revisions"] == head
    for manifest in (base, after):
        assert manifest["kind"] == "Deployment" and manifest["spec"]["selector"], "a whole object"
        assert "status" not in manifest
        assert not {"resourceVersion", "uid", "managedFields", "generation"} & manifest["metadata"].keys()
    assert container(base)["resources"]["limits"]["memory"] == "256Mi"
    assert container(after)["resources"]["limits"]["memory"] == "512Mi"
    assert without_resources(base) == without_resources(after), "only what the values changed differs"

    (by_branch,) = argo.client.application_manifests(
        "payments-ledger", revisions=["raise-memory"], source_positions=[2]
    )
    assert by_branch == after
    live = argo.cluster.peek("apps/v1", "Deployment", "payments", "ledger")
    assert live is not None and container(live)["resources"]["limits"]["memory"] == "256Mi", "nothing synced"


@pytest.mark.parametrize("argo", ["crashloop-bad-release"], indirect=True)
def test_a_directory_source_renders_at_a_branch_a_commit_or_its_target_revision(argo: Argo) -> None:
    head = commit_files(
        argo.repo,
        edited(argo.scenario, "manifests/shop/checkout/deployment.yaml", "1.14.0", "1.13.2"),
        branch="rollback",
    )
    base = argo.client.application_manifests("shop-checkout", app_namespace="argocd")
    assert sorted(m["kind"] for m in base) == ["ConfigMap", "Deployment"]
    assert all(m["metadata"]["namespace"] == "shop" for m in base), "the destination namespace"
    images = {
        revision: next(container(m)["image"] for m in argo.client.application_manifests(
            "shop-checkout", revision=revision) if m["kind"] == "Deployment")
        for revision in ("rollback", head, argo.seed)
    }  # fmt: skip
    assert images == {
        "rollback": "registry.example/shop/checkout:1.13.2",
        head: "registry.example/shop/checkout:1.13.2",
        argo.seed: "registry.example/shop/checkout:1.14.0",
    }


@pytest.mark.parametrize("argo", ["crashloop-bad-release"], indirect=True)
def test_a_revision_that_does_not_resolve_is_argo_cds_error(argo: Argo) -> None:
    with pytest.raises(ArgoInvalid, match="unable to resolve 'no-such-branch' to a commit SHA") as refused:
        argo.client.application_manifests("shop-checkout", revision="no-such-branch")
    assert refused.value.status == 500
    answer = httpx.get(
        f"{argo.server.url}/api/v1/applications/shop-checkout/manifests",
        params={"revision": "no-such-branch"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    body = answer.json()
    assert (answer.status_code, body["code"]) == (500, 2) and body["error"] == body["message"]
    with pytest.raises(ValueError):
        argo.client.application_manifests("shop-checkout", revisions=["main"])


def test_a_frozen_sandbox_renders_no_manifests() -> None:
    scenario = load_named("crashloop-bad-release")
    with (
        SandboxArgoCD(scenario.argocd) as server,
        ArgoClient(server.url) as client,
        pytest.raises(ArgoInvalid, match="follows no GitOps repository"),
    ):
        client.application_manifests("shop-checkout")
