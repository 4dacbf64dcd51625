"""sandbox.render: the sandbox Argo CD's rendering of Directory, Kustomize and chart-less Helm
sources, and its comparison with live objects — on small repositories the scenarios do not show."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.render import (
    Desired,
    RenderError,
    Tree,
    apply_json6902,
    helm_values,
    in_sync,
    predicted_live,
    render_application,
    render_directory,
    render_helm_values,
    render_kustomize,
    split_image,
    sync_patch,
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api}
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: registry.example/team/api:1.0
          resources:
            limits: {memory: 256Mi}
        - name: proxy
          image: registry.example/proxy:2
"""


def _deployment(objects: list[dict[str, Any]], name: str = "api") -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith(name))


def _container(obj: dict[str, Any], name: str = "api") -> dict[str, Any]:
    return next(c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def test_kustomize_transformers_apply_in_kustomizes_order() -> None:
    tree = Tree.of(
        {
            "base/kustomization.yaml": "resources: [deployment.yaml]\n",
            "base/deployment.yaml": DEPLOYMENT,
            "prod/kustomization.yaml": """\
resources: [../base]
namespace: prod
namePrefix: prod-
commonLabels: {env: prod}
patches:
  - path: memory.yaml
  - target: {kind: Deployment, name: api}
    patch: |
      - op: replace
        path: /spec/template/spec/containers/1/image
        value: registry.example/proxy:3
  - target: {kind: Deployment}
    patch: |
      spec:
        replicas: 4
replicas:
  - {name: api, count: 3}
images:
  - {name: registry.example/team/api, newName: mirror.example/api, newTag: "1.1"}
""",
            "prod/memory.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      containers:
        - name: api
          resources:
            limits: {memory: 512Mi}
""",
        }
    )
    (obj,) = render_kustomize(tree, "prod")
    assert obj["metadata"]["name"] == "prod-api" and obj["metadata"]["namespace"] == "prod"
    assert obj["spec"]["selector"]["matchLabels"] == {"app": "api", "env": "prod"}
    assert obj["spec"]["template"]["metadata"]["labels"]["env"] == "prod"
    assert obj["spec"]["replicas"] == 3, "the replicas transformer runs after patches"
    assert _container(obj)["image"] == "mirror.example/api:1.1"
    assert _container(obj)["resources"] == {"limits": {"memory": "512Mi"}}
    assert _container(obj, "proxy")["image"] == "registry.example/proxy:3"


def test_application_kustomize_overrides_win() -> None:
    tree = Tree.of({"app/kustomization.yaml": "resources: [d.yaml]\n", "app/d.yaml": DEPLOYMENT})
    overrides = {"images": ["registry.example/team/api:2.0"], "replicas": [{"name": "api", "count": 5}]}
    (obj,) = render_kustomize(tree, "app", overrides)
    assert _container(obj)["image"] == "registry.example/team/api:2.0"
    assert obj["spec"]["replicas"] == 5


def test_a_missing_kustomize_resource_is_a_render_error() -> None:
    tree = Tree.of({"app/kustomization.yaml": "resources: [gone.yaml]\n"})
    with pytest.raises(RenderError, match="gone.yaml does not exist"):
        render_kustomize(tree, "app")


def test_directory_sources_honour_recurse_include_and_exclude() -> None:
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    tree = Tree.of(
        {
            "app/d.yaml": DEPLOYMENT,
            "app/nested/c.yaml": config,
            "app/README.md": "not a manifest",
            "app/skip.yml": config.replace("name: c", "name: skipped"),
        }
    )
    assert [o["kind"] for o in render_directory(tree, "app")] == ["Deployment", "ConfigMap"]
    names = [
        o["metadata"]["name"] for o in render_directory(tree, "app", {"recurse": True, "exclude": "*.yml"})
    ]
    assert names == ["api", "c"]
    assert [o["kind"] for o in render_directory(tree, "app", {"include": "{*.yml}"})] == ["ConfigMap"]
    with pytest.raises(RenderError, match="app path does not exist"):
        render_directory(tree, "nowhere")


def test_helm_values_follow_helms_precedence() -> None:
    tree = Tree.of(
        {
            "values/base.yaml": "image: {repository: registry.example/team/api, tag: '1.0'}\n"
            "replicaCount: 1\n",
            "values/prod.yaml": "image: {tag: '1.2'}\nresources: {limits: {memory: 1Gi}}\n",
        }
    )
    sources = [
        {
            "chart": "api",
            "helm": {
                "valueFiles": ["$v/values/base.yaml", "$v/values/prod.yaml"],
                "valuesObject": {"replicaCount": 2},
                "parameters": [{"name": "image.tag", "value": "1.3"}, {"name": "replicaCount", "value": "3"}],
            },
        },
        {"ref": "v"},
    ]
    values = helm_values(sources[0], sources, [None, tree], 0)
    assert values["image"] == {"repository": "registry.example/team/api", "tag": "1.3"}
    assert values["replicaCount"] == 3 and values["resources"] == {"limits": {"memory": "1Gi"}}
    missing = {"chart": "api", "helm": {"valueFiles": ["$v/values/none.yaml"]}}
    with pytest.raises(RenderError, match="value file does not exist"):
        helm_values(missing, [missing, sources[1]], [None, tree], 0)


def test_chart_less_helm_sets_only_the_fields_the_values_define() -> None:
    live = _deployment_live()
    (partial,) = render_helm_values(
        {"image": {"tag": "1.5"}, "autoscaling": {"enabled": True}, "replicaCount": 9}, [live]
    )
    assert "replicas" not in partial["spec"], "the HPA decides the replicas"
    (container,) = partial["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "api", "image": "registry.example/team/api:1.5"}


def test_comparison_ignores_what_the_api_server_adds_but_not_resources() -> None:
    live = _deployment_live()
    live["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    desired = Desired(_objects_of(DEPLOYMENT)[0] | {"metadata": {"name": "api", "namespace": "web"}})
    assert in_sync(desired, live)
    more = copy.deepcopy(live)
    _container(more)["resources"]["limits"]["cpu"] = "1"
    assert not in_sync(desired, more), "resources are compared whole"
    quantity = copy.deepcopy(live)
    _container(quantity)["resources"]["limits"]["memory"] = "268435456"
    assert in_sync(desired, quantity), "256Mi and 268435456 are the same quantity"


def test_a_sync_replaces_resources_whole() -> None:
    live = _deployment_live()
    _container(live)["resources"] = {"limits": {"memory": "256Mi", "cpu": "1"}, "requests": {"cpu": "100m"}}
    desired = Desired(
        render_helm_values({"resources": {"limits": {"memory": "512Mi"}}}, [live])[0], partial=True
    )
    patch = sync_patch(desired)
    assert patch["spec"]["template"]["spec"]["containers"][0]["resources"]["$patch"] == "replace"
    after = predicted_live(desired, live)
    assert _container(after)["resources"] == {"limits": {"memory": "512Mi"}}
    assert _container(after, "proxy") == _container(live, "proxy")


def test_json6902_operations() -> None:
    doc = {"spec": {"list": [1, 2], "a": {"b": 1}}}
    out = apply_json6902(
        doc,
        [
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "move", "from": "/spec/a/b", "path": "/spec/c"},
            {"op": "copy", "from": "/spec/c", "path": "/spec/d"},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "test", "path": "/spec/d", "value": 1},
        ],
    )
    assert out == {"spec": {"list": [2, 3], "a": {}, "c": 1, "d": 1}} and doc["spec"]["list"] == [1, 2]
    with pytest.raises(RenderError, match="does not exist"):
        apply_json6902(doc, [{"op": "replace", "path": "/spec/x", "value": 1}])


def test_an_object_defined_twice_is_an_error() -> None:
    tree = Tree.of({"app/a.yaml": DEPLOYMENT, "app/b.yaml": DEPLOYMENT})
    with pytest.raises(RenderError, match="defined more than once"):
        render_application([{"path": "app"}], [tree], namespace="web")


def test_split_image() -> None:
    assert split_image("registry:5000/team/app:1.2@sha256:abc") == (
        "registry:5000/team/app",
        "1.2",
        "sha256:abc",
    )
    assert split_image("registry:5000/team/app") == ("registry:5000/team/app", "", "")


def _objects_of(text: str) -> list[dict[str, Any]]:
    return render_directory(Tree.of({"d.yaml": text}), "")


def _deployment_live() -> dict[str, Any]:
    live = _objects_of(DEPLOYMENT)[0]
    live["metadata"].update(namespace="web", generation=3, resourceVersion="100", uid="u")
    live["status"] = {"replicas": 1}
    return live
