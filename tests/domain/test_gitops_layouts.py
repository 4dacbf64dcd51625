"""domain.gitops.locate and edit on the repository layouts where the value that wins is not in the
first file one would look at: Kustomize overlay patches at any depth (strategic merge and JSON 6902,
in their own files and inline), Helm's layers of values, and ApplicationSet-generated Applications.
Every edit is checked byte for byte; where the winner cannot be told, the refusal says why."""

from __future__ import annotations

from typing import Any

import pytest

from domain.analysis.plan import Scale, SetImage, SetResources
from domain.gitops.edit import FileChange, GitOpsEdit, file_changes
from domain.gitops.locate import Located, NotLocated, declared_value, locate_field, relevant_files
from domain.incident.model import ResourceRef

CART = ResourceRef(namespace="shop", kind="Deployment", name="cart", container="cart")
RAISE = SetResources(target=CART, mode="gitops", limits={"memory": "512Mi"})
KUSTOMIZE = [{"repoURL": "https://git.example/gitops.git", "path": "overlays/prod"}]


def _edit(files: dict[str, str], sources: list[dict[str, Any]], *actions: Any, **owner: str) -> GitOpsEdit:
    return file_changes(
        list(actions) or [RAISE], sources, files.get, sorted(files), destination_namespace="shop", **owner
    )


def _only_change(edit: GitOpsEdit) -> FileChange:
    assert edit.refused == [] and edit.unchanged == [], (edit.refused, edit.unchanged)
    (change,) = edit.changes
    return change


def _refusal(edit: GitOpsEdit) -> str:
    assert edit.changes == []
    (refused,) = edit.refused
    return refused.reason


# --- Kustomize ---------------------------------------------------------------------------------

BASE = {
    "base/kustomization.yaml": "resources:\n- deployment.yaml\n",
    "base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: sidecar
        image: registry.example/proxy:1.0
      - name: cart
        image: registry.example/shop/cart:3.4.0
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {memory: 128Mi}
""",
}

# overlays/prod → overlays/eu → overlays/common → base: the memory is set three levels down.
CHAIN = {
    **BASE,
    "overlays/common/kustomization.yaml": """\
resources:
- ../../base
patches:
- path: memory.yaml      # sized for the JVM
- path: probes.yaml
""",
    "overlays/common/memory.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  template:
    spec:
      containers:
      - name: cart
        resources:
          requests:
            memory: 256Mi
          limits:
            memory: 256Mi   # raised in INC-301
""",
    "overlays/common/probes.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  template:
    spec:
      containers:
      - name: cart
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
""",
    "overlays/eu/kustomization.yaml": """\
resources:
- ../common
patches:
- target: {kind: Deployment, name: cart}
  patch: |-
    - op: add
      path: /metadata/labels/region
      value: eu
""",
    "overlays/prod/kustomization.yaml": """\
namespace: shop
resources:
- ../eu
replicas:
- name: cart
  count: 3
""",
}

CHAIN_MEMORY_AFTER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  template:
    spec:
      containers:
      - name: cart
        resources:
          requests:
            memory: 256Mi
          limits:
            memory: 512Mi   # raised in INC-301
"""


@pytest.mark.parametrize(
    "patches",
    [
        "patches:\n- path: memory.yaml      # sized for the JVM\n- path: probes.yaml\n",
        "patchesStrategicMerge:\n- memory.yaml\n- probes.yaml\n",
    ],
    ids=["patches", "patchesStrategicMerge"],
)
def test_a_memory_raise_edits_the_overlay_patch_three_levels_down(patches: str) -> None:
    files = {**CHAIN, "overlays/common/kustomization.yaml": "resources:\n- ../../base\n" + patches}
    change = _only_change(_edit(files, KUSTOMIZE))
    assert change.path == "overlays/common/memory.yaml"
    assert change.before == CHAIN["overlays/common/memory.yaml"]
    assert change.after == CHAIN_MEMORY_AFTER
    assert change.diff == (
        "--- a/overlays/common/memory.yaml\n"
        "+++ b/overlays/common/memory.yaml\n"
        "@@ -11,4 +11,4 @@\n"
        "           requests:\n"
        "             memory: 256Mi\n"
        "           limits:\n"
        "-            memory: 256Mi   # raised in INC-301\n"
        "+            memory: 512Mi   # raised in INC-301\n"
    )
    assert change.fields[0].yaml_path == (
        "spec",
        "template",
        "spec",
        "containers",
        0,
        "resources",
        "limits",
        "memory",
    )


def test_a_later_patch_wins_over_an_earlier_one_of_the_same_kustomization() -> None:
    files = {
        **CHAIN,
        "overlays/common/kustomization.yaml": CHAIN["overlays/common/kustomization.yaml"].replace(
            "- path: probes.yaml\n", "- path: probes.yaml\n- path: late.yaml\n"
        ),
        "overlays/common/late.yaml": CHAIN["overlays/common/memory.yaml"].replace("256Mi   #", "384Mi   #"),
    }
    change = _only_change(_edit(files, KUSTOMIZE))
    assert change.path == "overlays/common/late.yaml"
    assert change.after == CHAIN_MEMORY_AFTER


def test_the_outermost_overlay_that_sets_the_field_wins_over_the_deeper_ones() -> None:
    files = {
        **CHAIN,
        "overlays/prod/kustomization.yaml": CHAIN["overlays/prod/kustomization.yaml"]
        + "patchesStrategicMerge:\n- |-\n  apiVersion: apps/v1\n  kind: Deployment\n"
        "  metadata: {name: cart}\n"
        "  spec:\n    template:\n      spec:\n        containers:\n        - name: cart\n"
        "          resources:\n            limits: {memory: 300Mi}  # prod only\n",
    }
    change = _only_change(_edit(files, KUSTOMIZE))
    assert change.path == "overlays/prod/kustomization.yaml"
    assert change.after == files["overlays/prod/kustomization.yaml"].replace(
        "{memory: 300Mi}  # prod only", "{memory: 512Mi}  # prod only"
    )


def test_the_base_is_edited_only_when_no_overlay_sets_the_field() -> None:
    files = {k: v for k, v in CHAIN.items() if k != "overlays/common/memory.yaml"}
    files["overlays/common/kustomization.yaml"] = "resources:\n- ../../base\npatches:\n- path: probes.yaml\n"
    change = _only_change(_edit(files, KUSTOMIZE))
    assert change.path == "base/deployment.yaml"
    assert change.after == BASE["base/deployment.yaml"].replace(
        "limits: {memory: 128Mi}", "limits: {memory: 512Mi}"
    )


INLINE_JSON = """\
resources:
- ../../base
patches:
  # the sale week needs more headroom
  - target:
      kind: Deployment
      name: cart
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/1/resources/limits/memory
        value: 256Mi    # INC-288

      - op: add
        path: /spec/template/spec/containers/1/env
        value: [{name: JAVA_OPTS, value: "-XX:MaxRAMPercentage=75"}]
images:
  - name: registry.example/shop/cart
    newTag: "3.4.1"
"""


def test_an_inline_json_6902_patch_is_edited_inside_its_block_scalar() -> None:
    files = {**BASE, "overlays/prod/kustomization.yaml": INLINE_JSON}
    change = _only_change(_edit(files, KUSTOMIZE))
    assert change.path == "overlays/prod/kustomization.yaml"
    assert change.after == INLINE_JSON.replace("value: 256Mi    # INC-288", "value: 512Mi    # INC-288")
    assert change.diff == (
        "--- a/overlays/prod/kustomization.yaml\n"
        "+++ b/overlays/prod/kustomization.yaml\n"
        "@@ -8,7 +8,7 @@\n"
        "     patch: |-\n"
        "       - op: replace\n"
        "         path: /spec/template/spec/containers/1/resources/limits/memory\n"
        "-        value: 256Mi    # INC-288\n"
        "+        value: 512Mi    # INC-288\n"
        " \n"
        "       - op: add\n"
        "         path: /spec/template/spec/containers/1/env\n"
    )
    assert change.fields[0].description == (
        "cart: memory limit 256Mi → 512Mi in overlays/prod/kustomization.yaml patches[0].patch at [0].value"
    )


def test_a_json_6902_patch_file_of_patches_json6902_is_edited() -> None:
    files = {
        **BASE,
        "overlays/prod/kustomization.yaml": """\
resources: [../../base]
patchesJson6902:
- target: {group: apps, version: v1, kind: Deployment, name: cart}
  path: cart-resources.yaml
""",
        "overlays/prod/cart-resources.yaml": """\
# whole resources of the cart container
- op: replace
  path: /spec/template/spec/containers/1/resources
  value:
    requests: {cpu: 200m, memory: 300Mi}
    limits: {memory: 300Mi}
""",
    }
    edit = _edit(
        files,
        KUSTOMIZE,
        SetResources(target=CART, mode="gitops", requests={"memory": "512Mi"}, limits={"memory": "512Mi"}),
    )
    change = _only_change(edit)
    assert change.path == "overlays/prod/cart-resources.yaml"
    assert change.after == files["overlays/prod/cart-resources.yaml"].replace("300Mi", "512Mi")


@pytest.mark.parametrize(
    ("kustomization", "extra", "reason"),
    [
        (
            "resources: [../../base]\npatches:\n- target: {kind: Deployment, labelSelector: app=cart}\n"
            "  path: memory.yaml\n",
            {"overlays/prod/memory.yaml": CHAIN["overlays/common/memory.yaml"]},
            "the patch overlays/prod/memory.yaml of overlays/prod/kustomization.yaml selects its targets "
            "by labelSelector, which medic does not evaluate",
        ),
        (
            "resources: [../../base]\ntransformers: [resources-policy.yaml]\n",
            {},
            "which value of cart's resources wins is unknown: overlays/prod/kustomization.yaml runs "
            "transformers plugins, whose output medic cannot evaluate",
        ),
        (
            "resources: [../../base]\ncomponents:\n- https://github.com/example/sizes//jvm?ref=v1\n",
            {},
            "which value of cart's resources wins is unknown: overlays/prod/kustomization.yaml includes a "
            "remote component (https://github.com/example/sizes//jvm?ref=v1) medic cannot read",
        ),
        (
            "resources: [../../base]\nreplacements:\n"
            "- source: {kind: ConfigMap, name: sizes, fieldPath: data.memory}\n"
            "  targets:\n  - select: {kind: Deployment}\n"
            "    fieldPaths:\n    - spec.template.spec.containers.[name=cart].resources.limits.memory\n",
            {},
            "which value of cart's resources wins is unknown: a replacement in "
            "overlays/prod/kustomization.yaml writes resources fields, which medic does not evaluate",
        ),
        (
            "resources: [../../base]\npatches:\n- target: {kind: Deployment, name: cart}\n  patch: |\n"
            "    - op: remove\n      path: /spec/template/spec/containers/1/resources/limits\n",
            {},
            "the JSON patch in overlays/prod/kustomization.yaml patches[0].patch removes "
            "/spec/template/spec/containers/1/resources/limits, which medic does not edit",
        ),
    ],
)
def test_a_kustomize_winner_that_cannot_be_told_is_refused(
    kustomization: str, extra: dict[str, str], reason: str
) -> None:
    files = {**BASE, "overlays/prod/kustomization.yaml": kustomization, **extra}
    assert _refusal(_edit(files, KUSTOMIZE)) == reason


def test_a_json_patch_that_sets_only_part_of_the_change_is_refused() -> None:
    files = {**BASE, "overlays/prod/kustomization.yaml": INLINE_JSON}
    both = SetResources(target=CART, mode="gitops", requests={"memory": "512Mi"}, limits={"memory": "512Mi"})
    assert _refusal(_edit(files, KUSTOMIZE, both)) == (
        "overlays/prod/kustomization.yaml patches[0].patch sets only limits.memory of the field, not "
        "requests.memory, which is set elsewhere; medic does not split one change over several places"
    )


def test_a_patch_of_an_overlay_others_include_too_is_refused() -> None:
    files = {**CHAIN, "overlays/staging/kustomization.yaml": "resources:\n- ../common\n"}
    assert _refusal(_edit(files, KUSTOMIZE)) == (
        "the value that wins is set by a patch in overlays/common/memory.yaml, which "
        "overlays/staging/kustomization.yaml also include; an overlay patch is needed"
    )


def test_replicas_set_by_a_json_patch_are_edited_there() -> None:
    files = {
        **BASE,
        "overlays/prod/kustomization.yaml": "resources: [../../base]\npatches:\n"
        "- target: {kind: Deployment, name: cart}\n  patch: |\n    - op: replace\n"
        "      path: /spec/replicas\n      value: 2\n",
    }
    change = _only_change(_edit(files, KUSTOMIZE, Scale(target=CART, mode="gitops", replicas=4)))
    assert change.after == files["overlays/prod/kustomization.yaml"].replace("value: 2", "value: 4")


def test_an_inline_strategic_merge_patch_gets_the_missing_key_in_its_own_indentation() -> None:
    kustomization = """\
resources:
- ../../base
patches:
- target: {kind: Deployment, name: cart}
  patch: |
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: cart
    spec:
      template:
        spec:
          containers:
            - name: cart
              resources:
                limits:
                  memory: 256Mi
"""
    files = {**BASE, "overlays/prod/kustomization.yaml": kustomization}
    both = SetResources(target=CART, mode="gitops", requests={"memory": "512Mi"}, limits={"memory": "512Mi"})
    change = _only_change(_edit(files, KUSTOMIZE, both))
    assert change.after == kustomization.replace(
        "                limits:\n                  memory: 256Mi\n",
        "                limits:\n                  memory: 512Mi\n"
        "                requests:\n                  memory: 512Mi\n",
    )


# --- Helm --------------------------------------------------------------------------------------

CHART_AND_VALUES = [
    {
        "repoURL": "https://charts.example",
        "chart": "jvm-service",
        "targetRevision": "4.2.0",
        "helm": {
            "valueFiles": [
                "$values/values/cart/common.yaml",
                "$values/values/cart/prod.yaml",
                "$values/values/cart/prod-eu.yaml",
            ]
        },
    },
    {"repoURL": "https://git.example/gitops.git", "targetRevision": "main", "ref": "values"},
]
VALUES = {
    "values/cart/common.yaml": """\
# defaults for every environment
resources:
  requests: {cpu: 100m, memory: 256Mi}
  limits: {memory: 256Mi}
""",
    "values/cart/prod.yaml": """\
replicaCount: 3
resources:
  requests:
    cpu: 500m
    memory: 384Mi
  limits:
    memory: 384Mi  # INC-254
""",
    "values/cart/prod-eu.yaml": """\
ingress:
  host: cart.eu.example
""",
}


def test_a_memory_raise_edits_the_second_of_three_values_files_when_the_third_does_not_set_it() -> None:
    change = _only_change(_edit(VALUES, CHART_AND_VALUES))
    assert change.path == "values/cart/prod.yaml"
    assert (
        change.after
        == """\
replicaCount: 3
resources:
  requests:
    cpu: 500m
    memory: 384Mi
  limits:
    memory: 512Mi  # INC-254
"""
    )


APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: cart-prod
  namespace: argocd
spec:
  project: shop
  destination: {server: https://kubernetes.default.svc, namespace: shop}
  sources:
    - repoURL: https://charts.example
      chart: jvm-service
      targetRevision: 4.2.0
      helm:
        valueFiles:
          - $values/values/cart/common.yaml
          - $values/values/cart/prod.yaml
          - $values/values/cart/prod-eu.yaml
        valuesObject:
          resources:
            limits:
              memory: 400Mi   # beats the values files
    - repoURL: https://git.example/gitops.git
      targetRevision: main
      ref: values
"""


def _with_helm(sources: list[dict[str, Any]], **helm: Any) -> list[dict[str, Any]]:
    chart = {**sources[0], "helm": {**sources[0]["helm"], **helm}}
    return [chart, *sources[1:]]


def test_values_object_wins_over_the_values_files_and_is_edited_in_the_application_manifest() -> None:
    files = {**VALUES, "apps/cart-prod.yaml": APPLICATION}
    sources = _with_helm(CHART_AND_VALUES, valuesObject={"resources": {"limits": {"memory": "400Mi"}}})
    change = _only_change(_edit(files, sources, application="cart-prod"))
    assert change.path == "apps/cart-prod.yaml"
    assert change.after == APPLICATION.replace("memory: 400Mi   #", "memory: 512Mi   #")
    assert change.layout == "application"


def test_values_object_set_outside_the_repository_is_refused() -> None:
    sources = _with_helm(CHART_AND_VALUES, valuesObject={"resources": {"limits": {"memory": "400Mi"}}})
    assert _refusal(_edit(VALUES, sources, application="cart-prod")) == (
        "the value that wins is set in Application cart-prod's helm.valuesObject, and its manifest is not "
        "in the GitOps repository"
    )


def test_inline_helm_values_win_over_the_values_files_and_are_edited_in_their_block() -> None:
    manifest = APPLICATION.replace(
        """        valuesObject:
          resources:
            limits:
              memory: 400Mi   # beats the values files
""",
        """        values: |
          resources:
            limits:
              memory: 400Mi
""",
    )
    files = {**VALUES, "apps/cart-prod.yaml": manifest}
    sources = _with_helm(CHART_AND_VALUES, values="resources:\n  limits:\n    memory: 400Mi\n")
    change = _only_change(_edit(files, sources, application="cart-prod"))
    assert change.after == manifest.replace("memory: 400Mi", "memory: 512Mi")


def test_helm_parameters_win_over_everything_and_their_value_is_edited() -> None:
    manifest = APPLICATION.replace(
        """        valuesObject:
          resources:
            limits:
              memory: 400Mi   # beats the values files
""",
        """        parameters:
          - name: resources.limits.memory
            value: "448Mi"
""",
    )
    files = {**VALUES, "apps/cart-prod.yaml": manifest}
    sources = _with_helm(CHART_AND_VALUES, parameters=[{"name": "resources.limits.memory", "value": "480Mi"}])
    assert _refusal(_edit(files, sources, application="cart-prod")) == (
        "apps/cart-prod.yaml gives Application cart-prod another helm.parameters than the one Argo CD runs; "
        "the Application is not synced from Git"
    )
    sources = _with_helm(CHART_AND_VALUES, parameters=[{"name": "resources.limits.memory", "value": "448Mi"}])
    change = _only_change(_edit(files, sources, application="cart-prod"))
    assert change.after == manifest.replace('value: "448Mi"', 'value: "512Mi"')
    both = SetResources(target=CART, mode="gitops", requests={"memory": "512Mi"}, limits={"memory": "512Mi"})
    assert _refusal(_edit(files, sources, both, application="cart-prod")) == (
        "apps/cart-prod.yaml sets only limits.memory of the field, not requests.memory, which is set "
        "elsewhere; medic does not split one change over several places"
    )


# --- ApplicationSet-generated Applications ---------------------------------------------------

LIST_APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: cart
  namespace: argocd
spec:
  generators:
    - list:
        elements:
          - env: staging
            memory: 256Mi
          - env: prod
            memory: 384Mi   # INC-301: raised for the sale
  template:
    metadata:
      name: 'cart-{{env}}'
    spec:
      project: shop
      destination: {server: https://kubernetes.default.svc, namespace: shop}
      source:
        repoURL: https://charts.example
        chart: jvm-service
        targetRevision: 4.2.0
        helm:
          valuesObject:
            resources:
              requests: {cpu: 100m}
              limits:
                memory: '{{memory}}'
"""
GENERATED_SOURCES = [
    {
        "repoURL": "https://charts.example",
        "chart": "jvm-service",
        "targetRevision": "4.2.0",
        "helm": {"valuesObject": {"resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "384Mi"}}}},
    }
]


def test_a_generated_applications_value_is_edited_in_its_list_generator_element() -> None:
    files = {"applicationsets/cart.yaml": LIST_APPSET}
    change = _only_change(_edit(files, GENERATED_SOURCES, application="cart-prod", application_set="cart"))
    assert change.path == "applicationsets/cart.yaml"
    assert change.layout == "applicationset"
    assert change.after == LIST_APPSET.replace("memory: 384Mi   # INC-301", "memory: 512Mi   # INC-301")


def test_a_generated_application_is_never_edited_itself() -> None:
    generated = APPLICATION.replace(
        "  namespace: argocd\n",
        "  namespace: argocd\n  ownerReferences:\n"
        "    - {apiVersion: argoproj.io/v1alpha1, kind: ApplicationSet, name: cart}\n",
    )
    files = {**VALUES, "apps/cart-prod.yaml": generated}
    sources = _with_helm(CHART_AND_VALUES, valuesObject={"resources": {"limits": {"memory": "400Mi"}}})
    assert _refusal(_edit(files, sources, application="cart-prod", application_set="cart")) == (
        "Application cart-prod is generated by ApplicationSet cart, whose manifest is not in the GitOps "
        "repository; medic never edits a generated Application"
    )


def test_a_value_the_template_sets_for_every_generated_application_is_refused() -> None:
    files = {"applicationsets/cart.yaml": LIST_APPSET}
    raise_cpu = SetResources(target=CART, mode="gitops", requests={"cpu": "200m"})
    assert _refusal(
        _edit(files, GENERATED_SOURCES, raise_cpu, application="cart-prod", application_set="cart")
    ) == (
        "applicationsets/cart.yaml sets only limits.memory of the field, not requests.cpu, which is set "
        "elsewhere; medic does not split one change over several places"
    )


GIT_FILES_APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: shop
spec:
  goTemplate: true
  generators:
    - git:
        repoURL: https://git.example/gitops.git
        revision: main
        files:
          - path: "apps/*/config.json"
  template:
    metadata:
      name: '{{.path.basename}}'
    spec:
      project: shop
      destination: {server: https://kubernetes.default.svc, namespace: shop}
      source:
        repoURL: https://charts.example
        chart: jvm-service
        targetRevision: 4.2.0
        helm:
          parameters:
            - name: resources.limits.memory
              value: '{{.memory}}'
            - name: replicaCount
              value: '{{.replicas}}'
"""
CART_CONFIG = """\
{
  "team": "payments",
  "memory": "384Mi",
  "replicas": "2"
}
"""


def test_a_generated_applications_value_is_edited_in_its_git_files_generator_config() -> None:
    files = {
        "applicationsets/shop.yaml": GIT_FILES_APPSET,
        "apps/cart/config.json": CART_CONFIG,
        "apps/ledger/config.json": CART_CONFIG.replace("384Mi", "1Gi"),
    }
    sources = [
        {
            "repoURL": "https://charts.example",
            "chart": "jvm-service",
            "targetRevision": "4.2.0",
            "helm": {
                "parameters": [
                    {"name": "resources.limits.memory", "value": "384Mi"},
                    {"name": "replicaCount", "value": "2"},
                ]
            },
        }
    ]
    change = _only_change(_edit(files, sources, application="cart", application_set="shop"))
    assert change.path == "apps/cart/config.json"
    assert change.after == CART_CONFIG.replace('"384Mi"', '"512Mi"')
    scale = _only_change(
        _edit(
            files,
            sources,
            Scale(target=CART, mode="gitops", replicas=3),
            application="cart",
            application_set="shop",
        )
    )
    assert scale.after == CART_CONFIG.replace('"replicas": "2"', '"replicas": "3"')


def test_values_files_under_a_generated_path_are_edited_as_for_any_application() -> None:
    files = {"applicationsets/cart.yaml": LIST_APPSET, **VALUES}
    change = _only_change(_edit(files, CHART_AND_VALUES, application="cart-prod", application_set="cart"))
    assert change.path == "values/cart/prod.yaml"


@pytest.mark.parametrize(
    ("generator", "reason"),
    [
        (
            "    - clusters: {}\n",
            "Application cart-prod is generated by ApplicationSet cart, through a clusters generator, which "
            "medic does not follow",
        ),
        (
            "    - list:\n        elements:\n          - {env: staging, memory: 256Mi}\n",
            "Application cart-prod is generated by ApplicationSet cart, and no generator element gives "
            "its name",
        ),
    ],
)
def test_generators_medic_does_not_follow_are_refused(generator: str, reason: str) -> None:
    start = LIST_APPSET.index("    - list:")
    end = LIST_APPSET.index("  template:")
    files = {"applicationsets/cart.yaml": LIST_APPSET[:start] + generator + LIST_APPSET[end:]}
    assert (
        _refusal(_edit(files, GENERATED_SOURCES, application="cart-prod", application_set="cart")) == reason
    )


def test_the_declared_value_of_a_piecewise_field_is_put_together() -> None:
    files = {**BASE, "overlays/prod/kustomization.yaml": INLINE_JSON}
    loc = locate_field(
        KUSTOMIZE, CART, "set_resources", files.get, sorted(files), destination_namespace="shop"
    )
    assert isinstance(loc, Located) and loc.inline == ("patches", 0, "patch")
    assert declared_value(loc, files.get) == {"limits": {"memory": "256Mi"}}
    missing = locate_field(KUSTOMIZE, CART, "set_resources", {}.get, [], destination_namespace="shop")
    assert isinstance(missing, NotLocated)


def test_the_observed_files_include_the_generator_source_that_sets_a_generated_applications_value() -> None:
    files = {"applicationsets/cart.yaml": LIST_APPSET, "README.md": "shop\n"}
    shown = relevant_files(
        GENERATED_SOURCES,
        CART.without_container(),
        files.get,
        sorted(files),
        application="cart-prod",
        application_set="cart",
    )
    assert [(f.path, f.role) for f in shown] == [("applicationsets/cart.yaml", "applicationset")]


def test_a_components_patch_applies_to_the_resources_of_the_overlay_that_includes_it() -> None:
    files = {
        **BASE,
        "components/jvm/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- path: heap.yaml
  target: {kind: Deployment}
""",
        "components/jvm/heap.yaml": CHAIN["overlays/common/memory.yaml"],
        "overlays/prod/kustomization.yaml": "resources:\n- ../../base\ncomponents:\n- ../../components/jvm\n",
    }
    change = _only_change(_edit(files, KUSTOMIZE))
    assert change.path == "components/jvm/heap.yaml"
    assert change.after == CHAIN_MEMORY_AFTER


def test_an_inline_json_patch_in_json_syntax_is_edited_in_place() -> None:
    kustomization = (
        "resources: [../../base]\n"
        "patches:\n"
        "- target: {kind: Deployment, name: cart}\n"
        "  patch: |-\n"
        '    [{"op": "replace", "path": "/spec/template/spec/containers/1/resources/limits/memory", '
        '"value": "256Mi"}]\n'
    )
    files = {**BASE, "overlays/prod/kustomization.yaml": kustomization}
    change = _only_change(_edit(files, KUSTOMIZE))
    assert change.after == kustomization.replace('"256Mi"', '"512Mi"')


def test_replicas_set_by_a_helm_parameter_are_edited_in_the_application_manifest() -> None:
    manifest = APPLICATION.replace(
        """        valuesObject:
          resources:
            limits:
              memory: 400Mi   # beats the values files
""",
        """        parameters:
          - name: replicaCount
            value: "3"   # sale week
""",
    )
    files = {**VALUES, "apps/cart-prod.yaml": manifest}
    sources = _with_helm(CHART_AND_VALUES, parameters=[{"name": "replicaCount", "value": "3"}])
    change = _only_change(
        _edit(files, sources, Scale(target=CART, mode="gitops", replicas=5), application="cart-prod")
    )
    assert change.after == manifest.replace('value: "3"   #', 'value: "5"   #')


def test_an_outer_patch_wins_over_an_inner_replicas_entry_and_an_entry_over_its_own_patches() -> None:
    outer_patch = (
        "resources: [../eu]\npatches:\n- target: {kind: Deployment, name: cart}\n"
        "  patch: |\n    - op: replace\n      path: /spec/replicas\n      value: 5\n"
    )
    files = {**CHAIN, "overlays/prod/kustomization.yaml": outer_patch}
    files["overlays/eu/kustomization.yaml"] += "replicas:\n- name: cart\n  count: 3\n"
    change = _only_change(_edit(files, KUSTOMIZE, Scale(target=CART, mode="gitops", replicas=6)))
    assert change.after == outer_patch.replace("value: 5", "value: 6")
    files["overlays/prod/kustomization.yaml"] = outer_patch + "replicas:\n- name: cart\n  count: 4\n"
    change = _only_change(_edit(files, KUSTOMIZE, Scale(target=CART, mode="gitops", replicas=6)))
    assert change.after == files["overlays/prod/kustomization.yaml"].replace("count: 4", "count: 6")


def test_a_patch_that_is_not_valid_yaml_makes_the_winner_unknown() -> None:
    files = {**CHAIN, "overlays/common/probes.yaml": "spec: [unclosed\n"}
    assert _refusal(_edit(files, KUSTOMIZE)) == (
        "which value of cart's resources wins is unknown: the patch overlays/common/probes.yaml of "
        "overlays/common/kustomization.yaml is not valid YAML"
    )


def test_a_literal_template_parameter_of_a_generated_application_is_refused() -> None:
    files = {
        "applicationsets/shop.yaml": GIT_FILES_APPSET.replace("value: '{{.memory}}'", "value: 384Mi"),
        "apps/cart/config.json": CART_CONFIG,
    }
    sources = [
        {
            "repoURL": "https://charts.example",
            "chart": "jvm-service",
            "helm": {"parameters": [{"name": "resources.limits.memory", "value": "384Mi"}]},
        }
    ]
    assert _refusal(_edit(files, sources, application="cart", application_set="shop")) == (
        "Application cart is generated by ApplicationSet shop: the template's helm parameter "
        "resources.limits.memory is the same for every Application it generates"
    )


def test_an_inline_patch_and_an_images_entry_of_one_kustomization_make_one_change() -> None:
    files = {**BASE, "overlays/prod/kustomization.yaml": INLINE_JSON}
    image = SetImage(target=CART, mode="gitops", image="registry.example/shop/cart:3.4.2")
    change = _only_change(_edit(files, KUSTOMIZE, RAISE, image))
    assert change.actions == [0, 1]
    assert change.after == INLINE_JSON.replace("value: 256Mi    #", "value: 512Mi    #").replace(
        'newTag: "3.4.1"', 'newTag: "3.4.2"'
    )


def test_an_inline_patch_with_an_indentation_indicator_is_refused() -> None:
    indicated = INLINE_JSON.replace("    patch: |-\n", "    patch: |2-\n")
    files = {**BASE, "overlays/prod/kustomization.yaml": indicated}
    assert _refusal(_edit(files, KUSTOMIZE)) == (
        "patches[0].patch in overlays/prod/kustomization.yaml is not a literal block scalar (| or |-), "
        "which is the only style medic edits"
    )
