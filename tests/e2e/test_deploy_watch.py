"""Deploy watch end to end on the dev server: a commit pushed to the GitOps repository, synced by
the sandbox Argo CD (automated sync on refresh), whose notification reaches the gateway's
`/webhooks/argocd`; the worker's `DeploymentWatchWorkflow` takes a baseline and samples the
sandbox Prometheus, whose series for the workload change at the sync (the scenario's
`deploy_signals`): an error ratio 0.1% → 2.5% is judged degraded with its numbers, and the
notification delivered again starts no second watch."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from domain.deploy.model import deploy_watch_id
from integrations.argocd import ArgoClient
from policies import POLICY_DIR
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository, figures_of
from tests.e2e.test_change_review import push

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESTATE = REPO / "sandbox" / "scenarios" / "review-estate.yaml"
BEFORE = {
    "request_rate": 20,
    "error_ratio": 0.001,
    "p99_ms": 180,
    "restarts": 0,
    "ready_ratio": 1,
    "oom_kills": 0,
}


def scenario(tmp_path: Path) -> Path:
    data = yaml.safe_load(ESTATE.read_text())
    data["name"] = "deploy-watch"
    data["deploy_signals"] = {"shop/cart": {"before": BEFORE, "after": {**BEFORE, "error_ratio": 0.025}}}
    path = tmp_path / "deploy-watch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def policy(tmp_path: Path) -> Path:
    """The shipped policy with a short watch for shop-cart (4 s, sampled every second)."""
    directory = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("__*", "*.py"))
    data = json.loads((directory / "data.json").read_text())
    data["medic"]["config"]["deploy_watch"]["applications"] = {
        "shop-cart": {"analysis_window_seconds": 4, "sample_interval_seconds": 1}
    }
    (directory / "data.json").write_text(json.dumps(data))
    return directory


async def test_a_deploy_that_raises_the_error_ratio_is_judged_degraded(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(scenario(tmp_path), policy_dir=str(policy(tmp_path)))
    remote = Path(stack.settings.gitops_repo_url)
    cart = yaml.safe_load((ESTATE.parent / "review-estate.yaml").read_text())["gitops"][
        "apps/shop/cart/deployment.yaml"
    ]
    revision = push(
        remote, "main", {"apps/shop/cart/deployment.yaml": cart.replace("cart:1.4.2", "cart:1.5.0")}
    )

    # Argo CD notices the commit (a refresh) and syncs it: its notification starts the watch.
    with ArgoClient(stack.settings.argocd_url, stack.settings.argocd_token) as argocd:
        argocd.get_application("shop-cart", "argocd", refresh="normal")
        # (the sandbox runs the automated sync it started at its next request)
        synced = argocd.get_application("shop-cart", "argocd")
    assert synced["status"]["operationState"]["phase"] == "Succeeded"
    watch_id = deploy_watch_id("argocd", "shop-cart", revision)
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    row = None
    for _ in range(300):
        with transaction(sessions) as session:
            row = DeploymentRepository(session).get(watch_id)
            if row is not None and row.state != "watching":
                state, summary, figures = row.state, row.summary, figures_of(row)
                incident_id = row.incident_id
                break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the watch {watch_id} did not finish: {row and row.state}")
    assert state == "degraded", summary
    assert "error ratio" in summary and "shop-cart" in summary
    fired = figures["verdict"]["fired"][0]
    assert fired["rule"] == "error_ratio" and "2.50%" in fired["message"] and "0.10%" in fired["message"]
    assert figures["workloads"] == ["shop/Deployment/cart"]
    # The degraded deploy opened its incident, recorded on the row.
    assert incident_id == "incident-" + watch_id.replace("/", "."), incident_id

    # The same notification again (Argo CD retried it): no second watch.
    body = {
        "application": "shop-cart",
        "namespace": "argocd",
        "project": "shop",
        "revision": revision,
        "phase": "Succeeded",
        "health": "Healthy",
    }
    async with httpx.AsyncClient() as http:
        again = await http.post(
            f"{stack.gateway_url}/webhooks/argocd",
            json=body,
            headers={"Authorization": f"Bearer {stack.settings.argocd_webhook_token}"},
        )
    assert again.status_code == 200 and again.json()["started"] is False, again.text
