"""Two clusters' medics sharing one Temporal namespace (README "Clusters"): each gateway takes only
its cluster's alerts, and the same alert group seen in both clusters makes two incidents, each on
its medic's own task queue. Against the real Temporal dev server (no worker polls the queues: the
workflows are only started)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from domain.settings import settings_from_mapping
from gateway.app import create_app
from tests.conftest import alertmanager_fixture

TOKEN = "s3cr3t-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def labelled(receiver: str, *clusters: str | None) -> dict[str, Any]:
    """The captured OOMKilled notification with one alert per entry of `clusters` (None: no
    `cluster` label), each its own pod."""
    body = alertmanager_fixture("oomkilled-firing.json")
    body["receiver"] = receiver
    (template,) = body["alerts"]
    alerts = []
    for index, cluster in enumerate(clusters):
        alert = copy.deepcopy(template)
        alert["fingerprint"] = f"{alert['fingerprint']}{index}"
        alert["labels"]["pod"] = f"ledger-{index}"
        if cluster is not None:
            alert["labels"]["cluster"] = cluster
        alerts.append(alert)
    body["alerts"] = alerts
    return body


def gateway_of(dev_client: Client, env: dict[str, str]) -> httpx.AsyncClient:
    settings = settings_from_mapping({"MEDIC_WEBHOOK_TOKEN": TOKEN, **env})
    settings = settings.model_copy(update={"webhook_temporal_timeout_seconds": 10.0})

    async def client_factory() -> Client:
        return dev_client

    app = create_app(settings, client_factory)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def east(dev_client: Client, run: str) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_of(dev_client, {"MEDIC_CLUSTER_NAME": f"east-{run}"}) as http:
        yield http


@pytest.fixture
async def west(dev_client: Client, run: str) -> AsyncIterator[httpx.AsyncClient]:
    # aliases: the values of the label this medic also answers to
    env = {"MEDIC_CLUSTER_NAME": f"west-{run}", "MEDIC_CLUSTER_ALIASES": f"eu-west-{run}"}
    async with gateway_of(dev_client, env) as http:
        yield http


async def test_the_same_group_in_two_clusters_is_two_incidents_on_two_queues(
    east: httpx.AsyncClient, west: httpx.AsyncClient, dev_client: Client, run: str
) -> None:
    receiver = f"medic-{run}"  # both clusters' Alertmanagers route the group alike
    to_east = await east.post("/alerts/alertmanager", json=labelled(receiver, f"east-{run}"), headers=AUTH)
    to_west = await west.post("/alerts/alertmanager", json=labelled(receiver, f"eu-west-{run}"), headers=AUTH)
    assert (to_east.status_code, to_west.status_code) == (202, 202), (to_east.text, to_west.text)
    (east_id,) = to_east.json()["workflow_ids"]
    (west_id,) = to_west.json()["workflow_ids"]
    assert east_id.startswith(f"incident-alert-east-{run}-") and west_id.startswith(
        f"incident-alert-west-{run}-"
    )
    assert east_id.rsplit("-", 1)[1] == west_id.rsplit("-", 1)[1], "one group, one digest"
    for workflow_id, queue in (
        (east_id, f"medic-remediation-east-{run}"),
        (west_id, f"medic-remediation-west-{run}"),
    ):
        handle = dev_client.get_workflow_handle(workflow_id)
        described = await handle.describe()
        assert described.task_queue == queue
        await handle.terminate("test done")


async def test_a_notification_all_for_another_cluster_is_refused_naming_both(
    east: httpx.AsyncClient, dev_client: Client, run: str
) -> None:
    body = labelled(f"medic-{run}", f"west-{run}", f"west-{run}")
    response = await east.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 422
    detail = response.json()["error"]
    assert f"every alert is for cluster west-{run} (label cluster)" in detail
    assert f"this medic is for east-{run}" in detail


async def test_a_mixed_notification_keeps_this_clusters_alerts_and_says_how_many_were_left_out(
    east: httpx.AsyncClient, dev_client: Client, run: str
) -> None:
    body = labelled(f"medic-{run}", f"west-{run}", None, f"east-{run}", "ap-south")
    response = await east.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["alerts"] == 2
    assert answer["other_clusters"] == {"left_out": 2, "by_cluster": {"ap-south": 1, f"west-{run}": 1}}
    await dev_client.get_workflow_handle(answer["workflow_ids"][0]).terminate("test done")


async def test_a_medic_without_a_cluster_name_takes_every_alert(dev_client: Client, run: str) -> None:
    async with gateway_of(dev_client, {"MEDIC_TASK_QUEUE": f"no-worker-{run}"}) as plain:
        response = await plain.post(
            "/alerts/alertmanager", json=labelled(f"medic-{run}", "west", "east"), headers=AUTH
        )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["alerts"] == 2 and "other_clusters" not in answer
    (workflow_id,) = answer["workflow_ids"]
    assert workflow_id.startswith("incident-alert-") and len(workflow_id) == len("incident-alert-") + 20
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")
