"""Which Applications a pull request's files touch: path, Helm value files of a `ref` source, and
Kustomize bases reached outside the source path, on Applications as Argo CD's API returns them."""

from __future__ import annotations

from typing import Any

import pytest

from domain.gitops.repositories import normalize_repo_url
from domain.review.applications import affected_applications

REPO = "https://github.com/acme/gitops.git"


def app(name: str, *, namespace: str = "argocd", project: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "4711"},
        "spec": {
            "project": project,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            **spec,
        },
        "status": {"sync": {"status": "Synced", "revision": "0" * 40}},
    }


FILES = {
    "apps/shop/kustomization.yaml": "resources:\n- ../../base/web\n- service.yaml\n"
    "patches:\n- path: ../../patches/replicas.yaml\n"
    "configMapGenerator:\n- name: shop\n  files:\n  - app.properties=../../config/shop.properties\n",
    "apps/shop/service.yaml": "apiVersion: v1\nkind: Service\n",
    "base/web/kustomization.yaml": "resources:\n- deployment.yaml\n- ../common\n",
    "base/web/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\n",
    "base/common/kustomization.yaml": "resources:\n- sa.yaml\n",
    "base/common/sa.yaml": "apiVersion: v1\nkind: ServiceAccount\n",
    "patches/replicas.yaml": "spec:\n  replicas: 3\n",
    "config/shop.properties": "a=b\n",
    "charts/ledger/Chart.yaml": "apiVersion: v2\nname: ledger\nversion: 1.0.0\n",
    "charts/ledger/values.yaml": "replicaCount: 1\n",
    "manifests/plain/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\n",
}

APPS = [
    app(
        "shop",
        source={"repoURL": "git@github.com:acme/gitops.git", "path": "apps/shop", "targetRevision": "main"},
    ),
    app(
        "ledger",
        namespace="payments",
        project="payments",
        sources=[
            {
                "repoURL": "https://charts.example.com",
                "chart": "ledger",
                "targetRevision": "2.3.1",
                "helm": {"valueFiles": ["$values/values/ledger-values.yaml"]},
            },
            {"repoURL": "https://github.com/Acme/gitops", "targetRevision": "main", "ref": "values"},
        ],
    ),
    app(
        "ledger-local",
        source={
            "repoURL": "https://GitHub.com/acme/gitops/",
            "path": "charts/ledger",
            "helm": {"valueFiles": ["values.yaml", "../../values/ledger-local.yaml"]},
        },
    ),
    app("plain", source={"repoURL": REPO, "path": "manifests"}),
    app("plain-deep", source={"repoURL": REPO, "path": "manifests", "directory": {"recurse": True}}),
    app("elsewhere", source={"repoURL": "https://github.com/acme/other.git", "path": "apps/shop"}),
]


def affected(changed: list[str], apps: list[dict[str, Any]] = APPS) -> dict[str, list[str]]:
    return {a.name: a.reasons for a in affected_applications(apps, changed, [REPO], FILES.get)}


def test_a_file_under_the_source_path_affects_the_application_over_any_url_spelling() -> None:
    assert affected(["apps/shop/service.yaml"]) == {
        "shop": ["apps/shop/service.yaml changed under source path apps/shop"]
    }


def test_a_value_file_of_a_ref_source_affects_the_chart_application() -> None:
    result = affected_applications(APPS, ["values/ledger-values.yaml"], [REPO], FILES.get)
    assert [(a.namespace, a.name, a.project) for a in result] == [("payments", "ledger", "payments")]
    assert result[0].reasons == [
        "values/ledger-values.yaml changed, a Helm value file of the Application "
        "($values/values/ledger-values.yaml)"
    ]


def test_a_relative_value_file_outside_an_in_repository_chart_counts() -> None:
    assert affected(["values/ledger-local.yaml", "charts/ledger/values.yaml"]) == {
        "ledger-local": [
            "charts/ledger/values.yaml changed under source path charts/ledger",
            "values/ledger-local.yaml changed, a Helm value file of the chart at charts/ledger "
            "(../../values/ledger-local.yaml)",
        ]
    }


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        (
            "base/web/deployment.yaml",
            "base/web/deployment.yaml changed under base/web, which apps/shop/kustomization.yaml reaches",
        ),
        (
            "base/common/sa.yaml",
            "base/common/sa.yaml changed under base/common, which base/web/kustomization.yaml reaches",
        ),
        ("patches/replicas.yaml", "patches/replicas.yaml changed, named by apps/shop/kustomization.yaml"),
        ("config/shop.properties", "config/shop.properties changed, named by apps/shop/kustomization.yaml"),
    ],
)
def test_kustomize_bases_patches_and_generator_files_outside_the_path_are_followed(
    changed: str, reason: str
) -> None:
    assert affected([changed]) == {"shop": [reason]}


def test_a_plain_directory_reads_only_its_own_files_unless_it_recurses() -> None:
    assert affected(["manifests/plain/deploy.yaml"]) == {
        "plain-deep": ["manifests/plain/deploy.yaml changed under source path manifests"]
    }
    assert set(affected(["manifests/top.yaml"])) == {"plain", "plain-deep"}


def test_the_whole_repository_and_the_order_by_namespace_then_name() -> None:
    apps = [
        app("b", namespace="team", source={"repoURL": REPO, "path": ".", "directory": {"recurse": True}}),
        app("a", namespace="team", source={"repoURL": REPO, "path": ""}),
        app("z", namespace="argocd", source={"repoURL": REPO, "path": "./", "directory": {"recurse": True}}),
    ]
    result = affected_applications(apps, ["README.md", "x/y.yaml"], [REPO], FILES.get)
    assert [(a.namespace, a.name) for a in result] == [("argocd", "z"), ("team", "a"), ("team", "b")]
    assert result[1].reasons == ["README.md changed under source path the repository root"]
    assert affected(["docs/unrelated.md"]) == {}


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:acme/gitops.git",
        "ssh://git@github.com/acme/gitops",
        "ssh://git@github.com:22/acme/gitops.git",
        "HTTPS://GitHub.com/acme/gitops/",
        "https://user@github.com/acme/gitops.git/",
    ],
)
def test_repository_urls_are_one_repository_in_every_spelling(url: str) -> None:
    assert normalize_repo_url(url) == normalize_repo_url(REPO) == "github.com/acme/gitops"


def test_a_local_repository_path_is_compared_as_a_path() -> None:
    assert normalize_repo_url("file:///srv/gitops.git") == normalize_repo_url("/srv/gitops") == "/srv/gitops"
