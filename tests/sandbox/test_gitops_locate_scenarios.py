"""domain.gitops.locate on every shared scenario, and on layouts the scenarios do not show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain.gitops.locate import Located, NotLocated, locate_field, relevant_files
from domain.incident.model import ResourceRef
from sandbox.scenario import SHARED_SCENARIOS, Scenario, load_named, load_scenario

GITOPS_ACTIONS = [
    pytest.param(path, action, id=f"{path.stem}-{action['kind']}")
    for path in sorted(SHARED_SCENARIOS.glob("*.yaml"))
    for action in load_scenario(path).expect.get("actions") or []
    if action.get("mode") == "gitops"
]


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app["spec"]
    return list(spec.get("sources") or [spec["source"]])


def _locate(scenario: Scenario, target: ResourceRef, kind: str, files: dict[str, str] | None = None) -> Any:
    gitops = files if files is not None else scenario.gitops
    (app,) = scenario.argocd
    return locate_field(
        _sources(app),
        target,
        kind,
        gitops.get,
        sorted(gitops),
        destination_namespace=app["spec"]["destination"]["namespace"],
    )


def test_every_gitops_scenario_is_covered() -> None:
    assert len(GITOPS_ACTIONS) >= 4


@pytest.mark.parametrize(("path", "action"), GITOPS_ACTIONS)
def test_the_expected_file_of_each_scenario_is_located(path: Path, action: dict[str, Any]) -> None:
    scenario = load_scenario(path)
    location = _locate(scenario, ResourceRef(**action["target"]), action["kind"])
    assert isinstance(location, Located), location
    assert location.file == action["file"] and location.confidence == "high"


@pytest.mark.parametrize(("path", "action"), GITOPS_ACTIONS)
def test_the_expected_file_is_among_the_observed_files(path: Path, action: dict[str, Any]) -> None:
    scenario = load_scenario(path)
    (app,) = scenario.argocd
    target = ResourceRef(**action["target"])
    files = relevant_files(
        _sources(app),
        target,
        scenario.gitops.get,
        sorted(scenario.gitops),
        application=app["metadata"]["name"],
    )
    assert action["file"] in {f.path for f in files}
    assert all(f.id == f"gitops/{f.path}" and f.application == app["metadata"]["name"] for f in files)
    assert "application" in {f.role for f in files}


def test_fields_per_layout() -> None:
    ledger = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
    helm = load_named("oom-helm-values")
    assert _locate(helm, ledger, "set_resources").yaml_path == ("resources",)
    assert _locate(helm, ledger, "set_image").yaml_path == ("image", "tag")
    assert _locate(helm, ledger, "scale").yaml_path == ("replicaCount",)

    checkout = ResourceRef(namespace="shop", kind="Deployment", name="checkout", container="checkout")
    raw = load_named("crashloop-bad-release")
    image = _locate(raw, checkout, "set_image")
    assert (image.layout, image.yaml_path) == (
        "manifest",
        ("spec", "template", "spec", "containers", 0, "image"),
    )
    assert _locate(raw, checkout, "scale").yaml_path == ("spec", "replicas")

    storefront = ResourceRef(namespace="web", kind="Deployment", name="storefront", container="storefront")
    kustomize = load_named("image-pull-typo")
    assert _locate(kustomize, storefront, "set_image").yaml_path == ("images", 0, "newTag")
    resources = _locate(kustomize, storefront, "set_resources")
    assert resources.file == "overlays/prod/deployment-prod.yaml"
    assert resources.yaml_path == ("spec", "template", "spec", "containers", 0, "resources")
    assert _locate(kustomize, storefront, "scale").file == "overlays/prod/deployment-prod.yaml"


def test_a_workload_outside_the_application_is_not_located() -> None:
    scenario = load_named("saturation-direct-scale")
    location = _locate(
        scenario, ResourceRef(namespace="search", kind="Deployment", name="query-api"), "scale"
    )
    assert isinstance(location, NotLocated) and "query-api" in location.reason


def test_actions_without_a_file_are_not_located() -> None:
    scenario = load_named("crashloop-bad-release")
    target = ResourceRef(namespace="shop", kind="Deployment", name="checkout")
    for kind in ("restart", "rollback_revision", "sync_application"):
        assert isinstance(_locate(scenario, target, kind), NotLocated)


MULTI_DOC = """\
apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop}
spec: {ports: [{port: 80}]}
---
# the workload
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: envoy
          image: envoyproxy/envoy:v1.31.0
        - name: checkout
          image: registry.example/shop/checkout:1.14.0
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout-worker, namespace: shop}
spec: {template: {spec: {containers: [{name: worker, image: w:1}]}}}
"""


def test_a_multi_document_manifest_locates_the_document_and_the_container() -> None:
    scenario = load_named("crashloop-bad-release")
    files = {"manifests/shop/checkout/all.yaml": MULTI_DOC}
    target = ResourceRef(namespace="shop", kind="Deployment", name="checkout", container="checkout")
    location = _locate(scenario, target, "set_resources", files)
    assert isinstance(location, Located)
    assert (location.file, location.document) == ("manifests/shop/checkout/all.yaml", 1)
    assert location.yaml_path == ("spec", "template", "spec", "containers", 1, "resources")
    assert location.confidence == "medium" and "adds it" in location.detail
    no_container = target.model_copy(update={"container": None})
    assert isinstance(_locate(scenario, no_container, "set_image", files), NotLocated), "two containers"


def test_a_large_multi_document_file_shows_only_the_targets_document() -> None:
    scenario = load_named("crashloop-bad-release")
    (app,) = scenario.argocd
    big = MULTI_DOC + "---\n" + "".join(f"# padding {i}\n" for i in range(1000))
    files = {"manifests/shop/checkout/all.yaml": big}
    target = ResourceRef(namespace="shop", kind="Deployment", name="checkout")
    (shown,) = relevant_files(_sources(app), target, files.get, sorted(files), max_bytes=2048)
    assert shown.truncated and "kind: Deployment" in shown.content and "kind: Service" not in shown.content


def test_a_duplicate_definition_is_not_located() -> None:
    scenario = load_named("crashloop-bad-release")
    files = {
        **scenario.gitops,
        "manifests/shop/checkout/copy.yaml": scenario.gitops["manifests/shop/checkout/deployment.yaml"],
    }
    target = ResourceRef(namespace="shop", kind="Deployment", name="checkout", container="checkout")
    location = _locate(scenario, target, "set_image", files)
    assert isinstance(location, NotLocated) and "more than once" in location.reason


def test_an_hpa_beside_the_workload_stops_scaling_through_git() -> None:
    scenario = load_named("crashloop-bad-release")
    hpa = (
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: checkout}\n"
        "spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: checkout}}\n"
    )
    files = {**scenario.gitops, "manifests/shop/checkout/hpa.yaml": hpa}
    target = ResourceRef(namespace="shop", kind="Deployment", name="checkout")
    location = _locate(scenario, target, "scale", files)
    assert isinstance(location, NotLocated) and "HorizontalPodAutoscaler" in location.reason


def test_a_strategic_merge_patch_with_a_name_prefix_sets_resources() -> None:
    scenario = load_named("image-pull-typo")
    files = {
        "bases/storefront/kustomization.yaml": "resources: [deployment.yaml]\n",
        "bases/storefront/deployment.yaml": scenario.gitops["bases/storefront/deployment.yaml"],
        "overlays/prod/kustomization.yaml": (
            "namespace: web\nnamePrefix: prod-\nresources: [../../bases/storefront]\n"
            "patchesStrategicMerge: [resources.yaml]\nreplicas: [{name: storefront, count: 4}]\n"
        ),
        "overlays/prod/resources.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: storefront}\nspec:\n  template:\n"
            "    spec:\n      containers:\n        - name: storefront\n"
            "          resources: {limits: {memory: 1Gi}}\n"
        ),
    }
    target = ResourceRef(namespace="web", kind="Deployment", name="prod-storefront", container="storefront")
    resources = _locate(scenario, target, "set_resources", files)
    assert isinstance(resources, Located) and resources.file == "overlays/prod/resources.yaml"
    assert resources.yaml_path == ("spec", "template", "spec", "containers", 0, "resources")
    scale = _locate(scenario, target, "scale", files)
    assert isinstance(scale, Located)
    assert (scale.file, scale.yaml_path) == ("overlays/prod/kustomization.yaml", ("replicas", 0, "count"))
    image = _locate(scenario, target, "set_image", files)
    assert isinstance(image, Located) and image.confidence == "medium" and image.yaml_path == ("images",)


def test_resources_in_a_base_shared_by_another_overlay_are_not_located() -> None:
    scenario = load_named("image-pull-typo")
    files = {
        **{k: v for k, v in scenario.gitops.items() if k != "overlays/prod/deployment-prod.yaml"},
        "overlays/staging/kustomization.yaml": "resources: [../../bases/storefront]\n",
    }
    files["overlays/prod/kustomization.yaml"] = "resources: [../../bases/storefront]\n"
    target = ResourceRef(namespace="web", kind="Deployment", name="storefront", container="storefront")
    location = _locate(scenario, target, "set_resources", files)
    assert isinstance(location, NotLocated) and "overlays/staging/kustomization.yaml" in location.reason


def test_the_last_values_file_that_sets_a_key_wins() -> None:
    scenario = load_named("oom-helm-values")
    (app,) = scenario.argocd
    sources = _sources(app)
    sources[0] = {
        **sources[0],
        "helm": {"valueFiles": ["$values/values/ledger-values.yaml", "$values/values/prod/ledger.yaml"]},
    }
    files = {**scenario.gitops, "values/prod/ledger.yaml": "replicaCount: 5\nautoscaling: {enabled: false}\n"}
    ledger = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
    scale = locate_field(sources, ledger, "scale", files.get, sorted(files))
    assert isinstance(scale, Located) and scale.file == "values/prod/ledger.yaml"
    resources = locate_field(sources, ledger, "set_resources", files.get, sorted(files))
    assert isinstance(resources, Located) and resources.file == "values/ledger-values.yaml"
    files["values/prod/ledger.yaml"] = "autoscaling: {enabled: true}\n"
    assert isinstance(locate_field(sources, ledger, "scale", files.get, sorted(files)), NotLocated)


def test_values_without_the_key_are_not_located() -> None:
    scenario = load_named("oom-helm-values")
    files = {"values/ledger-values.yaml": "podAnnotations: {}\n"}
    ledger = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
    location = _locate(scenario, ledger, "set_resources", files)
    assert isinstance(location, NotLocated) and "resources" in location.reason
