"""The drift comparison: desired ⊆ live after normalising, merge keys, quantities, ignore rules,
JSON pointers, Secrets never read, and an Argo CD Application's managed resources."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from domain.drift.diff import (
    application_drift,
    drift_config_from_yaml,
    json_pointer,
    manifest_objects,
    normalise,
    resource_drift,
)
from domain.drift.model import DriftConfig, FieldDrift, IgnoreDifference, ResourceDrift

NO_CONFIG = DriftConfig()


def deployment() -> dict[str, Any]:
    """What Git declares."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"argocd.argoproj.io/tracking-id": "shop-web:apps/Deployment:shop/web"},
            "creationTimestamp": None,
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "registry.example/web:1.2.0",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "MODE", "value": "prod"}],
                            "resources": {
                                "requests": {"cpu": "0.5", "memory": "1Gi"},
                                "limits": {"cpu": 1, "memory": "2Gi"},
                            },
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
                        },
                        {"name": "proxy", "image": "registry.example/proxy:2.0"},
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
                },
            },
        },
        "status": {},
    }


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns for it: defaults filled in, its own metadata, a status,
    quantities in canonical form, containers in another order."""
    live = copy.deepcopy(desired)
    meta = live["metadata"]
    meta.pop("creationTimestamp")
    meta.update(
        uid="0b7c6f6e-1111-4a4a-9999-1d2a3b4c5d6e",
        resourceVersion="48812291",
        generation=7,
        creationTimestamp="2026-11-20T10:00:00Z",
        managedFields=[{"manager": "argocd-controller", "operation": "Apply"}],
    )
    meta["annotations"]["deployment.kubernetes.io/revision"] = "7"
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(desired)
    spec = live["spec"]
    spec["progressDeadlineSeconds"] = 600
    spec["revisionHistoryLimit"] = 10
    spec["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    pod = spec["template"]["spec"]
    pod.update(restartPolicy="Always", dnsPolicy="ClusterFirst", terminationGracePeriodSeconds=30)
    web, proxy = pod["containers"]
    web["ports"][0]["protocol"] = "TCP"
    web["terminationMessagePath"] = "/dev/termination-log"
    web["imagePullPolicy"] = "IfNotPresent"
    web["resources"] = {
        "requests": {"cpu": "500m", "memory": "1024Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    pod["containers"] = [proxy, web]
    pod["volumes"][0]["configMap"]["defaultMode"] = 420
    live["status"] = {"replicas": 3, "readyReplicas": 3, "observedGeneration": 7}
    return live


def drift_of(desired: dict[str, Any], live: dict[str, Any] | None, config: DriftConfig = NO_CONFIG) -> Any:
    meta = desired["metadata"]
    return resource_drift(
        desired,
        live,
        group="apps" if "/" in desired["apiVersion"] else "",
        kind=desired["kind"],
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        config=config,
    )


def paths(drift: ResourceDrift | None) -> list[str]:
    assert drift is not None
    return [f.path for f in drift.fields]


# --- no drift -----------------------------------------------------------------------------------


def test_server_defaults_metadata_noise_and_status_are_not_drift() -> None:
    desired = deployment()
    assert drift_of(desired, live_of(desired)) is None


def test_equivalent_quantities_are_not_drift() -> None:
    desired, live = deployment(), live_of(deployment())
    containers = live["spec"]["template"]["spec"]["containers"]
    containers[1]["resources"] = {
        "requests": {"cpu": 0.5, "memory": "1073741824"},
        "limits": {"cpu": "1000m"},
    }
    desired["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].pop("memory")
    assert drift_of(desired, live) is None


def test_containers_are_matched_by_name_whatever_their_order() -> None:
    desired, live = deployment(), live_of(deployment())
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["proxy", "web"]
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/proxy:2.1"
    drift = drift_of(desired, live)
    assert drift is not None
    # The pointer indexes the desired list, where `proxy` is second.
    assert drift.fields == [
        FieldDrift(
            path="/spec/template/spec/containers/1/image",
            desired="registry.example/proxy:2.0",
            live="registry.example/proxy:2.1",
        )
    ]


def test_empty_desired_values_the_server_omits_are_not_drift() -> None:
    desired, live = deployment(), live_of(deployment())
    desired["spec"]["template"]["spec"]["containers"][1].update(
        args=[], env=[], securityContext={}, stdin=False
    )
    desired["spec"]["paused"] = False
    assert drift_of(desired, live) is None


def test_normalise_drops_server_fields_and_leaves_the_input_alone() -> None:
    live = live_of(deployment())
    before = copy.deepcopy(live)
    out = normalise(live, kind="Deployment")
    assert live == before
    assert "status" not in out
    assert set(out["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert out["metadata"]["annotations"] == {
        "argocd.argoproj.io/tracking-id": "shop-web:apps/Deployment:shop/web"
    }


# --- drift --------------------------------------------------------------------------------------


def test_a_changed_replica_count_is_drift() -> None:
    desired, live = deployment(), live_of(deployment())
    live["spec"]["replicas"] = 5
    drift = drift_of(desired, live)
    assert drift == ResourceDrift(
        group="apps",
        kind="Deployment",
        namespace="shop",
        name="web",
        fields=[FieldDrift(path="/spec/replicas", desired=3, live=5)],
    )
    assert drift.key == "shop/Deployment/web"


def test_different_quantities_are_drift() -> None:
    desired, live = deployment(), live_of(deployment())
    live["spec"]["template"]["spec"]["containers"][1]["resources"]["limits"]["memory"] = "1Gi"
    drift = drift_of(desired, live)
    assert drift is not None
    assert drift.fields == [
        FieldDrift(path="/spec/template/spec/containers/0/resources/limits/memory", desired="2Gi", live="1Gi")
    ]


def test_a_number_and_a_numeric_string_differ_outside_quantities() -> None:
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}},
    }
    live = copy.deepcopy(service)
    live["spec"]["ports"][0].update(targetPort="8080", protocol="TCP")
    live["spec"]["clusterIP"] = "10.0.0.12"
    assert paths(drift_of(service, live)) == ["/spec/ports/0/targetPort"]
    live["spec"]["ports"][0]["targetPort"] = 8080
    assert drift_of(service, live) is None


def test_a_container_added_live_is_drift_at_the_list() -> None:
    desired, live = deployment(), live_of(deployment())
    live["spec"]["template"]["spec"]["containers"].append({"name": "debug", "image": "busybox"})
    drift = drift_of(desired, live)
    assert drift is not None
    assert drift.fields == [
        FieldDrift(
            path="/spec/template/spec/containers", desired=["web", "proxy"], live=["proxy", "web", "debug"]
        )
    ]


def test_a_container_missing_live_is_drift_at_its_item() -> None:
    desired, live = deployment(), live_of(deployment())
    live["spec"]["template"]["spec"]["containers"] = live["spec"]["template"]["spec"]["containers"][1:]
    drift = drift_of(desired, live)
    assert drift is not None
    assert [(f.path, f.desired, f.live) for f in drift.fields] == [
        ("/spec/template/spec/containers/1", {"image": "registry.example/proxy:2.0", "name": "proxy"}, None)
    ]


def test_env_is_matched_by_name_and_mounts_by_path() -> None:
    desired, live = deployment(), live_of(deployment())
    web = desired["spec"]["template"]["spec"]["containers"][0]
    web["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    web["volumeMounts"].append({"name": "cache", "mountPath": "/cache"})
    desired["spec"]["template"]["spec"]["volumes"].append({"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}})
    live = live_of(desired)
    live_web = live["spec"]["template"]["spec"]["containers"][1]
    live_web["env"].reverse()
    live_web["volumeMounts"].reverse()
    live["spec"]["template"]["spec"]["volumes"][1]["emptyDir"]["sizeLimit"] = "1024Mi"
    assert drift_of(desired, live) is None
    live_web["env"][0]["value"] = "3"  # B, first live
    assert paths(drift_of(desired, live)) == ["/spec/template/spec/containers/0/env/1/value"]


def test_tolerations_are_compared_by_position_with_their_length() -> None:
    desired = deployment()
    desired["spec"]["template"]["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    live = live_of(desired)
    live["spec"]["template"]["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
    drift = drift_of(desired, live)
    assert drift is not None
    assert [(f.path, f.desired, f.live) for f in drift.fields] == [
        ("/spec/template/spec/tolerations/1", None, {"key": "b", "operator": "Exists"})
    ]


def test_lists_of_scalars_are_compared_whole() -> None:
    desired = deployment()
    desired["spec"]["template"]["spec"]["containers"][1]["args"] = ["--a", "--b"]
    live = live_of(desired)
    live["spec"]["template"]["spec"]["containers"][0]["args"] = ["--b", "--a"]
    drift = drift_of(desired, live)
    assert drift is not None
    assert drift.fields == [
        FieldDrift(path="/spec/template/spec/containers/1/args", desired=["--a", "--b"], live=["--b", "--a"])
    ]


def test_finalizers_controllers_add_are_not_drift_but_a_removed_one_is() -> None:
    desired: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "finalizers": ["example.com/keep"]},
        "data": {"k": "v"},
    }
    live = copy.deepcopy(desired)
    live["metadata"]["finalizers"] = ["other.io/cleanup", "example.com/keep"]
    assert drift_of(desired, live) is None
    live["metadata"]["finalizers"] = ["other.io/cleanup"]
    assert paths(drift_of(desired, live)) == ["/metadata/finalizers"]


def test_a_live_label_removed_and_a_value_of_another_type() -> None:
    desired, live = deployment(), live_of(deployment())
    del live["metadata"]["labels"]
    live["spec"]["selector"] = "app=web"
    drift = drift_of(desired, live)
    assert drift is not None
    assert [(f.path, f.desired, f.live) for f in drift.fields] == [
        ("/metadata/labels/app", "web", None),
        ("/spec/selector", {"matchLabels": {"app": "web"}}, "app=web"),
    ]


def test_the_live_object_missing() -> None:
    drift = drift_of(deployment(), None)
    assert drift == ResourceDrift(
        group="apps", kind="Deployment", namespace="shop", name="web", live_missing=True
    )


# --- JSON pointers and values shown -------------------------------------------------------------


def test_json_pointers_escape_slash_and_tilde() -> None:
    assert json_pointer(["metadata", "annotations", "example.com/owner"]) == (
        "/metadata/annotations/example.com~1owner"
    )
    assert json_pointer(["a~b", "c/d~"]) == "/a~0b/c~1d~0"
    desired, live = deployment(), live_of(deployment())
    desired["metadata"]["annotations"]["example.com/owner"] = "team-a"
    live["metadata"]["annotations"]["example.com/owner"] = "team-b"
    assert paths(drift_of(desired, live)) == ["/metadata/annotations/example.com~1owner"]


def test_large_values_are_shortened() -> None:
    desired, live = deployment(), live_of(deployment())
    desired["metadata"]["annotations"]["note"] = "x" * 300
    live["metadata"]["annotations"]["note"] = "y"
    desired["spec"]["template"]["spec"]["containers"].append(
        {"name": "big", "image": "i", "args": [f"--flag-{i}=value" for i in range(60)]}
    )
    drift = drift_of(desired, live)
    assert drift is not None
    note, big = drift.fields
    assert note.path == "/metadata/annotations/note"
    assert note.desired == "x" * 200 + "…" and note.live == "y"
    assert big.path == "/spec/template/spec/containers/2" and big.live is None
    # The large part is summarised, the small ones around it stay readable.
    assert big.desired["name"] == "big"
    assert str(big.desired["args"]).startswith("<list of 60 items, ")
    desired["spec"]["template"]["spec"]["containers"][2] = {
        "name": "big",
        **{f"field{i}": "value" * 5 for i in range(40)},
    }
    drift = drift_of(desired, live)
    assert drift is not None
    assert str(drift.fields[1].desired).startswith("<object with 41 keys, ")


def test_secret_env_values_are_redacted_in_what_is_shown() -> None:
    desired = deployment()
    desired["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": "hunter2-correct-horse"}
    ]
    live = live_of(desired)
    live["spec"]["template"]["spec"]["containers"][1]["env"][0]["value"] = "battery-staple-9"
    drift = drift_of(desired, live)
    assert drift is not None
    (changed,) = drift.fields
    assert changed.path == "/spec/template/spec/containers/0/env/0/value"
    assert "hunter2" not in json.dumps(drift.model_dump()) and "battery" not in json.dumps(drift.model_dump())
    assert str(changed.desired).startswith("[REDACTED")


# --- Secrets -------------------------------------------------------------------------------------


def test_secret_data_is_never_compared_nor_shown() -> None:
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"}},
        "type": "Opaque",
        "data": {"password": "aHVudGVyMg=="},
        "stringData": {"token": "plain"},
    }
    live = copy.deepcopy(secret)
    live["data"] = {"password": "b3RoZXI=", "extra": "eA=="}
    del live["stringData"]
    assert drift_of(secret, live) is None
    assert "data" not in normalise(live, kind="Secret")
    live["metadata"]["labels"]["app"] = "other"
    drift = drift_of(secret, live)
    assert paths(drift) == ["/metadata/labels/app"]
    assert drift is not None and "b3RoZXI" not in json.dumps(drift.model_dump())


# --- ignore rules --------------------------------------------------------------------------------


def test_ignore_differences_by_json_pointer_applies_to_the_matching_resource_only() -> None:
    config = DriftConfig(
        ignore_differences=[
            IgnoreDifference(group="apps", kind="Deployment", name="web", json_pointers=["/spec/replicas"])
        ]
    )
    desired, live = deployment(), live_of(deployment())
    live["spec"]["replicas"] = 9
    assert drift_of(desired, live, config) is None
    other, other_live = copy.deepcopy(desired), copy.deepcopy(live)
    other["metadata"]["name"] = other_live["metadata"]["name"] = "api"
    assert paths(drift_of(other, other_live, config)) == ["/spec/replicas"]


def test_ignore_differences_with_any_group_name_globs_and_a_subtree() -> None:
    config = DriftConfig(
        ignore_differences=[
            IgnoreDifference(kind="Deploy*", name="w*", json_pointers=["/spec/template/spec/containers/0"])
        ]
    )
    desired, live = deployment(), live_of(deployment())
    live["spec"]["template"]["spec"]["containers"][1]["image"] = "registry.example/web:9"
    live["spec"]["template"]["spec"]["containers"][1]["env"] = []
    assert drift_of(desired, live, config) is None
    narrower = DriftConfig(
        ignore_differences=[
            IgnoreDifference(group="batch", json_pointers=["/spec/template/spec/containers/0"])
        ]
    )
    assert len(paths(drift_of(desired, live, narrower))) == 2


def test_ignore_paths_glob_over_kind_and_dotted_path() -> None:
    config = DriftConfig(ignore_paths=["*.metadata.annotations.last-modified"])
    desired, live = deployment(), live_of(deployment())
    desired["metadata"]["annotations"]["last-modified"] = "monday"
    live["metadata"]["annotations"]["last-modified"] = "tuesday"
    assert drift_of(desired, live, config) is None
    assert paths(drift_of(desired, live)) == ["/metadata/annotations/last-modified"]
    # A glob names its field and everything under it.
    subtree = DriftConfig(ignore_paths=["Deployment.spec.template"])
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/proxy:3"
    assert paths(drift_of(desired, live, subtree)) == ["/metadata/annotations/last-modified"]
    other_kind = DriftConfig(ignore_paths=["StatefulSet.metadata.annotations.last-modified"])
    assert "/metadata/annotations/last-modified" in paths(drift_of(desired, live, other_kind))


def test_ignore_difference_dotted_paths() -> None:
    config = DriftConfig(
        ignore_differences=[IgnoreDifference(kind="Deployment", paths=["metadata.annotations.*"])]
    )
    desired, live = deployment(), live_of(deployment())
    desired["metadata"]["annotations"]["example.com/owner"] = "a"
    live["metadata"]["annotations"]["example.com/owner"] = "b"
    assert drift_of(desired, live, config) is None


# --- an Application ------------------------------------------------------------------------------


def managed_item(desired: dict[str, Any] | None, live: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    obj = desired or live or {}
    meta = obj.get("metadata") or {}
    return {
        "group": obj["apiVersion"].split("/")[0] if "/" in obj.get("apiVersion", "") else "",
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name"),
        "targetState": json.dumps(desired) if desired is not None else "null",
        "liveState": json.dumps(live) if live is not None else "null",
        "normalizedLiveState": json.dumps(live) if live is not None else "null",
        "hook": False,
        **extra,
    }


def application(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop-web", "namespace": "argocd"},
        "spec": {
            "project": "shop",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            **spec,
        },
        "status": {
            "sync": {"status": "OutOfSync", "revision": "90b3a132635dbcd8e4ad6cf4cff21a77ffa2156c"},
            "health": {"status": "Healthy"},
        },
    }


def config_map(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"},
        "data": {"k": value},
    }


def test_application_drift_reports_only_drifted_resources_with_the_app_fields() -> None:
    desired = deployment()
    live = live_of(desired)
    live["spec"]["replicas"] = 1
    hook = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "shop"}}
    managed = [
        managed_item(config_map("b", "1"), config_map("b", "2")),
        managed_item(desired, live),
        managed_item(config_map("a", "1"), config_map("a", "1")),
        managed_item(hook, None, hook=True),
        managed_item(None, config_map("orphan", "x")),
        managed_item(config_map("new", "x"), None),
    ]
    drift = application_drift(application(), managed, NO_CONFIG)
    assert (drift.application, drift.app_namespace, drift.project, drift.destination_namespace) == (
        "shop-web",
        "argocd",
        "shop",
        "shop",
    )
    assert (drift.sync_status, drift.health_status) == ("OutOfSync", "Healthy")
    assert drift.revision == "90b3a132635dbcd8e4ad6cf4cff21a77ffa2156c"
    assert drift.resources_scanned == 4  # not the hook, not the live-only object
    assert [(r.kind, r.name, r.live_missing) for r in drift.resources] == [
        ("ConfigMap", "b", False),
        ("ConfigMap", "new", True),
        ("Deployment", "web", False),
    ]
    assert drift.resources[2].fields == [FieldDrift(path="/spec/replicas", desired=3, live=1)]
    assert (drift.disposition, drift.reason) == ("report", "")
    assert drift.drifted and drift.key == "argocd/shop-web"


def test_application_drift_without_drift_and_with_a_multi_source_revision() -> None:
    app = application()
    app["metadata"].pop("namespace")
    app["status"]["sync"] = {"status": "Synced", "revisions": ["abc123", "chart-1.2.3"]}
    desired = deployment()
    drift = application_drift(app, [managed_item(desired, live_of(desired))], NO_CONFIG)
    assert not drift.drifted and drift.resources_scanned == 1
    assert (drift.app_namespace, drift.revision) == ("argocd", "abc123")


def test_application_drift_honours_the_applications_own_ignore_differences() -> None:
    desired = deployment()
    live = live_of(desired)
    live["spec"]["replicas"] = 1
    app = application(
        ignoreDifferences=[{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]
    )
    assert not application_drift(app, [managed_item(desired, live)], NO_CONFIG).drifted
    # Argo CD reads a missing group as the core group: it does not match a Deployment.
    core = application(ignoreDifferences=[{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}])
    assert application_drift(core, [managed_item(desired, live)], NO_CONFIG).drifted


def test_application_drift_refuses_a_state_that_is_not_json() -> None:
    item = managed_item(config_map("a", "1"), None)
    item["liveState"] = "{not json"
    with pytest.raises(ValueError, match="live state of ConfigMap shop/a"):
        application_drift(application(), [item], NO_CONFIG)


def test_application_drift_takes_empty_states_as_none() -> None:
    item = managed_item(config_map("a", "1"), None)
    item["liveState"] = ""
    (resource,) = application_drift(application(), [item], NO_CONFIG).resources
    assert resource.live_missing


# --- the configuration and manifests -------------------------------------------------------------


def test_drift_config_from_yaml() -> None:
    config = drift_config_from_yaml(
        """
schedules:
  - scope: project:shop
    cron: "*/30 * * * *"
ignore_differences:
  - group: apps
    kind: Deployment
    jsonPointers: [/spec/replicas]
ignore_paths: ["*.metadata.annotations.last-modified"]
raw_manifests: yes
page_size: 10
"""
    )
    assert config.schedules[0].scope.label == "project:shop"
    assert config.ignore_differences[0].json_pointers == ["/spec/replicas"]
    assert config.ignore_paths == ["*.metadata.annotations.last-modified"]
    assert config.page_size == 10
    assert drift_config_from_yaml("") == DriftConfig()
    assert drift_config_from_yaml("# nothing yet\n") == DriftConfig()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("schedules: [", "not valid YAML"),
        ("- a\n- b\n", "must be a YAML mapping, not a list"),
        ("page_size: 0\n", "page_size"),
        ("ignore_differences:\n  - jsonPointers: [spec/replicas]\n", "is not a JSON pointer"),
        ("unknown_key: 1\n", "unknown_key"),
        ("raw_manifests: true\nraw_manifests: false\n", "not valid YAML"),
    ],
)
def test_drift_config_errors_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        drift_config_from_yaml(text)


def test_manifest_objects_of_a_multi_document_file() -> None:
    text = """
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: shop, annotations: {at: 2024-01-02}}
---
# a kustomization is no object
resources: [a.yaml]
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Service, metadata: {name: s}}
  - {apiVersion: v1, kind: Service, metadata: {}}
---
"""
    objects = manifest_objects(text)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [("ConfigMap", "a"), ("Service", "s")]
    assert objects[0]["metadata"]["annotations"]["at"] == "2024-01-02"
    with pytest.raises(ValueError, match="not valid YAML"):
        manifest_objects("a: [")
