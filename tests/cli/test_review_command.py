"""`medic review --repo DIR --base REF --head REF [--json]` on a local repository, without any
server: plain manifests and a Kustomize overlay rendered by the real engines, the documented JSON,
and the exit codes (0 allowed, 1 denied by the policy, 2 the review could not be made)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
TOKEN = "tok-5d41402abc4b2a76b9719d911017c592"


def deployment(name: str, namespace: str, replicas: int, memory: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "resources": {"requests": {"cpu": "250m", "memory": memory}},
                        }
                    ]
                },
            },
        },
    }


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def write(repo: Path, files: dict[str, Any]) -> None:
    for path, content in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content if isinstance(content, str) else yaml.safe_dump(content))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: cart (plain manifests) and web (a Kustomize base with a prod overlay)."""
    root = tmp_path / "gitops"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(
        root,
        {
            "apps/cart/deployment.yaml": deployment("cart", "shop", 3, "512Mi", "ghcr.io/acme/cart:1.4.2"),
            "web/base/kustomization.yaml": {"resources": ["deployment.yaml"]},
            "web/base/deployment.yaml": deployment("web", "default", 2, "256Mi", "ghcr.io/acme/web:2.0.0"),
            "web/overlays/prod/kustomization.yaml": {
                "resources": ["../../base"],
                "namespace": "web-prod",
                "images": [{"name": "ghcr.io/acme/web", "newTag": "2.0.0"}],
            },
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def branch(repo: Path, name: str, files: dict[str, Any]) -> None:
    git(repo, "checkout", "-q", "-b", name, "main")
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", name)
    git(repo, "checkout", "-q", "main")


def review(repo: Path, head: str, *extra: str) -> Any:
    env = {"ARGOCD_URL": "", "MEDIC_OPENCOST_URL": "", "MEDIC_POLICY_DIR": ""}
    return runner.invoke(
        app, ["review", "--repo", str(repo), "--base", "main", "--head", head, *extra], env=env
    )


def test_the_json_names_applications_objects_findings_cost_and_the_policy(repo: Path) -> None:
    scaled = deployment("cart", "shop", 12, "2Gi", "ghcr.io/acme/cart:1.4.2")
    scaled["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "API_TOKEN", "value": TOKEN}]
    overlay = {
        "resources": ["../../base"],
        "namespace": "web-prod",
        "images": [{"name": "ghcr.io/acme/web", "newTag": "2.1.0"}],
    }
    branch(
        repo, "sale", {"apps/cart/deployment.yaml": scaled, "web/overlays/prod/kustomization.yaml": overlay}
    )

    result = review(repo, "sale", "--json")

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    apps = {a["name"]: a for a in out["applications"]}
    assert set(apps) == {"apps/cart", "web/overlays/prod"}
    (web,) = apps["web/overlays/prod"]["objects"]
    # kustomize rendered the overlay: its namespace and the new tag.
    assert (web["kind"], web["namespace"], web["name"]) == ("Deployment", "web-prod", "web")
    assert "+" in web["diff"] and "ghcr.io/acme/web:2.1.0" in web["diff"]
    assert out["risk"] in {"low", "medium", "high"}
    assert {"category", "severity", "object", "message"} <= set(out["findings"][0])
    assert out["cost"]["basis"] == "OpenCost default list prices (GCP us-central1)"
    assert out["cost"]["monthly_delta_usd"] == pytest.approx(121.51, abs=0.01)
    assert out["policy"]["decision"] == "warn" and out["policy"]["denials"] == []
    assert any("cost" in w for w in out["policy"]["warnings"])
    assert TOKEN not in result.stdout


def test_a_change_the_policy_denies_exits_1_and_the_text_report_says_why(repo: Path) -> None:
    write(
        repo,
        {
            "system/dns.yaml": deployment(
                "coredns", "kube-system", 2, "70Mi", "registry.k8s.io/coredns:v1.11.1"
            )
        },
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "dns")
    branch(
        repo,
        "dns",
        {
            "system/dns.yaml": deployment(
                "coredns", "kube-system", 1, "70Mi", "registry.k8s.io/coredns:v1.11.3"
            )
        },
    )

    result = review(repo, "dns")

    assert result.exit_code == 1, result.output
    assert "policy **deny**" in result.stdout and "kube-system" in result.stdout


def test_a_ref_that_does_not_exist_exits_2_in_one_line(repo: Path) -> None:
    result = review(repo, "no-such-branch")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"medic review: no commit 'no-such-branch' in {repo}"]


def test_changed_files_no_application_renders_are_named_not_skipped_silently(repo: Path) -> None:
    base = deployment("web", "default", 4, "256Mi", "ghcr.io/acme/web:2.0.0")
    branch(
        repo,
        "mixed",
        {
            # reached through the prod overlay's kustomization: reviewed
            "web/base/deployment.yaml": base,
            # a values file of a chart from a Helm repository: nothing here renders it
            "values/ledger-values.yaml": "replicaCount: 6\n",
        },
    )

    result = review(repo, "mixed", "--json")

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [a["name"] for a in out["applications"]] == ["web/overlays/prod"]
    assert out["unreviewed_files"] == ["values/ledger-values.yaml"]
    text = review(repo, "mixed").stdout
    assert (
        "**Not reviewed:** 1 changed file(s) that no application renders: `values/ledger-values.yaml`" in text
    )
