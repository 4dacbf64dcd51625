"""Which workloads a deploy changed (`domain.deploy.changes`): a changed or new workload, one that
references a changed ConfigMap or Secret, nothing for a change no workload sees, and how Argo CD is
asked to render single- and multi-source Applications."""

from __future__ import annotations

import copy
from typing import Any

from domain.deploy.changes import deploy_changes, rendering_at
from domain.deploy.model import WorkloadRef


def deployment(name: str, image: str = "shop/app:1", **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}], **pod}}},
    }


def config(kind: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "shop"}, "data": data}


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cart", "namespace": "shop"}}


def test_only_the_workload_whose_manifest_changed_is_watched() -> None:
    before = [deployment("cart"), deployment("checkout"), SERVICE]
    after = [deployment("cart", "shop/app:2"), deployment("checkout"), SERVICE]
    changes = deploy_changes(before, after)
    assert changes.refs == [WorkloadRef(namespace="shop", kind="Deployment", name="cart")]
    assert changes.workloads[0].reasons == ["its manifest changed"]
    assert changes.others == []


def test_a_new_workload_is_changed_and_a_deleted_one_is_only_listed() -> None:
    changes = deploy_changes([deployment("old")], [deployment("new")])
    assert [w.workload.name for w in changes.workloads] == ["new"]
    assert changes.workloads[0].reasons == ["it is new"]
    assert changes.others == ["Deployment shop/old"]


def test_server_fields_and_status_do_not_count_as_changes() -> None:
    live = copy.deepcopy(deployment("cart"))
    live["metadata"]["resourceVersion"] = "42"
    live["status"] = {"replicas": 1}
    assert deploy_changes([deployment("cart")], [live]).workloads == []


def test_a_workload_referencing_a_changed_config_map_or_secret_is_changed() -> None:
    env_from = deployment("cart")
    env_from["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "cart-config"}}
    ]
    mounting = deployment("checkout", volumes=[{"name": "creds", "secret": {"secretName": "checkout-db"}}])
    keyed = deployment("search")
    keyed["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "search-token", "key": "t"}}}
    ]
    untouched = deployment("ledger", volumes=[{"name": "c", "configMap": {"name": "ledger-config"}}])
    workloads = [env_from, mounting, keyed, untouched]
    before = [
        *workloads,
        config("ConfigMap", "cart-config", {"a": "1"}),
        config("Secret", "checkout-db", {"password": "b2xk"}),
        config("Secret", "search-token", {"t": "b2xk"}),
        config("ConfigMap", "ledger-config", {"x": "1"}),
    ]
    after = [
        *workloads,
        config("ConfigMap", "cart-config", {"a": "2"}),
        config("Secret", "checkout-db", {"password": "bmV3"}),
        config("Secret", "search-token", {"t": "bmV3"}),
        config("ConfigMap", "ledger-config", {"x": "1"}),
    ]
    changes = deploy_changes(before, after)
    assert {w.workload.name: w.reasons for w in changes.workloads} == {
        "cart": ["it references ConfigMap shop/cart-config, which changed"],
        "checkout": ["it references Secret shop/checkout-db, which changed"],
        "search": ["it references Secret shop/search-token, which changed"],
    }
    assert changes.others == []
    assert "b2xk" not in changes.model_dump_json() and "bmV3" not in changes.model_dump_json()


def test_a_config_map_nobody_references_or_a_service_changes_no_workload() -> None:
    service = copy.deepcopy(SERVICE)
    service["spec"] = {"ports": [{"port": 81}]}
    before = [deployment("cart"), SERVICE, config("ConfigMap", "unused", {"a": "1"})]
    after = [deployment("cart"), service, config("ConfigMap", "unused", {"a": "2"})]
    changes = deploy_changes(before, after)
    assert changes.workloads == []
    assert changes.others == ["ConfigMap shop/unused", "Service shop/cart"]


def test_a_manifest_without_a_namespace_is_in_the_destination_namespace() -> None:
    bare = deployment("cart")
    del bare["metadata"]["namespace"]
    changed = copy.deepcopy(bare)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "shop/app:2"
    changes = deploy_changes([bare], [changed], namespace="shop")
    assert changes.refs == [WorkloadRef(namespace="shop", kind="Deployment", name="cart")]


def test_rendering_at_a_revision_per_kind_of_application() -> None:
    single = {"spec": {"source": {"repoURL": "https://git.example/gitops.git", "path": "shop"}}}
    assert rendering_at(single, "abc") == {"revision": "abc"}
    multi = {
        "spec": {
            "sources": [
                {"repoURL": "https://charts.example", "chart": "ledger", "targetRevision": "1.2.0"},
                {"repoURL": "https://git.example/gitops.git", "ref": "values"},
                {"repoURL": "https://git.example/gitops", "path": "extra"},
            ]
        }
    }
    assert rendering_at(multi, "abc") == {"revisions": ("abc", "abc"), "source_positions": (2, 3)}
    two_repos = copy.deepcopy(multi)
    two_repos["spec"]["sources"][2]["repoURL"] = "https://git.example/other"
    why = rendering_at(two_repos, "abc")
    assert isinstance(why, str) and "2 Git repositories" in why
