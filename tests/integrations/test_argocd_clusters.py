"""ArgoClient's view of Argo CD's clusters (README "Clusters"), against the sandbox Argo CD over
loopback HTTP: the cluster list, this cluster resolved from the configured name or server, and an
unreadable list leaving only this cluster's own names certain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.kube.clusters import Cluster
from integrations.argocd import ArgoClient
from sandbox.argocd_api import SandboxArgoCD

TOKEN = "argo-test-token"
EAST = {"name": "east", "server": "https://east.example:6443"}


@pytest.fixture
def argocd() -> Iterator[SandboxArgoCD]:
    with SandboxArgoCD([], token=TOKEN, clusters=[EAST]) as server:
        yield server


def test_the_cluster_list_names_argo_cds_own_cluster_and_the_others(argocd: SandboxArgoCD) -> None:
    with ArgoClient(argocd.url, TOKEN, timeout=2.0) as client:
        listed = client.list_clusters()
    assert [(c["name"], c["server"]) for c in listed] == [
        ("in-cluster", "https://kubernetes.default.svc"),
        ("east", "https://east.example:6443"),
    ]


def test_a_configured_name_is_resolved_to_its_server_through_the_list(argocd: SandboxArgoCD) -> None:
    with ArgoClient(argocd.url, TOKEN, timeout=2.0, cluster_name="east") as client:
        here, listed = client.clusters()
        assert here == Cluster(**EAST)
        assert listed is not None and len(listed) == 2
        app = {"spec": {"destination": {"server": EAST["server"], "namespace": "shop"}}}
        assert client.placement(app).where == "here"
        assert client.placement({"spec": {"destination": {"name": "in-cluster"}}}).where == "elsewhere"


def test_the_list_is_read_once_and_kept(argocd: SandboxArgoCD) -> None:
    with ArgoClient(argocd.url, TOKEN, timeout=2.0) as client:
        client.clusters()
        argocd.fail_next(503)
        # a second look within the time it is kept asks nothing (the failure waits unused)
        assert client.clusters()[1] is not None


def test_a_list_that_cannot_be_read_leaves_only_this_clusters_own_names_certain(
    argocd: SandboxArgoCD,
) -> None:
    with ArgoClient(argocd.url, "not-the-token", timeout=2.0) as client:
        here, listed = client.clusters()
        assert (here, listed) == (Cluster(name="in-cluster", server="https://kubernetes.default.svc"), None)
        assert client.placement({"spec": {"destination": {"name": "in-cluster"}}}).where == "here"
        east = client.placement({"spec": {"destination": {"name": "east"}}})
        assert east.where == "unknown" and "could not be read" in east.reason
