"""ArgoClient against the sandbox Argo CD API over loopback HTTP, and the ownership helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.incident.model import ResourceRef
from integrations.argocd import (
    ArgoClient,
    ArgoForbidden,
    ArgoInvalid,
    ArgoNotFound,
    ArgoUnavailable,
    owning_application,
    to_argo_application,
    tracked_application,
)
from sandbox.argocd_api import SandboxArgoCD
from sandbox.cluster import SandboxCluster
from sandbox.scenario import load_named

TOKEN = "argo-test-token"


@pytest.fixture
def argocd() -> Iterator[SandboxArgoCD]:
    scenario = load_named("crashloop-bad-release")
    apps = [*scenario.argocd, *load_named("oom-helm-values").argocd]
    with SandboxArgoCD(apps, token=TOKEN, cluster=SandboxCluster(scenario)) as server:
        yield server


@pytest.fixture
def client(argocd: SandboxArgoCD) -> Iterator[ArgoClient]:
    with ArgoClient(argocd.url, TOKEN, timeout=2.0) as client:
        yield client


def _deployment(scenario: str, name: str) -> dict[str, Any]:
    return next(
        o for o in load_named(scenario).cluster if o["kind"] == "Deployment" and o["metadata"]["name"] == name
    )


def test_get_application_returns_spec_and_status(client: ArgoClient) -> None:
    app = client.get_application("shop-checkout")
    assert app["metadata"]["name"] == "shop-checkout"
    assert app["spec"]["source"]["path"] == "manifests/shop/checkout"
    assert app["status"]["health"]["status"] == "Progressing"
    assert (
        client.get_application("shop-checkout", app_namespace="argocd")["metadata"]["name"] == "shop-checkout"
    )


def test_list_applications_filters_by_project(client: ArgoClient) -> None:
    assert {a["metadata"]["name"] for a in client.list_applications()} == {"shop-checkout", "payments-ledger"}
    assert [a["metadata"]["name"] for a in client.list_applications(project="payments")] == [
        "payments-ledger"
    ]
    assert client.list_applications(project="nobody") == []


def test_managed_resources_carry_the_live_state_as_json(client: ArgoClient) -> None:
    items = client.managed_resources("shop-checkout")
    kinds = {(i["kind"], i["name"]) for i in items}
    assert kinds == {("Deployment", "checkout"), ("ConfigMap", "checkout-config")}
    deployment = next(i for i in items if i["kind"] == "Deployment")
    assert '"name": "checkout"' in deployment["liveState"]


def test_unknown_application_is_argo_not_found(client: ArgoClient) -> None:
    with pytest.raises(ArgoNotFound) as caught:
        client.get_application("nope")
    assert caught.value.status == 404 and "not found" in caught.value.message
    with pytest.raises(ArgoNotFound):
        client.get_application("shop-checkout", app_namespace="elsewhere")


def test_missing_or_wrong_token_is_argo_forbidden(argocd: SandboxArgoCD) -> None:
    with ArgoClient(argocd.url, "", timeout=2.0) as anonymous, pytest.raises(ArgoForbidden) as caught:
        anonymous.list_applications()
    assert caught.value.status == 401
    with ArgoClient(argocd.url, "wrong", timeout=2.0) as wrong, pytest.raises(ArgoForbidden) as caught:
        wrong.get_application("shop-checkout")
    assert caught.value.status == 403 and caught.value.message == "permission denied"


def test_server_errors_are_argo_unavailable(argocd: SandboxArgoCD, client: ArgoClient) -> None:
    argocd.fail_next(503)
    with pytest.raises(ArgoUnavailable) as caught:
        client.get_application("shop-checkout")
    assert caught.value.status == 503
    assert client.get_application("shop-checkout")["metadata"]["name"] == "shop-checkout", "one fault only"


def test_a_bad_request_is_argo_invalid(argocd: SandboxArgoCD, client: ArgoClient) -> None:
    argocd.fail_next(400)
    with pytest.raises(ArgoInvalid):
        client.list_applications()


def test_a_slow_server_is_argo_unavailable(argocd: SandboxArgoCD) -> None:
    argocd.delay = 2.0
    with ArgoClient(argocd.url, TOKEN, timeout=0.2) as impatient, pytest.raises(ArgoUnavailable):
        impatient.list_applications()


def test_nothing_listening_is_argo_unavailable() -> None:
    with SandboxArgoCD([]) as server:
        url = server.url
    with ArgoClient(url, TOKEN, timeout=1.0) as client, pytest.raises(ArgoUnavailable):
        client.list_applications()


def test_tracking_id_names_the_owning_application() -> None:
    checkout = _deployment("crashloop-bad-release", "checkout")
    apps = load_named("crashloop-bad-release").argocd
    assert tracked_application(checkout) == (None, "shop-checkout")
    owner = owning_application(checkout, apps)
    assert owner is not None and owner["metadata"]["name"] == "shop-checkout"


def test_a_copied_tracking_id_does_not_count() -> None:
    checkout = _deployment("crashloop-bad-release", "checkout")
    checkout["metadata"]["name"] = "checkout-copy"
    assert tracked_application(checkout) is None


def test_tracking_id_of_an_app_in_another_namespace() -> None:
    checkout = _deployment("crashloop-bad-release", "checkout")
    checkout["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = (
        "team-a_checkout:apps/Deployment:shop/checkout"
    )
    assert tracked_application(checkout) == ("team-a", "checkout")


def test_instance_label_counts_when_the_application_lists_the_workload() -> None:
    storefront = _deployment("image-pull-typo", "storefront")
    apps = load_named("image-pull-typo").argocd
    owner = owning_application(storefront, apps)
    assert owner is not None and owner["metadata"]["name"] == "storefront-prod"
    unlisted = [{**apps[0], "status": {**apps[0]["status"], "resources": []}}]
    assert owning_application(storefront, unlisted) is None


def test_a_workload_no_application_manages_has_no_owner() -> None:
    query_api = _deployment("saturation-direct-scale", "query-api")
    assert owning_application(query_api, load_named("saturation-direct-scale").argocd) is None


def test_to_argo_application_keeps_sync_health_sources_and_the_target_resources() -> None:
    (app,) = load_named("oom-helm-values").argocd
    ledger = ResourceRef(namespace="payments", kind="Deployment", name="ledger")
    typed = to_argo_application(app, [ledger])
    assert typed.id == "argocd/argocd/payments-ledger"
    assert (typed.sync_status, typed.health_status) == ("Synced", "Degraded")
    assert typed.automated and typed.project == "payments" and typed.destination_namespace == "payments"
    assert [s.get("ref") for s in typed.sources] == [None, "values"]
    assert [r["name"] for r in typed.resources] == ["ledger"]
    assert to_argo_application(app, []).resources == []
