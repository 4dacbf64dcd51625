"""The deploy poll end to end on the dev server: a sync whose Argo CD notification is lost (the
sandbox's notifier is off for it) is found by the poll of the sync histories, which starts its
watch (`source` poll); a sync whose notification arrived is seen by the poll too and is still one
watch. The poll is started directly rather than waited for from its schedule."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.deploy.model import deploy_watch_id
from domain.deploy.poll import DeployPollInput, DeployPollResult
from integrations.argocd import ArgoClient
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository
from tests.e2e.test_change_review import push
from tests.e2e.test_deploy_watch import ESTATE, policy, scenario

pytestmark = pytest.mark.e2e

CART = "apps/shop/cart/deployment.yaml"


def deploy(stack: Any, image: str) -> str:
    """A commit changing cart's image, synced by the sandbox Argo CD; its revision."""
    cart = yaml.safe_load(ESTATE.read_text())["gitops"][CART]
    revision = push(Path(stack.settings.gitops_repo_url), "main", {CART: cart.replace("cart:1.4.2", image)})
    with ArgoClient(stack.settings.argocd_url, stack.settings.argocd_token) as argocd:
        argocd.get_application("shop-cart", "argocd", refresh="normal")
        synced = argocd.get_application("shop-cart", "argocd")
    assert synced["status"]["operationState"]["phase"] == "Succeeded"
    return revision


async def poll(stack: Any) -> DeployPollResult:
    return await stack.client.execute_workflow(
        "DeployPollWorkflow",
        DeployPollInput(),
        id=f"deploy-poll-{stack.settings.task_queue}-{asyncio.get_running_loop().time()}",
        task_queue=stack.settings.task_queue,
        result_type=DeployPollResult,
    )


async def watched(stack: Any, watch_id: str) -> list[tuple[str, str]]:
    """The `deployment` rows of shop-cart (watch id, source) once `watch_id`'s is there."""
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    for _ in range(100):
        with transaction(sessions) as session:
            rows = [
                (r.watch_id, r.source) for r in DeploymentRepository(session).list(application="shop-cart")
            ]
        if any(w == watch_id for w, _ in rows):
            return rows
        await asyncio.sleep(0.1)
    pytest.fail(f"no deployment row {watch_id}: {rows}")


async def test_a_lost_notification_is_found_by_the_poll_and_a_told_deploy_stays_one_watch(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(scenario(tmp_path), policy_dir=str(policy(tmp_path)))
    controller = stack.argocd.controller
    notifier, controller.notifier = controller.notifier, None  # the notification is lost
    try:
        lost = deploy(stack, "cart:1.5.0")
    finally:
        controller.notifier = notifier
    lost_id = deploy_watch_id("argocd", "shop-cart", lost)

    result = await poll(stack)
    assert result.started == [lost_id] and result.already_watched == 0, result
    assert await watched(stack, lost_id) == [(lost_id, "poll")]

    # The next deploy is told of: its watch is the notification's, and the poll finds it watched.
    told = deploy(stack, "cart:1.6.0")
    told_id = deploy_watch_id("argocd", "shop-cart", told)
    rows = await watched(stack, told_id)
    again = await poll(stack)
    assert again.started == [] and again.already_watched == 1, again
    rows = await watched(stack, told_id)
    assert sorted(rows) == sorted([(lost_id, "poll"), (told_id, "notification")])
