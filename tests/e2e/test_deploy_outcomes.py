"""Deploy watch end to end on the dev server, for the deploys that should open nothing: one commit
changes two Applications' workloads, the sandbox Argo CD syncs both, and their notifications start
one watch each. `platform-dns`'s signals stay as they were (a good deploy); `shop-cart`'s move within
the noise the rules allow (error ratio 2.5× its baseline, under the 3× factor; p99 1.4×, under
1.5×). Both are recorded verified with their figures, and no incident is opened."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from domain.deploy.model import deploy_watch_id
from integrations.argocd import ArgoClient
from policies import POLICY_DIR
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository, figures_of
from store.models import Incident
from tests.e2e.test_change_review import push
from tests.e2e.test_deploy_watch import BEFORE, ESTATE

pytestmark = pytest.mark.e2e

DNS_BEFORE = {**BEFORE, "request_rate": 300, "p99_ms": 12}
NOISY_AFTER = {**BEFORE, "error_ratio": 0.005, "p99_ms": 250, "request_rate": 22}


def scenario(tmp_path: Path) -> Path:
    data = yaml.safe_load(ESTATE.read_text())
    data["name"] = "deploy-outcomes"
    data["deploy_signals"] = {
        "kube-system/coredns": {"before": DNS_BEFORE, "after": DNS_BEFORE},
        "shop/cart": {"before": BEFORE, "after": NOISY_AFTER},
    }
    path = tmp_path / "deploy-outcomes.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def policy(tmp_path: Path) -> Path:
    """The shipped policy with short watches (4 s, sampled every second) for both Applications."""
    directory = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("__*", "*.py"))
    data = json.loads((directory / "data.json").read_text())
    short = {"analysis_window_seconds": 4, "sample_interval_seconds": 1}
    data["medic"]["config"]["deploy_watch"]["applications"] = {"shop-cart": short, "platform-dns": short}
    (directory / "data.json").write_text(json.dumps(data))
    return directory


async def test_a_good_deploy_and_a_noisy_one_are_verified_and_open_no_incident(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(scenario(tmp_path), policy_dir=str(policy(tmp_path)))
    remote = Path(stack.settings.gitops_repo_url)
    files = yaml.safe_load(ESTATE.read_text())["gitops"]
    cart, dns = files["apps/shop/cart/deployment.yaml"], files["apps/kube-system/dns/deployment.yaml"]
    assert "cart:1.4.2" in cart and "replicas: 2" in dns
    revision = push(
        remote,
        "main",
        {
            "apps/shop/cart/deployment.yaml": cart.replace("cart:1.4.2", "cart:1.5.0"),
            "apps/kube-system/dns/deployment.yaml": dns.replace("replicas: 2", "replicas: 3"),
        },
    )

    with ArgoClient(stack.settings.argocd_url, stack.settings.argocd_token) as argocd:
        for app in ("shop-cart", "platform-dns"):
            argocd.get_application(app, "argocd", refresh="normal")
            # (the sandbox runs the automated sync it started at its next request)
            synced = argocd.get_application(app, "argocd")
            assert synced["status"]["operationState"]["phase"] == "Succeeded", app

    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    finished: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for _ in range(300):
        with transaction(sessions) as session:
            for app in ("shop-cart", "platform-dns"):
                row = DeploymentRepository(session).get(deploy_watch_id("argocd", app, revision))
                if row is not None and row.state != "watching":
                    finished[app] = (row.state, row.summary, figures_of(row))
        if len(finished) == 2:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the watches did not finish: {sorted(finished)}")

    for app, (state, summary, figures) in finished.items():
        assert state == "verified", f"{app}: {summary}"
        assert figures["verdict"]["fired"] == [], f"{app}: {figures['verdict']}"
        assert figures["verdict"]["figures"], f"{app}: the verdict keeps its figures"
    cart_figures = finished["shop-cart"][2]["verdict"]["figures"][0]
    assert cart_figures["after"]["error_ratio"] == pytest.approx(0.005)
    assert cart_figures["baseline"]["error_ratio"] == pytest.approx(0.002)
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0
