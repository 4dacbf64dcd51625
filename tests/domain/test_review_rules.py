"""The change review's rules: each has a case that finds and a case that does not."""

from __future__ import annotations

from typing import Any

from domain.review.changes import change_set
from domain.review.findings import Finding
from domain.review.rules import find, recommend_rollout
from tests.domain.review_manifests import (
    Manifest,
    changed,
    cluster_role,
    cluster_role_binding,
    container,
    deployment,
    migration_job,
    pdb,
    pvc,
    service,
    statefulset,
)


def findings(before: list[Manifest], after: list[Manifest], category: str | None = None) -> list[Finding]:
    found = find(change_set(before, after))
    return [f for f in found if category is None or f.category == category]


def fields(found: list[Finding]) -> list[str]:
    return [f.field for f in found]


def new_image(d: Manifest, image: str = "registry.example.com/shop/checkout:1.15.0") -> None:
    container(d)["image"] = image


# --- downtime ---


def test_single_replica_recreate_rollout_is_high_downtime_and_recommends_two_replicas() -> None:
    before = deployment(replicas=1)

    def edit(d: Manifest) -> None:
        d["spec"]["strategy"] = {"type": "Recreate"}
        new_image(d)

    after = changed(before, edit)
    found = findings([before], [after], "downtime")
    assert [(f.field, f.severity) for f in found] == [("spec.strategy.type", "high")]
    assert "RollingUpdate → Recreate" in found[0].message
    rollout = recommend_rollout(change_set([before], [after]), found)
    assert rollout == [
        "Deployment shop/checkout: raise replicas to 2 and use RollingUpdate (maxUnavailable 0) "
        "before this change"
    ]


def test_rolling_update_with_spare_replicas_has_no_downtime() -> None:
    before = deployment(replicas=3)
    after = changed(before, new_image)
    assert findings([before], [after], "downtime") == []
    assert recommend_rollout(change_set([before], [after]), []) == [
        "sync as usual and watch the application's health"
    ]


def test_max_unavailable_that_allows_zero_ready_is_downtime() -> None:
    before = deployment(replicas=4)

    def edit(d: Manifest) -> None:
        d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "100%"

    found = findings([before], [changed(before, edit)], "downtime")
    assert [(f.field, f.severity) for f in found] == [
        ("spec.strategy.rollingUpdate.maxUnavailable", "warning")
    ]
    assert "25% → 100%" in found[0].message


def test_max_unavailable_below_replicas_is_not_downtime() -> None:
    before = deployment(replicas=4)

    def edit(d: Manifest) -> None:
        d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 3

    assert findings([before], [changed(before, edit)], "downtime") == []


def test_single_replica_statefulset_rollout_is_downtime() -> None:
    before = statefulset(replicas=1)

    def edit(d: Manifest) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/library/postgres:16.5"

    assert fields(findings([before], [changed(before, edit)], "downtime")) == ["spec.replicas"]
    three = statefulset(replicas=3)
    assert findings([three], [changed(three, edit)], "downtime") == []


def test_selector_change_forces_replacement() -> None:
    before = deployment()

    def edit(d: Manifest) -> None:
        d["spec"]["selector"]["matchLabels"]["tier"] = "web"
        d["spec"]["template"]["metadata"]["labels"]["tier"] = "web"

    after = changed(before, edit)
    found = findings([before], [after], "downtime")
    assert [(f.field, f.severity) for f in found] == [("spec.selector", "high")]
    assert "immutable" in found[0].message
    assert any(
        "new name beside the old one" in line
        for line in recommend_rollout(change_set([before], [after]), found)
    )
    assert findings([before], [changed(before, new_image)], "downtime") == []


def test_statefulset_volume_claim_template_change_forces_replacement_and_is_not_reversible() -> None:
    before = statefulset()

    def edit(d: Manifest) -> None:
        d["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "50Gi"

    found = findings([before], [changed(before, edit)])
    assert {(f.category, f.field) for f in found} >= {
        ("downtime", "spec.volumeClaimTemplates"),
        ("rollback", "spec.volumeClaimTemplates"),
    }


def test_service_cluster_ip_and_external_name_changes_force_replacement() -> None:
    before = service()
    new_ip = service(clusterIP="10.96.200.1")
    external = service(type="ExternalName", externalName="checkout.legacy.example.com", clusterIP=None)
    assert fields(findings([before], [new_ip], "downtime")) == ["spec.clusterIP"]
    assert "ClusterIP → ExternalName" in findings([before], [external], "downtime")[0].message
    other_port = changed(before, lambda s: s["spec"]["ports"][0].update(port=8080))
    assert findings([before], [other_port], "downtime") == []


def test_job_template_change_needs_the_job_recreated() -> None:
    before = migration_job(name="report-nightly", command=["/app/report"])
    after = changed(
        before, lambda j: j["spec"]["template"]["spec"]["containers"][0].update(command=["/app/r2"])
    )
    assert fields(findings([before], [after], "downtime")) == ["spec.template"]
    same_template = changed(before, lambda j: j["spec"].update(backoffLimit=3))
    assert findings([before], [same_template], "downtime") == []


def test_disruption_budget_that_allows_no_eviction_blocks_drains() -> None:
    workload = deployment(replicas=2)
    blocking = findings([workload], [workload, pdb(minAvailable=2)], "downtime")
    assert fields(blocking) == ["spec.minAvailable"]
    assert "blocks" in blocking[0].message or "block" in blocking[0].message
    assert fields(findings([workload], [workload, pdb(maxUnavailable=0)], "downtime")) == [
        "spec.maxUnavailable"
    ]
    assert findings([workload], [workload, pdb(minAvailable=1)], "downtime") == []
    assert findings([workload], [workload, pdb(maxUnavailable="10%")], "downtime") == []


def test_tightened_probe_is_downtime_risk_and_loosened_is_not() -> None:
    before = deployment()
    tight = changed(
        before, lambda d: container(d)["livenessProbe"].update(timeoutSeconds=1, failureThreshold=1)
    )
    found = findings([before], [tight], "downtime")
    assert sorted(fields(found)) == [
        "spec.template.spec.containers[checkout].livenessProbe.failureThreshold",
        "spec.template.spec.containers[checkout].livenessProbe.timeoutSeconds",
    ]
    assert any("2 → 1" in f.message for f in found)
    loose = changed(before, lambda d: container(d)["livenessProbe"].update(timeoutSeconds=5))
    assert findings([before], [loose], "downtime") == []


# --- rollback ---


def test_pvc_resize_is_not_reversible() -> None:
    found = findings([pvc(storage="10Gi")], [pvc(storage="50Gi")], "rollback")
    assert fields(found) == ["spec.resources.requests.storage"]
    assert "10Gi → 50Gi" in found[0].message
    assert (
        findings([pvc()], [changed(pvc(), lambda p: p["metadata"].update(labels={"a": "b"}))], "rollback")
        == []
    )


def test_deleted_claims_and_crds_are_not_reversible() -> None:
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "carts.shop.example.com"},
        "spec": {
            "group": "shop.example.com",
            "names": {"kind": "Cart", "plural": "carts"},
            "scope": "Namespaced",
        },
    }
    found = findings([pvc(), crd], [], "rollback")
    assert sorted((f.object.kind, f.severity) for f in found) == [
        ("CustomResourceDefinition", "high"),
        ("PersistentVolumeClaim", "high"),
    ]
    assert findings([service()], [], "rollback") == []


def test_migration_hook_is_not_reversible_and_other_jobs_are() -> None:
    found = findings([], [migration_job()], "rollback")
    assert [(f.object.name, f.severity) for f in found] == [("checkout-db-migrate", "warning")]
    assert findings([], [migration_job(name="report-nightly", command=["/app/report"])], "rollback") == []


# --- security ---


def test_privileged_host_access_and_capabilities_are_found() -> None:
    before = deployment()

    def edit(d: Manifest) -> None:
        spec = d["spec"]["template"]["spec"]
        spec["hostNetwork"] = True
        spec["hostPID"] = True
        spec["volumes"] = [
            {"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}
        ]
        container(d)["securityContext"] = {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}}

    found = findings([before], [changed(before, edit)], "security")
    assert set(fields(found)) == {
        "spec.template.spec.hostNetwork",
        "spec.template.spec.hostPID",
        "spec.template.spec.volumes[docker-sock].hostPath",
        "spec.template.spec.containers[checkout].securityContext.privileged",
        "spec.template.spec.containers[checkout].securityContext.capabilities.add",
    }
    assert {f.severity for f in found} == {"high"}


def test_unchanged_hardened_workload_has_no_security_finding() -> None:
    before = deployment()
    after = changed(before, lambda d: d["spec"].update(replicas=4))
    assert findings([before], [after], "security") == []


def test_root_user_and_dropped_run_as_non_root_are_found() -> None:
    before = deployment()

    def root(d: Manifest) -> None:
        d["spec"]["template"]["spec"]["securityContext"] = {"runAsUser": 0}

    found = findings([before], [changed(before, root)], "security")
    assert sorted(fields(found)) == [
        "spec.template.spec.securityContext.runAsNonRoot",
        "spec.template.spec.securityContext.runAsUser",
    ]
    assert any("10001 → 0" in f.message for f in found)


def test_latest_and_untagged_images_are_found_and_pinned_ones_are_not() -> None:
    before = deployment()
    latest = findings(
        [before], [changed(before, lambda d: new_image(d, "registry.example.com/shop/checkout:latest"))]
    )
    assert [f.message.split(": ")[-1] for f in latest] == ["tag latest"]
    untagged = findings(
        [before], [changed(before, lambda d: new_image(d, "registry.example.com/shop/checkout"))]
    )
    assert [f.message.split(": ")[-1] for f in untagged] == ["untagged (pulls latest)"]
    digest = "registry.example.com/shop/checkout@sha256:" + "a" * 64
    assert findings([before], [changed(before, lambda d: new_image(d, digest))], "security") == []


def test_image_from_a_registry_new_to_the_change_set_is_found() -> None:
    before = deployment()
    after = changed(before, lambda d: new_image(d, "ghcr.io/someone/checkout:1.15.0"))
    found = findings([before], [after], "security")
    assert len(found) == 1 and "ghcr.io" in found[0].message
    known = changed(before, lambda d: new_image(d, "registry.example.com/shop/checkout:1.15.0"))
    assert findings([before], [known], "security") == []


def test_secret_looking_env_value_is_found_without_its_value() -> None:
    before = deployment()
    token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"

    def edit(d: Manifest) -> None:
        container(d)["env"].append({"name": "GITHUB_TOKEN", "value": token})
        container(d)["env"].append({"name": "FEATURE_FLAGS", "value": "new-checkout"})

    found = findings([before], [changed(before, edit)], "security")
    assert fields(found) == ["spec.template.spec.containers[checkout].env[GITHUB_TOKEN]"]
    assert token not in found[0].model_dump_json()


def test_secret_reference_in_env_is_not_a_finding() -> None:
    before = deployment()

    def edit(d: Manifest) -> None:
        container(d)["env"].append(
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "checkout-api", "key": "token"}}}
        )

    assert findings([before], [changed(before, edit)], "security") == []


def test_rbac_widening_is_found() -> None:
    before = cluster_role()
    wide = cluster_role(
        rules=[
            *before["rules"],
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        ]
    )
    found = findings([before], [wide], "security")
    assert fields(found) == ["rules[1]", "rules[2]"]
    assert "reading Secrets" in found[0].message and "every verb (*)" in found[1].message
    narrow = cluster_role(rules=[{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}])
    assert findings([before], [narrow], "security") == []


def test_binding_to_cluster_admin_is_found() -> None:
    found = findings([cluster_role_binding()], [cluster_role_binding("cluster-admin")], "security")
    assert fields(found) == ["roleRef.name"]
    assert "shop-reader → cluster-admin" in found[0].message and "ServiceAccount ci" in found[0].message
    assert findings([cluster_role_binding()], [cluster_role_binding("view")], "security") == []


# --- other risk ---


def test_deleting_what_serves_or_a_namespace_is_a_risk() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    found = findings([deployment(), namespace], [], "risk")
    assert sorted((f.object.kind, f.severity) for f in found) == [
        ("Deployment", "warning"),
        ("Namespace", "high"),
    ]


def test_deleting_a_config_map_or_changing_a_deployment_is_no_deletion_risk() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags", "namespace": "shop"}}
    before = deployment()
    assert findings([config, before], [changed(before, new_image)], "risk") == []


# --- rollout ---


def test_big_replica_jump_is_rolled_out_in_steps() -> None:
    before = deployment(replicas=3)
    after = changed(before, lambda d: d["spec"].update(replicas=12))
    lines = recommend_rollout(change_set([before], [after]), [])
    assert lines == [
        "Deployment shop/checkout: scale in steps (3 → 7 → 12), "
        "watching capacity and error rates between them"
    ]
    small = changed(before, lambda d: d["spec"].update(replicas=4))
    assert recommend_rollout(change_set([before], [small]), []) == [
        "sync as usual and watch the application's health"
    ]
