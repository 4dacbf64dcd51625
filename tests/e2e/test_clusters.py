"""Two clusters side by side (README "Clusters"): two embedded stacks — each a gateway, a worker,
a store and a sandbox cluster — with different cluster names on one Temporal dev server. The same
alert group, fired in both clusters, makes two incidents, each on its own medic's task queue and
changing only its own cluster; an alert for the other cluster is refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import yaml

from cli.embedded import DEFAULT_SCENARIO, Stack
from domain.steps.remediation import RemediationResult
from tests.conftest import wait_for_step
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e


def alert_for(cluster: str, group_key: str) -> dict[str, Any]:
    alert: dict[str, Any] = yaml.safe_load(DEFAULT_SCENARIO.read_text())["alert"]
    alert["groupKey"] = group_key
    for item in alert["alerts"]:
        item["labels"]["cluster"] = cluster
    return alert


async def post(stack: Stack, alert: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{stack.gateway_url}/alerts/alertmanager",
            json=alert,
            headers={"Authorization": f"Bearer {stack.settings.webhook_token}"},
        )


def memory_limit(stack: Stack) -> str:
    assert stack.cluster is not None
    live = stack.cluster.peek("apps/v1", "Deployment", "shop", "cart")
    assert live is not None
    (container,) = [c for c in live["spec"]["template"]["spec"]["containers"] if c["name"] == "cart"]
    return str(container["resources"]["limits"]["memory"])


async def test_two_clusters_medics_share_a_namespace_each_with_its_own_incidents(make_stack: Any) -> None:
    run = uuid.uuid4().hex[:8]
    stacks = {}
    for name in ("east", "west"):
        cluster = f"{name}-{run}"
        stacks[name] = await make_stack(
            DEFAULT_SCENARIO, cluster_name=cluster, task_queue=f"medic-remediation-{cluster}"
        )
    group_key = f'{{}}:{{alertname="KubeContainerOOMKilled"}}:{run}'  # the same group in both clusters

    refused = await post(stacks["east"], alert_for(f"west-{run}", group_key))
    assert refused.status_code == 422, refused.text
    assert f"every alert is for cluster west-{run}" in refused.json()["error"]

    handles = {}
    for name, stack in stacks.items():
        response = await post(stack, alert_for(f"{name}-{run}", group_key))
        assert response.status_code == 202, response.text
        (workflow_id,) = response.json()["workflow_ids"]
        assert workflow_id.startswith(f"incident-alert-{name}-{run}-")
        handles[name] = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    for name, handle in handles.items():
        await wait_for_step(handle, "awaiting_approval", timeout=60)
        assert (await handle.describe()).task_queue == f"medic-remediation-{name}-{run}"

    # east's approval changes east's cluster; west's incident waits, its cluster untouched
    await handles["east"].signal("approve", {"approver": "alice", "reason": "ok"})
    result: RemediationResult = await asyncio.wait_for(handles["east"].result(), 90)
    assert result.outcome == "resolved", result.reason
    assert (memory_limit(stacks["east"]), memory_limit(stacks["west"])) == ("256Mi", "128Mi")
    assert (await handles["west"].query(RemediationWorkflow.status)).step == "awaiting_approval"
    await handles["west"].terminate("test done")
