"""ArgoClient against the sandbox Argo CD API over loopback HTTP, and the pure helpers beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.incident.model import ResourceRef
from integrations.argocd import (
    ArgoClient,
    ArgoForbidden,
    ArgoInvalid,
    ArgoNotFound,
    ArgoUnavailable,
    to_argo_application,
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
