"""Local rendering with the real engines: a repository checked out at two refs with real git, built
with real kustomize (`kubectl kustomize` here) and templated with real helm, in temporary
directories; and the rule that turns a repository without Argo CD into applications."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from integrations.git import GitRefNotFound
from integrations.render import (
    RenderEngineMissing,
    RenderFailed,
    checkout_at,
    render_repository,
    render_source,
    render_tree,
    repository_applications,
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.0.0
"""
CHART_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicaCount }}
  template:
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"""
FILES = {
    "base/kustomization.yaml": "resources:\n- deployment.yaml\n",
    "base/deployment.yaml": DEPLOYMENT,
    "overlays/prod/kustomization.yaml": "resources:\n- ../../base\nnamePrefix: prod-\n"
    "images:\n- name: registry.example/web\n  newTag: 1.1.0\n",
    "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
    "charts/api/values.yaml": "replicaCount: 1\nimage: {repository: registry.example/api, tag: '2.0'}\n",
    "charts/api/templates/deployment.yaml": CHART_TEMPLATE,
    "values/api-prod.yaml": "replicaCount: 3\n",
    "manifests/plain/all.yaml": "apiVersion: v1\nkind: List\nitems:\n"
    "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
    "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"
    "---\nnot: kubernetes\n",
    "manifests/plain/svc.json": '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}',
    "manifests/plain/nested/extra.yml": "apiVersion: v1\nkind: Secret\nmetadata: {name: extra}\n",
    "manifests/plain/kustomization.yml.orig": "resources: []\n",
    "docs/readme.md": "# docs\n",
    ".github/workflows/ci.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-an-app}\n",
}


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    identity = ["-c", "user.name=test", "-c", "user.email=test@medic.invalid", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", *identity, "-C", str(repo), *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "gitops"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    commit(repo, FILES, "seed")
    return repo


def images(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in objects
        if o["kind"] == "Deployment"
    }


def test_a_kustomization_rendered_at_two_refs_with_real_git_and_kustomize(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "switch", "-q", "-c", "bump")
    bumped = FILES["overlays/prod/kustomization.yaml"].replace("1.1.0", "1.2.0")
    head = commit(repo, {"overlays/prod/kustomization.yaml": bumped}, "bump")
    git(repo, "switch", "-q", "main")
    source = {"repoURL": "https://git.example/gitops.git", "path": "overlays/prod", "targetRevision": "main"}
    with checkout_at(repo, base) as before, checkout_at(repo, "bump") as after:
        assert images(render_source(before, source)) == {"prod-web": "registry.example/web:1.1.0"}
        assert images(render_source(after, source)) == {"prod-web": "registry.example/web:1.2.0"}
        assert git(after, "rev-parse", "HEAD") == head
    assert not before.exists() and not after.exists()
    assert git(repo, "worktree", "list").count("\n") == 0, "the worktrees are gone"
    with pytest.raises(GitRefNotFound, match="no commit 'no-such-ref'"), checkout_at(repo, "no-such-ref"):
        pass


def test_a_chart_in_the_repository_with_value_files_values_and_parameters(repo: Path) -> None:
    source = {
        "path": "charts/api",
        "helm": {
            "valueFiles": ["values.yaml", "$values/values/api-prod.yaml"],
            "valuesObject": {"image": {"tag": "2.1"}},
            "parameters": [{"name": "image.repository", "value": "mirror.example/api"}],
        },
    }
    (deployment,) = render_source(repo, source, release="api-prod", namespace="apps", refs={"values": repo})
    assert deployment["metadata"] == {"name": "api-prod", "namespace": "apps"}
    assert deployment["spec"]["replicas"] == 3
    assert images([deployment]) == {"api-prod": "mirror.example/api:2.1"}
    relative = {
        "path": "charts/api",
        "helm": {"valueFiles": ["../../values/api-prod.yaml"], "skipCrds": True},
    }
    assert render_source(repo, relative)[0]["spec"]["replicas"] == 3
    assert render_tree(repo, "charts/api")[0]["metadata"]["name"] == "api", "release named after the chart"
    with pytest.raises(RenderFailed, match="leaves the repository"):
        render_source(repo, {"path": "charts/api", "helm": {"valueFiles": ["../../../../etc/passwd"]}})


def test_directory_sources_recurse_include_and_skip_what_is_not_kubernetes(repo: Path) -> None:
    names = lambda objects: sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)  # noqa: E731
    assert names(render_tree(repo, "manifests/plain")) == ["ConfigMap/a", "ConfigMap/b", "Service/web"]
    recursive = {"path": "manifests/plain", "directory": {"recurse": True, "exclude": "{*.json,nope.yaml}"}}
    assert names(render_source(repo, recursive)) == ["ConfigMap/a", "ConfigMap/b", "Secret/extra"]
    assert render_source(repo, {"repoURL": "https://git.example/gitops.git", "ref": "values"}) == []
    with pytest.raises(RenderFailed, match="Helm repository"):
        render_source(repo, {"repoURL": "https://charts.example", "chart": "api", "targetRevision": "1.0"})


def test_a_repository_without_argo_cd_is_one_application_per_root_kustomization_chart_or_directory(
    repo: Path,
) -> None:
    assert repository_applications(repo) == {
        "charts/api": "Helm",
        "manifests/plain": "Directory",
        "manifests/plain/nested": "Directory",
        "overlays/prod": "Kustomize",
    }, "base/ is part of overlays/prod; docs/ holds no objects; hidden directories are skipped"
    rendered = render_repository(repo)
    assert list(rendered) == ["charts/api", "manifests/plain", "manifests/plain/nested", "overlays/prod"]
    assert images(rendered["overlays/prod"]) == {"prod-web": "registry.example/web:1.1.0"}


def test_a_broken_kustomization_is_one_line(repo: Path) -> None:
    (repo / "base/kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    with pytest.raises(RenderFailed) as failed:
        render_tree(repo, "base")
    assert "kustomize build base failed" in failed.value.message and "\n" not in failed.value.message


def test_a_missing_engine_says_what_to_install(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "empty" / "python"))
    with pytest.raises(RenderEngineMissing, match="install kustomize"):
        render_tree(repo, "overlays/prod")
    with pytest.raises(RenderEngineMissing, match="install helm"):
        render_tree(repo, "charts/api")
