"""POST /alerts/alertmanager against the real Temporal dev server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from domain.settings import Settings
from gateway.app import create_app
from tests.conftest import alertmanager_fixture

TOKEN = "s3cr3t-token"  # what shared/fixtures/alertmanager/alertmanager.yml sends
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def payload(name: str, receiver: str) -> dict[str, Any]:
    body = alertmanager_fixture(name)
    body["receiver"] = receiver  # a group of this test's own
    return body


@pytest.fixture
def receiver() -> str:
    return f"remediator-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(dev_client: Client) -> Settings:
    return Settings(temporal_address="unused", webhook_token=TOKEN, task_queue=f"no-worker-{uuid.uuid4()}")


@pytest.fixture
async def gateway(settings: Settings, dev_client: Client) -> Any:
    async def client_factory() -> Client:
        return dev_client

    app = create_app(settings, client_factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        yield http


async def executions(client: Client, workflow_id: str) -> list[Any]:
    return [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def signals_received(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


async def test_same_notification_a_hundred_times_makes_one_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    responses = await asyncio.gather(
        *(gateway.post("/alerts/alertmanager", json=body, headers=AUTH) for _ in range(100))
    )
    assert {r.status_code for r in responses} == {202}
    ids = {tuple(r.json()["workflow_ids"]) for r in responses}
    assert len(ids) == 1
    (workflow_id,) = ids.pop()
    assert len(await executions(dev_client, workflow_id)) == 1
    assert await signals_received(dev_client, workflow_id) == 100
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_repeat_and_resolved_notifications_reach_the_same_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    first = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-firing.json", receiver), headers=AUTH
    )
    repeat = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-firing-repeat.json", receiver), headers=AUTH
    )
    resolved = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-resolved.json", receiver), headers=AUTH
    )
    assert [r.status_code for r in (first, repeat, resolved)] == [202, 202, 202]
    workflow_id = first.json()["workflow_ids"][0]
    assert repeat.json()["workflow_ids"] == resolved.json()["workflow_ids"] == [workflow_id]
    assert resolved.json()["delivered"] is True
    assert len(await executions(dev_client, workflow_id)) == 1
    assert await signals_received(dev_client, workflow_id) == 3
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_resolved_notification_without_an_open_incident_starts_nothing(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    response = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-resolved.json", receiver), headers=AUTH
    )
    assert response.status_code == 200
    assert response.json()["delivered"] is False
    assert await executions(dev_client, response.json()["workflow_ids"][0]) == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
async def test_missing_or_wrong_token_is_401(
    gateway: httpx.AsyncClient, receiver: str, headers: dict[str, str]
) -> None:
    response = await gateway.post(
        "/alerts/alertmanager", json=payload("oomkilled-firing.json", receiver), headers=headers
    )
    assert response.status_code == 401
    assert "token" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"version": "4"}', 422, "groupKey"),
        (
            b'{"version": "3", "groupKey": "k", "status": "firing", "receiver": "r", "alerts": []}',
            422,
            "version",
        ),
    ],
)
async def test_broken_payload_is_4xx_with_the_reason(
    gateway: httpx.AsyncClient, body: bytes, status: int, reason: str
) -> None:
    response = await gateway.post(
        "/alerts/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert reason in response.text


async def test_bad_requests_do_not_disturb_a_running_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    good = payload("oomkilled-firing.json", receiver)
    started = await gateway.post("/alerts/alertmanager", json=good, headers=AUTH)
    workflow_id = started.json()["workflow_ids"][0]
    broken = dict(good, alerts="nope")
    for attempt in (
        gateway.post("/alerts/alertmanager", json=broken, headers=AUTH),
        gateway.post("/alerts/alertmanager", json=good, headers={"Authorization": "Bearer nope"}),
        gateway.post("/alerts/alertmanager", content=b"\xff\xfe", headers=AUTH),
    ):
        assert (await attempt).status_code in (400, 401, 422)
    description = await dev_client.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert await signals_received(dev_client, workflow_id) == 1
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_temporal_outage_is_503_so_alertmanager_retries(receiver: str) -> None:
    from cli.devserver import free_port

    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}", webhook_token=TOKEN)
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        response = await http.post(
            "/alerts/alertmanager", json=payload("oomkilled-firing.json", receiver), headers=AUTH
        )
    assert response.status_code == 503
    assert response.headers["retry-after"]


async def test_truncated_alerts_are_reported(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    body["truncatedAlerts"] = 3
    response = await gateway.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 202
    assert response.json()["truncated_alerts"] == 3
    await dev_client.get_workflow_handle(response.json()["workflow_ids"][0]).terminate("test done")


async def test_oversized_group_is_413_with_the_limit(gateway: httpx.AsyncClient, receiver: str) -> None:
    body = payload("oomkilled-firing.json", receiver)
    alert = body["alerts"][0]
    body["alerts"] = [dict(alert, fingerprint=f"{i:016x}") for i in range(201)]
    response = await gateway.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 413
    assert "max_alerts" in response.json()["error"]
