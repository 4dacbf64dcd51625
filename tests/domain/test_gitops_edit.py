"""domain.gitops.edit: the file change each GitOps action makes, diffs checked byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from domain.analysis.plan import Restart, Scale, SetImage, SetResources
from domain.gitops.edit import FileChange, GitOpsEdit, file_changes, unified_diff
from domain.incident.model import ResourceRef
from domain.kube.quantity import parse_quantity
from sandbox.scenario import Scenario, load_named

CART = ResourceRef(namespace="shop", kind="Deployment", name="cart", container="cart")


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = app["spec"]
    return list(spec.get("sources") or [spec["source"]])


def _edit(files: dict[str, str], sources: list[dict[str, Any]], *actions: Any) -> GitOpsEdit:
    return file_changes(list(actions), sources, files.get, sorted(files), destination_namespace="shop")


def _scenario_edit(scenario: Scenario, *actions: Any) -> GitOpsEdit:
    (app,) = scenario.argocd
    return file_changes(
        list(actions),
        _sources(app),
        scenario.gitops.get,
        sorted(scenario.gitops),
        destination_namespace=app["spec"]["destination"]["namespace"],
    )


def _only_change(edit: GitOpsEdit) -> FileChange:
    assert edit.refused == [] and edit.unchanged == [], (edit.refused, edit.unchanged)
    (change,) = edit.changes
    assert change.diff == unified_diff(change.path, change.before, change.after)
    return change


def _expected_action(scenario: Scenario) -> dict[str, Any]:
    (expected,) = [a for a in scenario.expect["actions"] if a["mode"] == "gitops"]
    return expected


# --- the shared scenarios ----------------------------------------------------------------------


OOM_HELM_DIFF = """\
--- a/values/ledger-values.yaml
+++ b/values/ledger-values.yaml
@@ -12,4 +12,4 @@
     memory: 192Mi
   limits:
     cpu: "1"
-    memory: 256Mi   # raised from 192Mi in PR #412
+    memory: 512Mi   # raised from 192Mi in PR #412
"""

OOM_HELM_AFTER = """\
# Ledger service — owned by team-payments
replicaCount: 2

image:
  repository: registry.example/payments/ledger
  tag: "2.8.1"

# JVM sizes its heap from the container limit (MaxRAMPercentage=75)
resources:
  requests:
    cpu: 250m
    memory: 192Mi
  limits:
    cpu: "1"
    memory: 512Mi   # raised from 192Mi in PR #412
"""


def test_oom_helm_values_raises_the_memory_limit_in_the_values_file() -> None:
    scenario = load_named("oom-helm-values")
    expected = _expected_action(scenario)
    low, high = (parse_quantity(q) for q in expected["memory_limit_between"])
    assert low <= parse_quantity("512Mi") <= high
    action = SetResources(
        target=ResourceRef(**expected["target"]),
        mode="gitops",
        file=expected["file"],
        limits={"memory": "512Mi"},
    )
    change = _only_change(_scenario_edit(scenario, action))
    assert change.path == expected["file"] == "values/ledger-values.yaml"
    assert change.diff == OOM_HELM_DIFF
    assert change.after == OOM_HELM_AFTER
    assert change.before == scenario.gitops["values/ledger-values.yaml"]
    assert change.description == (
        "ledger: memory limit 256Mi → 512Mi in values/ledger-values.yaml at resources.limits.memory"
    )
    (field,) = change.fields
    assert (field.yaml_path, field.old, field.new, field.action) == (
        ("resources", "limits", "memory"),
        "256Mi",
        "512Mi",
        0,
    )
    assert change.layout == "helm_values" and change.method == "round_trip"


CRASHLOOP_DIFF = """\
--- a/manifests/shop/checkout/deployment.yaml
+++ b/manifests/shop/checkout/deployment.yaml
@@ -17,7 +17,7 @@
       containers:
         - name: checkout
           # bumped by the release pipeline (release/1.14.0)
-          image: registry.example/shop/checkout:1.14.0
+          image: registry.example/shop/checkout:1.13.2
           args: ["--config=/etc/checkout/config.yaml"]
           ports: [{containerPort: 8080, name: http}]
           readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 5}
"""


def test_crashloop_bad_release_sets_the_previous_image_in_the_manifest() -> None:
    scenario = load_named("crashloop-bad-release")
    expected = _expected_action(scenario)
    action = SetImage(
        target=ResourceRef(**expected["target"]),
        mode="gitops",
        file=expected["file"],
        image=expected["image"],
    )
    change = _only_change(_scenario_edit(scenario, action))
    assert change.path == expected["file"]
    assert change.diff == CRASHLOOP_DIFF
    assert change.description == (
        "checkout: image registry.example/shop/checkout:1.14.0 → registry.example/shop/checkout:1.13.2 "
        "in manifests/shop/checkout/deployment.yaml at spec.template.spec.containers[0].image"
    )
    assert change.layout == "manifest"


IMAGE_PULL_DIFF = """\
--- a/overlays/prod/kustomization.yaml
+++ b/overlays/prod/kustomization.yaml
@@ -6,7 +6,7 @@
 # prod pins an exact release; staging follows main
 images:
   - name: registry.example/web/storefront
-    newTag: 4.2.O
+    newTag: 4.1.9
 patches:
   - path: deployment-prod.yaml
     target:
"""


def test_image_pull_typo_fixes_the_tag_in_the_kustomization() -> None:
    scenario = load_named("image-pull-typo")
    expected = _expected_action(scenario)
    action = SetImage(
        target=ResourceRef(**expected["target"]),
        mode="gitops",
        file=expected["file"],
        image=expected["image"],
    )
    change = _only_change(_scenario_edit(scenario, action))
    assert change.path == expected["file"]
    assert change.diff == IMAGE_PULL_DIFF
    assert change.description == (
        "storefront: image tag 4.2.O → 4.1.9 in overlays/prod/kustomization.yaml at images[0].newTag"
    )
    assert change.layout == "kustomize"


def test_several_actions_in_a_scenario_file_make_one_change() -> None:
    scenario = load_named("oom-helm-values")
    ledger = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
    change = _only_change(
        _scenario_edit(
            scenario,
            SetResources(target=ledger, mode="gitops", limits={"memory": "640Mi"}),
            Scale(target=ledger, mode="gitops", replicas=3),
            SetImage(target=ledger, mode="gitops", image="registry.example/payments/ledger:2.8.2"),
        )
    )
    assert change.actions == [0, 1, 2]
    assert change.diff == (
        "--- a/values/ledger-values.yaml\n"
        "+++ b/values/ledger-values.yaml\n"
        "@@ -1,9 +1,9 @@\n"
        " # Ledger service — owned by team-payments\n"
        "-replicaCount: 2\n"
        "+replicaCount: 3\n"
        " \n"
        " image:\n"
        "   repository: registry.example/payments/ledger\n"
        '-  tag: "2.8.1"\n'
        '+  tag: "2.8.2"\n'
        " \n"
        " # JVM sizes its heap from the container limit (MaxRAMPercentage=75)\n"
        " resources:\n"
        "@@ -12,4 +12,4 @@\n"
        "     memory: 192Mi\n"
        "   limits:\n"
        '     cpu: "1"\n'
        "-    memory: 256Mi   # raised from 192Mi in PR #412\n"
        "+    memory: 640Mi   # raised from 192Mi in PR #412\n"
    )


# --- raw manifests -----------------------------------------------------------------------------

RAW_SOURCES = [{"repoURL": "https://git.example/gitops.git", "targetRevision": "main", "path": "apps/cart"}]

# Four-space mappings, sequences at dash offset 2, comments, quoted and plain scalars, flow
# mappings, three documents — and secret-looking values that must never be rewritten.
CART_MANIFEST = """\
# Cart: the basket service (team-shop)
apiVersion: v1
kind: Secret
metadata:
    name: cart-db
    namespace: shop
stringData:
    password: "hunter2-not-a-real-one"   # rotated by vault
---
apiVersion: apps/v1
kind: Deployment
metadata:
    name: cart
    namespace: shop
    labels: {app: cart, tier: "backend"}
spec:
    replicas: 2
    template:
        spec:
            containers:
              - name: istio-proxy
                image: 'docker.io/istio/proxyv2:1.22.1'
              - name: cart
                # pinned by the release tooling
                image: "registry.example/shop/cart:3.4.0"
                env:
                  - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: cart-db, key: password}}}
                  - name: API_TOKEN
                    value: "tok_live_4f9a8b7c6d5e"
                resources:
                    requests: {cpu: 100m, memory: '96Mi'}
                    limits:
                        memory: 128Mi    # OOMs above 300 rps
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
    ports: [{port: 80, targetPort: 8080}]
"""

CART_MANIFEST_DIFF = """\
--- a/apps/cart/all.yaml
+++ b/apps/cart/all.yaml
@@ -14,7 +14,7 @@
     namespace: shop
     labels: {app: cart, tier: "backend"}
 spec:
-    replicas: 2
+    replicas: 3
     template:
         spec:
             containers:
@@ -22,15 +22,15 @@
                 image: 'docker.io/istio/proxyv2:1.22.1'
               - name: cart
                 # pinned by the release tooling
-                image: "registry.example/shop/cart:3.4.0"
+                image: "registry.example/shop/cart:3.4.1"
                 env:
                   - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: cart-db, key: password}}}
                   - name: API_TOKEN
                     value: "tok_live_4f9a8b7c6d5e"
                 resources:
-                    requests: {cpu: 100m, memory: '96Mi'}
+                    requests: {cpu: 250m, memory: '192Mi'}
                     limits:
-                        memory: 128Mi    # OOMs above 300 rps
+                        memory: 256Mi    # OOMs above 300 rps
 ---
 apiVersion: v1
 kind: Service
"""


def test_a_multi_document_manifest_changes_only_the_changed_scalars() -> None:
    files = {"apps/cart/all.yaml": CART_MANIFEST}
    change = _only_change(
        _edit(
            files,
            RAW_SOURCES,
            SetImage(target=CART, mode="gitops", image="registry.example/shop/cart:3.4.1"),
            SetResources(
                target=CART,
                mode="gitops",
                limits={"memory": "256Mi"},
                requests={"memory": "192Mi", "cpu": "250m"},
            ),
            Scale(target=CART, mode="gitops", replicas=3),
        )
    )
    assert change.diff == CART_MANIFEST_DIFF
    assert change.actions == [0, 1, 2] and {f.document for f in change.fields} == {1}
    assert [f.description for f in change.fields] == [
        "cart: image registry.example/shop/cart:3.4.0 → registry.example/shop/cart:3.4.1 "
        "in apps/cart/all.yaml at spec.template.spec.containers[1].image",
        "cart: memory request 96Mi → 192Mi in apps/cart/all.yaml "
        "at spec.template.spec.containers[1].resources.requests.memory",
        "cart: cpu request 100m → 250m in apps/cart/all.yaml at spec.template.spec.containers[1].resources"
        ".requests.cpu",
        "cart: memory limit 128Mi → 256Mi in apps/cart/all.yaml at spec.template.spec.containers[1].resources"
        ".limits.memory",
        "cart: replicas 2 → 3 in apps/cart/all.yaml at spec.replicas",
    ]
    assert change.description == "; ".join(f.description for f in change.fields)


def test_secret_looking_lines_and_other_documents_stay_byte_identical() -> None:
    files = {"apps/cart/all.yaml": CART_MANIFEST}
    change = _only_change(
        _edit(files, RAW_SOURCES, SetResources(target=CART, mode="gitops", limits={"memory": "1Gi"}))
    )
    before, after = change.before.splitlines(keepends=True), change.after.splitlines(keepends=True)
    assert len(before) == len(after)
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [32]
    assert after[32] == "                        memory: 1Gi      # OOMs above 300 rps\n"
    removed_or_added = [line for line in change.diff.splitlines() if line[:1] in "+-"]
    assert not any("hunter2" in line or "tok_live" in line for line in removed_or_added)
    assert change.after.split("---\n")[0] == CART_MANIFEST.split("---\n")[0]
    assert change.after.split("---\n")[2] == CART_MANIFEST.split("---\n")[2]


WITHOUT_RESOURCES = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  template:
    spec:
      containers:
      - name: cart
        image: registry.example/shop/cart:3.4.0   # pinned
        args: [--port=8080]
      - name: envoy
        image: envoyproxy/envoy:v1.31.0
"""


def test_missing_keys_are_added_with_the_files_indentation() -> None:
    files = {"apps/cart/deployment.yaml": WITHOUT_RESOURCES}
    change = _only_change(
        _edit(
            files,
            RAW_SOURCES,
            SetResources(target=CART, mode="gitops", limits={"memory": "256Mi"}, requests={"cpu": "1"}),
            Scale(target=CART, mode="gitops", replicas=2),
        )
    )
    assert (
        change.diff
        == """\
--- a/apps/cart/deployment.yaml
+++ b/apps/cart/deployment.yaml
@@ -8,5 +8,11 @@
       - name: cart
         image: registry.example/shop/cart:3.4.0   # pinned
         args: [--port=8080]
+        resources:
+          requests:
+            cpu: 1
+          limits:
+            memory: 256Mi
       - name: envoy
         image: envoyproxy/envoy:v1.31.0
+  replicas: 2
"""
    )
    assert [f.old for f in change.fields] == [None, None, None]
    assert change.fields[0].description == (
        "cart: cpu request (unset) → 1 in apps/cart/deployment.yaml "
        "at spec.template.spec.containers[0].resources.requests.cpu"
    )


# --- Helm values -------------------------------------------------------------------------------

VALUES_REF_SOURCES = [
    {
        "repoURL": "https://charts.example/shop",
        "chart": "service",
        "targetRevision": "1.4.0",
        "helm": {"valueFiles": ["$values/values/cart-values.yaml"]},
    },
    {"repoURL": "https://git.example/gitops.git", "targetRevision": "main", "ref": "values"},
]

CART_VALUES = """\
## cart — values for the shared "service" chart
replicaCount: 2

image:
    repository: registry.example/shop/cart
    tag: 1.9          # plain: YAML reads this as a number
    pullPolicy: IfNotPresent

resources:
    limits:
        cpu: "500m"
        memory: 128Mi
    requests: {cpu: 100m, memory: 64Mi}

env:
- name: API_KEY
  value: "sk-cart-0000-placeholder"
"""


def test_helm_values_through_a_values_ref() -> None:
    files = {"values/cart-values.yaml": CART_VALUES}
    change = _only_change(
        _edit(files, VALUES_REF_SOURCES, SetResources(target=CART, mode="gitops", limits={"memory": "256Mi"}))
    )
    assert change.description == (
        "cart: memory limit 128Mi → 256Mi in values/cart-values.yaml at resources.limits.memory"
    )
    assert change.diff == (
        "--- a/values/cart-values.yaml\n"
        "+++ b/values/cart-values.yaml\n"
        "@@ -9,7 +9,7 @@\n"
        " resources:\n"
        "     limits:\n"
        '         cpu: "500m"\n'
        "-        memory: 128Mi\n"
        "+        memory: 256Mi\n"
        "     requests: {cpu: 100m, memory: 64Mi}\n"
        " \n"
        " env:\n"
    )


def test_a_numeric_looking_tag_stays_a_string_and_a_new_repository_is_set_too() -> None:
    files = {"values/cart-values.yaml": CART_VALUES}
    change = _only_change(
        _edit(
            files, VALUES_REF_SOURCES, SetImage(target=CART, mode="gitops", image="ghcr.io/example/cart:1.10")
        )
    )
    assert change.diff == (
        "--- a/values/cart-values.yaml\n"
        "+++ b/values/cart-values.yaml\n"
        "@@ -2,8 +2,8 @@\n"
        " replicaCount: 2\n"
        " \n"
        " image:\n"
        "-    repository: registry.example/shop/cart\n"
        "-    tag: 1.9          # plain: YAML reads this as a number\n"
        "+    repository: ghcr.io/example/cart\n"
        '+    tag: "1.10"       # plain: YAML reads this as a number\n'
        "     pullPolicy: IfNotPresent\n"
        " \n"
        " resources:\n"
    )
    assert [f.yaml_path for f in change.fields] == [("image", "repository"), ("image", "tag")]


IN_REPO_CHART = {
    "charts/cart/Chart.yaml": "apiVersion: v2\nname: cart\nversion: 0.1.0\n",
    "charts/cart/values.yaml": (
        "replicaCount: 1\nimage:\n  repository: registry.example/shop/cart\n  tag: ''\nresources: {}\n"
    ),
    "charts/cart/values-prod.yaml": (
        '# prod overrides\nreplicaCount: 3\nimage: {tag: "3.4.0"}\nresources:\n  limits:\n    memory: 256Mi\n'
    ),
}
IN_REPO_SOURCES = [
    {
        "repoURL": "https://git.example/gitops.git",
        "targetRevision": "main",
        "path": "charts/cart",
        "helm": {"valueFiles": ["values-prod.yaml"]},
    }
]


def test_helm_values_relative_to_an_in_repository_chart() -> None:
    change = _only_change(
        _edit(
            IN_REPO_CHART,
            IN_REPO_SOURCES,
            Scale(target=CART, mode="gitops", replicas=5),
            SetImage(target=CART, mode="gitops", image="registry.example/shop/cart:3.4.1"),
            SetResources(target=CART, mode="gitops", limits={"cpu": "1"}),
        )
    )
    assert change.path == "charts/cart/values-prod.yaml" and change.actions == [0, 1, 2]
    assert (
        change.diff
        == """\
--- a/charts/cart/values-prod.yaml
+++ b/charts/cart/values-prod.yaml
@@ -1,6 +1,7 @@
 # prod overrides
-replicaCount: 3
-image: {tag: "3.4.0"}
+replicaCount: 5
+image: {tag: "3.4.1"}
 resources:
   limits:
     memory: 256Mi
+    cpu: 1
"""
    )


def test_a_repository_from_the_charts_defaults_is_overridden_where_the_tag_is_set() -> None:
    change = _only_change(
        _edit(
            IN_REPO_CHART,
            IN_REPO_SOURCES,
            SetImage(target=CART, mode="gitops", image="ghcr.io/example/cart:3.4.1"),
        )
    )
    assert (
        change.diff
        == """\
--- a/charts/cart/values-prod.yaml
+++ b/charts/cart/values-prod.yaml
@@ -1,6 +1,6 @@
 # prod overrides
 replicaCount: 3
-image: {tag: "3.4.0"}
+image: {tag: "3.4.1", repository: ghcr.io/example/cart}
 resources:
   limits:
     memory: 256Mi
"""
    )
    assert change.method == "round_trip"  # a line edit cannot add to a flow mapping


EMPTY_RESOURCES = """\
replicaCount: 1
image:
  repository: registry.example/shop/cart
  tag: 3.4.0

resources: {}   # set per environment

nodeSelector: {}
"""


def test_empty_helm_resources_become_a_block() -> None:
    files = {"values/cart-values.yaml": EMPTY_RESOURCES}
    change = _only_change(
        _edit(
            files,
            VALUES_REF_SOURCES,
            SetResources(
                target=CART, mode="gitops", limits={"memory": "256Mi"}, requests={"memory": "128Mi"}
            ),
        )
    )
    assert change.diff == (
        "--- a/values/cart-values.yaml\n"
        "+++ b/values/cart-values.yaml\n"
        "@@ -3,6 +3,10 @@\n"
        "   repository: registry.example/shop/cart\n"
        "   tag: 3.4.0\n"
        " \n"
        "-resources: {}   # set per environment\n"
        "+resources:      # set per environment\n"
        "+  requests:\n"
        "+    memory: 128Mi\n"
        "+  limits:\n"
        "+    memory: 256Mi\n"
        " \n"
        " nodeSelector: {}\n"
    )


# --- Kustomize ---------------------------------------------------------------------------------

KUSTOMIZE_SOURCES = [
    {"repoURL": "https://git.example/gitops.git", "targetRevision": "main", "path": "overlays/prod"}
]
KUSTOMIZE_BASE = {
    "base/kustomization.yaml": "resources: [deployment.yaml]\n",
    "base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart}
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: cart
        image: registry.example/shop/cart
        resources:
          limits: {memory: 128Mi}
""",
}
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop
resources:
- ../../base       # the shared base
images:
- name: registry.example/shop/cart
  newTag: "3.4.0"
replicas:
- {name: cart, count: 2}
patches:
- path: resources.yaml
  target: {kind: Deployment, name: cart}
"""
OVERLAY_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart}
spec:
  template:
    spec:
      containers:
      - name: cart
        resources: {limits: {memory: 1Gi}, requests: {memory: 512Mi}}
"""


def test_kustomize_images_replicas_and_patch() -> None:
    files = {
        **KUSTOMIZE_BASE,
        "overlays/prod/kustomization.yaml": OVERLAY,
        "overlays/prod/resources.yaml": OVERLAY_PATCH,
    }
    edit = _edit(
        files,
        KUSTOMIZE_SOURCES,
        SetImage(target=CART, mode="gitops", image="ghcr.io/example/cart:3.4.1"),
        Scale(target=CART, mode="gitops", replicas=4),
        SetResources(target=CART, mode="gitops", limits={"memory": "2Gi"}),
    )
    assert edit.complete and edit.unchanged == []
    kustomization, patch = edit.changes
    assert (kustomization.path, kustomization.actions) == ("overlays/prod/kustomization.yaml", [0, 1])
    assert (
        kustomization.diff
        == """\
--- a/overlays/prod/kustomization.yaml
+++ b/overlays/prod/kustomization.yaml
@@ -5,9 +5,10 @@
 - ../../base       # the shared base
 images:
 - name: registry.example/shop/cart
-  newTag: "3.4.0"
+  newTag: "3.4.1"
+  newName: ghcr.io/example/cart
 replicas:
-- {name: cart, count: 2}
+- {name: cart, count: 4}
 patches:
 - path: resources.yaml
   target: {kind: Deployment, name: cart}
"""
    )
    assert (patch.path, patch.actions) == ("overlays/prod/resources.yaml", [2])
    assert (
        patch.diff
        == """\
--- a/overlays/prod/resources.yaml
+++ b/overlays/prod/resources.yaml
@@ -6,4 +6,4 @@
     spec:
       containers:
       - name: cart
-        resources: {limits: {memory: 1Gi}, requests: {memory: 512Mi}}
+        resources: {limits: {memory: 2Gi}, requests: {memory: 512Mi}}
"""
    )
    assert [f.description for f in kustomization.fields] == [
        "cart: image name (unset) → ghcr.io/example/cart in overlays/prod/kustomization.yaml "
        "at images[0].newName",
        "cart: image tag 3.4.0 → 3.4.1 in overlays/prod/kustomization.yaml at images[0].newTag",
        "cart: replicas 2 → 4 in overlays/prod/kustomization.yaml at replicas[0].count",
    ]


def test_kustomize_adds_missing_images_and_replicas_entries() -> None:
    bare = "resources:\n  - ../../base\n# replicas and images come from the base\n"
    files = {**KUSTOMIZE_BASE, "overlays/prod/kustomization.yaml": bare}
    change = _only_change(
        _edit(
            files,
            KUSTOMIZE_SOURCES,
            SetImage(target=CART, mode="gitops", image="registry.example/shop/cart:1.10"),
            Scale(target=CART, mode="gitops", replicas=3),
        )
    )
    assert change.after == (
        "resources:\n"
        "  - ../../base\n"
        "images:\n"
        "  - name: registry.example/shop/cart\n"
        '    newTag: "1.10"\n'
        "replicas:\n"
        "  - name: cart\n"
        "    count: 3\n"
        "# replicas and images come from the base\n"
    )
    assert change.diff == (
        "--- a/overlays/prod/kustomization.yaml\n"
        "+++ b/overlays/prod/kustomization.yaml\n"
        "@@ -1,3 +1,9 @@\n"
        " resources:\n"
        "   - ../../base\n"
        "+images:\n"
        "+  - name: registry.example/shop/cart\n"
        '+    newTag: "1.10"\n'
        "+replicas:\n"
        "+  - name: cart\n"
        "+    count: 3\n"
        " # replicas and images come from the base\n"
    )
    assert change.fields[0].description == (
        'cart: adds images entry {name: registry.example/shop/cart, newTag: "1.10"} '
        "in overlays/prod/kustomization.yaml at images[0]"
    )


def test_kustomize_appends_entries_in_the_lists_own_style() -> None:
    kustomization = (
        "resources:\n"
        "    - ../../base\n"
        "images:\n"
        "    -   name: docker.io/library/redis\n"
        "        newTag: 7.2.4\n"
        "replicas: []\n"
    )
    files = {**KUSTOMIZE_BASE, "overlays/prod/kustomization.yaml": kustomization}
    change = _only_change(
        _edit(
            files,
            KUSTOMIZE_SOURCES,
            SetImage(target=CART, mode="gitops", image="ghcr.io/example/cart:3.4.1"),
            Scale(target=CART, mode="gitops", replicas=3),
        )
    )
    assert (
        change.diff
        == """\
--- a/overlays/prod/kustomization.yaml
+++ b/overlays/prod/kustomization.yaml
@@ -3,4 +3,9 @@
 images:
     -   name: docker.io/library/redis
         newTag: 7.2.4
-replicas: []
+    -   name: registry.example/shop/cart
+        newName: ghcr.io/example/cart
+        newTag: 3.4.1
+replicas:
+    - name: cart
+      count: 3
"""
    )
    assert change.method == "line"  # ruamel.yaml would re-indent the existing `-   name:` item


# --- when ruamel.yaml would reformat: a line edit, checked the same way ------------------------

MIXED_INDENTATION = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  template:
    spec:
      containers:
      - name: cart
        image: registry.example/shop/cart:3.4.0
        ports:
          - containerPort: 8080
          - containerPort: 9090   # metrics
        resources:
          limits:
            memory: 128Mi
          # requests are set by the VPA
      tolerations:
        - {key: spot, operator: Exists}
"""


def test_a_file_with_mixed_sequence_styles_is_edited_line_by_line() -> None:
    files = {"apps/cart/deployment.yaml": MIXED_INDENTATION}
    change = _only_change(
        _edit(
            files,
            RAW_SOURCES,
            SetResources(target=CART, mode="gitops", limits={"memory": "256Mi", "cpu": "500m"}),
        )
    )
    assert change.method == "line"
    assert (
        change.diff
        == """\
--- a/apps/cart/deployment.yaml
+++ b/apps/cart/deployment.yaml
@@ -12,7 +12,8 @@
           - containerPort: 9090   # metrics
         resources:
           limits:
-            memory: 128Mi
+            memory: 256Mi
+            cpu: 500m
           # requests are set by the VPA
       tolerations:
         - {key: spot, operator: Exists}
"""
    )


def test_crlf_line_endings_are_kept() -> None:
    files = {"values/cart-values.yaml": EMPTY_RESOURCES.replace("\n", "\r\n")}
    change = _only_change(
        _edit(
            files,
            VALUES_REF_SOURCES,
            SetResources(target=CART, mode="gitops", limits={"memory": "256Mi"}),
            Scale(target=CART, mode="gitops", replicas=2),
        )
    )
    assert change.after == (
        "replicaCount: 2\r\n"
        "image:\r\n"
        "  repository: registry.example/shop/cart\r\n"
        "  tag: 3.4.0\r\n"
        "\r\n"
        "resources:      # set per environment\r\n"
        "  limits:\r\n"
        "    memory: 256Mi\r\n"
        "\r\n"
        "nodeSelector: {}\r\n"
    )


def test_a_missing_final_newline_stays_missing() -> None:
    files = {"values/cart-values.yaml": "image: {repository: registry.example/shop/cart, tag: 3.4.0}"}
    change = _only_change(
        _edit(
            files,
            VALUES_REF_SOURCES,
            SetImage(target=CART, mode="gitops", image="registry.example/shop/cart:3.4.1"),
        )
    )
    assert change.after == "image: {repository: registry.example/shop/cart, tag: 3.4.1}"
    assert change.diff == (
        "--- a/values/cart-values.yaml\n"
        "+++ b/values/cart-values.yaml\n"
        "@@ -1 +1 @@\n"
        "-image: {repository: registry.example/shop/cart, tag: 3.4.0}\n"
        "\\ No newline at end of file\n"
        "+image: {repository: registry.example/shop/cart, tag: 3.4.1}\n"
        "\\ No newline at end of file\n"
    )


# --- nothing to change, and refusals -----------------------------------------------------------


def test_a_value_already_set_makes_no_change() -> None:
    files = {"values/cart-values.yaml": CART_VALUES}
    edit = _edit(
        files,
        VALUES_REF_SOURCES,
        SetResources(target=CART, mode="gitops", limits={"memory": "128Mi", "cpu": "0.5"}),
        Scale(target=CART, mode="gitops", replicas=2),
    )
    assert edit.changes == [] and edit.refused == [] and edit.complete
    assert [(f.action, f.old, f.new) for f in edit.unchanged] == [
        (0, "128Mi", "128Mi"),
        (0, "500m", "0.5"),
        (1, "2", "2"),
    ]
    assert edit.unchanged[0].description == (
        "cart: memory limit is already 128Mi in values/cart-values.yaml at resources.limits.memory"
    )


def test_a_partly_applied_action_changes_only_what_differs() -> None:
    files = {"values/cart-values.yaml": CART_VALUES}
    edit = _edit(
        files,
        VALUES_REF_SOURCES,
        SetResources(target=CART, mode="gitops", limits={"memory": "128Mi", "cpu": "1"}),
    )
    (change,) = edit.changes
    assert [f.yaml_path for f in change.fields] == [("resources", "limits", "cpu")]
    assert [f.yaml_path for f in edit.unchanged] == [("resources", "limits", "memory")]
    assert '-        cpu: "500m"\n+        cpu: "1"\n' in change.diff


def _refusal(edit: GitOpsEdit) -> str:
    assert edit.changes == []
    (refused,) = edit.refused
    return refused.reason


def test_a_workload_no_file_defines_is_refused() -> None:
    other = ResourceRef(namespace="shop", kind="Deployment", name="basket", container="basket")
    edit = _edit(
        {"apps/cart/all.yaml": CART_MANIFEST}, RAW_SOURCES, Scale(target=other, mode="gitops", replicas=2)
    )
    assert _refusal(edit) == "no Deployment shop/basket in the manifests under apps/cart/"


@pytest.mark.parametrize(
    ("files", "sources", "action", "reason"),
    [
        (
            {"apps/cart/all.yaml": CART_MANIFEST, "apps/cart/copy.yaml": CART_MANIFEST},
            RAW_SOURCES,
            SetImage(target=CART, mode="gitops", image="registry.example/shop/cart:3.4.1"),
            "Deployment cart is defined more than once: apps/cart/all.yaml, apps/cart/copy.yaml",
        ),
        (
            {
                "apps/cart/all.yaml": CART_MANIFEST,
                "apps/cart/hpa.yaml": "kind: HorizontalPodAutoscaler\nmetadata: {name: cart}\n"
                "spec: {scaleTargetRef: {kind: Deployment, name: cart}}\n",
            },
            RAW_SOURCES,
            Scale(target=CART, mode="gitops", replicas=3),
            "HorizontalPodAutoscaler cart (apps/cart/hpa.yaml) decides the replicas",
        ),
        (
            {"values/cart-values.yaml": "podAnnotations: {}\n"},
            VALUES_REF_SOURCES,
            SetResources(target=CART, mode="gitops", limits={"memory": "256Mi"}),
            "no values file of the Application sets resources (values/cart-values.yaml); "
            "where the chart reads it from is unknown",
        ),
        (
            {"overlays/prod/kustomization.yaml": "resources: [https://github.com/example/cart//base]\n"},
            KUSTOMIZE_SOURCES,
            Scale(target=CART, mode="gitops", replicas=3),
            "the kustomization in overlays/prod/ yields no Deployment cart (overlays/prod/kustomization.yaml "
            "includes a remote resource (https://github.com/example/cart//base) medic cannot read)",
        ),
    ],
    ids=["defined-twice", "hpa", "helm-key-nowhere", "remote-base"],
)
def test_no_file_named_with_confidence_means_a_refusal(
    files: dict[str, str], sources: list[dict[str, Any]], action: Any, reason: str
) -> None:
    assert _refusal(_edit(files, sources, action)) == reason


def test_a_numeric_looking_kustomize_tag_is_quoted() -> None:
    scenario = load_named("image-pull-typo")
    storefront = ResourceRef(namespace="web", kind="Deployment", name="storefront", container="storefront")
    action = SetImage(target=storefront, mode="gitops", image="registry.example/web/storefront:4.10")
    change = _only_change(_scenario_edit(scenario, action))
    assert '-    newTag: 4.2.O\n+    newTag: "4.10"\n' in change.diff


def test_a_repository_set_nowhere_in_the_values_is_refused() -> None:
    files = {"values/cart-values.yaml": "image:\n  tag: 3.4.0\n"}
    edit = _edit(
        files, VALUES_REF_SOURCES, SetImage(target=CART, mode="gitops", image="ghcr.io/example/cart:3.4.1")
    )
    assert "chart's default repository is unknown" in _refusal(edit)


def test_a_repository_in_a_later_values_file_is_refused() -> None:
    sources = [
        {
            **VALUES_REF_SOURCES[0],
            "helm": {"valueFiles": ["$values/values/cart-values.yaml", "$values/values/prod/cart.yaml"]},
        },
        VALUES_REF_SOURCES[1],
    ]
    files = {
        "values/cart-values.yaml": "image:\n  tag: 3.4.0\n",
        "values/prod/cart.yaml": "image:\n  repository: registry.example/shop/cart\n",
    }
    edit = _edit(files, sources, SetImage(target=CART, mode="gitops", image="ghcr.io/example/cart:3.4.1"))
    assert _refusal(edit) == (
        "values/prod/cart.yaml sets image.repository and takes precedence over values/cart-values.yaml, "
        "where the tag is set"
    )


@pytest.mark.parametrize(
    ("values", "image", "reason"),
    [
        (
            "image:\n  registry: registry.example\n  repository: shop/cart\n  tag: 3.4.0\n",
            "ghcr.io/example/cart:3.4.1",
            "not in the registry registry.example",
        ),
        (CART_VALUES, "registry.example/shop/cart@sha256:" + "a" * 64, "pins a digest"),
        (CART_VALUES, "registry.example/shop/cart", "names no tag"),
        (
            "defaults: &defaults\n  limits: {memory: 128Mi}\nresources: *defaults\n",
            None,
            "YAML anchor or alias",
        ),
        (
            "base: &base\n  repository: r\n  tag: '1'\nimage:\n  <<: *base\n",
            "r:2",
            "comes from a YAML merge key",
        ),
        ("resources:\n  limits:\n    memory: >-\n      128Mi\n", None, "not a one-line scalar"),
        (
            "resources: {limits: {memory: 1Gi}}\nresources: {limits: {memory: 2Gi}}\n",
            None,
            'cannot be read for a round-trip edit: found duplicate key "resources"',
        ),
        ("%YAML 1.1\n---\nresources: {limits: {memory: 1Gi}}\n", None, "directives are not edited"),
    ],
    ids=[
        "other-registry",
        "digest",
        "no-tag",
        "anchor",
        "merge-key",
        "folded-scalar",
        "duplicate-key",
        "directive",
    ],
)
def test_values_medic_cannot_edit_safely_are_refused(values: str, image: str | None, reason: str) -> None:
    action: Any = (
        SetImage(target=CART, mode="gitops", image=image)
        if image
        else SetResources(target=CART, mode="gitops", limits={"memory": "256Mi"})
    )
    edit = _edit({"values/cart-values.yaml": values}, VALUES_REF_SOURCES, action)
    assert reason in _refusal(edit)


def test_a_plan_naming_another_file_is_refused() -> None:
    scenario = load_named("oom-helm-values")
    ledger = ResourceRef(namespace="payments", kind="Deployment", name="ledger", container="ledger")
    action = SetResources(target=ledger, mode="gitops", file="values/other.yaml", limits={"memory": "512Mi"})
    assert _refusal(_scenario_edit(scenario, action)) == (
        "the plan names values/other.yaml, but resources is set in values/ledger-values.yaml"
    )


def test_actions_without_a_file_are_refused() -> None:
    edit = _edit(
        {"apps/cart/all.yaml": CART_MANIFEST},
        RAW_SOURCES,
        Restart(target=CART, mode="gitops"),
        Scale(target=CART, mode="direct", replicas=3),
    )
    assert edit.changes == [] and not edit.complete
    assert [(r.action, r.reason) for r in edit.refused] == [
        (0, "a restart changes nothing that Git defines; it is a direct action"),
        (1, "a direct action changes no file"),
    ]


def test_two_actions_setting_one_field_differently_are_not_both_made() -> None:
    edit = _edit(
        {"values/cart-values.yaml": CART_VALUES},
        VALUES_REF_SOURCES,
        Scale(target=CART, mode="gitops", replicas=3),
        Scale(target=CART, mode="gitops", replicas=4),
    )
    (change,) = edit.changes
    assert change.actions == [0]
    (refused,) = edit.refused
    assert (refused.action, refused.reason) == (1, "action 0 sets replicaCount to 3, this one to 4")
    twice = Scale(target=CART, mode="gitops", replicas=3)
    edit = _edit({"values/cart-values.yaml": CART_VALUES}, VALUES_REF_SOURCES, twice, twice)
    assert [c.actions for c in edit.changes] == [[0]]
    assert [(r.action, r.reason) for r in edit.refused] == [(1, "action 0 already sets replicaCount to 3")]


def test_an_edit_that_would_reformat_other_lines_is_refused() -> None:
    # Adding to the flow mapping needs the round trip, which would re-indent the other sequence style.
    manifest = MIXED_INDENTATION.replace(
        "        resources:\n          limits:\n            memory: 128Mi\n",
        "        resources: {limits: {memory: 128Mi}}\n",
    )
    edit = _edit(
        {"apps/cart/deployment.yaml": manifest},
        RAW_SOURCES,
        SetResources(target=CART, mode="gitops", requests={"cpu": "1"}),
    )
    assert _refusal(edit) == (
        "editing apps/cart/deployment.yaml would reformat more than the changed lines "
        "(spec.template.spec.containers[0].resources is a flow mapping), and a line edit cannot add to it"
    )
