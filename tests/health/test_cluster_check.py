"""`medic doctor`'s Argo CD check says which cluster this medic is (README "Clusters"), and warns
when the one configured is not in Argo CD's cluster list or the list cannot be read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.settings import Settings
from health.checks import _Verdict, check_argocd
from sandbox.argocd_api import SandboxArgoCD
from sandbox.scenario import load_named

TOKEN = "doctor-token"


@pytest.fixture
def argocd() -> Iterator[SandboxArgoCD]:
    apps = load_named("crashloop-bad-release").argocd
    with SandboxArgoCD(
        apps, token=TOKEN, clusters=[{"name": "east", "server": "https://east:6443"}]
    ) as server:
        yield server


def check(argocd: SandboxArgoCD, **cluster: str) -> str:
    settings = Settings(argocd_url=argocd.url, argocd_token=TOKEN, **cluster)
    return check_argocd(settings, {}, timeout=5.0)


def test_the_check_names_this_cluster(argocd: SandboxArgoCD) -> None:
    assert check(argocd).endswith(
        "readable; this medic is cluster in-cluster (https://kubernetes.default.svc)"
    )
    assert check(argocd, cluster_name="east").endswith("this medic is cluster east (https://east:6443)")


def test_a_configured_cluster_argo_cd_does_not_list_is_a_warning(argocd: SandboxArgoCD) -> None:
    with pytest.raises(_Verdict) as verdict:
        check(argocd, cluster_name="west")
    assert verdict.value.status == "warning"
    assert "(west) is not a cluster Argo CD lists" in verdict.value.detail


def test_a_cluster_list_the_token_cannot_read_is_a_warning_once_a_cluster_is_configured(
    argocd: SandboxArgoCD,
) -> None:
    original = argocd.respond

    def no_clusters(method, path, query, headers, body):  # type: ignore[no-untyped-def]
        if path.endswith("/clusters"):
            return 403, argocd.error_body(403, "permission denied")
        return original(method, path, query, headers, body)

    argocd.respond = no_clusters  # type: ignore[method-assign]
    assert check(argocd).endswith("this medic is cluster in-cluster (Argo CD's cluster list is not readable)")
    with pytest.raises(_Verdict) as verdict:
        check(argocd, cluster_name="east")
    assert verdict.value.status == "warning" and "grant the account `clusters, get`" in verdict.value.fix
