"""The embedded stack only leaves its sandbox when a cluster is chosen explicitly."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.embedded import cluster_configured, open_policy
from domain.settings import Settings
from policies import load_policy_data


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


def test_the_sandbox_policy_is_the_shipped_data_in_auto_mode_with_open_approvers(tmp_path: Path) -> None:
    shipped = load_policy_data()["medic"]["config"]
    directory = open_policy(tmp_path / "policy")
    assert [p.name for p in directory.iterdir()] == ["data.json"]  # the shipped rules decide
    sandbox = load_policy_data(directory)["medic"]["config"]
    assert sandbox["modes"] == {"default": "auto", "namespaces": {}}
    assert sandbox["approvers"] == [{"principals": ["*"], "namespaces": ["*"], "max_risk": "high"}]
    assert shipped["modes"]["default"] == "propose"
    assert {k: v for k, v in sandbox.items() if k not in ("modes", "approvers")} == {
        k: v for k, v in shipped.items() if k not in ("modes", "approvers")
    }
