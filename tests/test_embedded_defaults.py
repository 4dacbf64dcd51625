"""The embedded stack only leaves its sandbox when a cluster is chosen explicitly."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.embedded import cluster_configured
from domain.settings import Settings


def test_an_existing_kubeconfig_alone_keeps_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not cluster_configured(Settings())


@pytest.mark.parametrize("field", ["kube_api_url", "kubeconfig"])
def test_an_explicit_cluster_replaces_the_sandbox(field: str) -> None:
    assert cluster_configured(Settings(**{field: "https://k8s.example:6443"}))
