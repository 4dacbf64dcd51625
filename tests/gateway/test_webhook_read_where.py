"""Where the gateway reads a notification: a usual one on the event loop, a large one on a thread."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import pytest

import gateway.app as app_module
from domain.settings import Settings
from gateway.app import create_app
from gateway.ingest import INLINE_BODY_BYTES, Notification
from tests.conftest import alertmanager_fixture
from tests.gateway.fake_temporal import FakeAlertTemporal

TOKEN = "s3cr3t-token"


async def test_a_usual_notification_is_read_on_the_event_loop_and_a_large_one_on_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[int] = []
    read = app_module.read_notification

    def recording(settings: Settings, raw: bytes) -> Notification:
        threads.append(threading.get_ident())
        return read(settings, raw)

    monkeypatch.setattr(app_module, "read_notification", recording)
    settings = Settings(temporal_address="unused", webhook_token=TOKEN, task_queue=f"q-{uuid.uuid4()}")
    body = alertmanager_fixture("oomkilled-firing.json")
    usual = json.dumps(body).encode()
    large = json.dumps(dict(body, commonAnnotations={"description": "x" * INLINE_BODY_BYTES})).encode()
    assert len(usual) <= INLINE_BODY_BYTES < len(large)

    app = create_app(settings, FakeAlertTemporal().factory)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        for raw in (usual, large):
            response = await http.post("/alerts/alertmanager", content=raw, headers=headers)
            assert response.status_code == 202, response.text

    assert threads[0] == threading.get_ident()
    assert threads[1] != threading.get_ident()


async def test_the_webhook_is_answered_before_the_framework_and_only_for_a_post_to_its_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A POST to the webhook takes the short way (the route's own handler, none of FastAPI's
    layers), also below a root path; any other method on that path still gets the router's 405."""
    routed: list[str] = []
    route = app_module.FastAPI.__call__

    async def through_the_framework(
        self: app_module.FastAPI, scope: dict[str, Any], receive: object, send: object
    ) -> None:
        if scope["type"] == "http":
            routed.append(f"{scope['method']} {scope['path']}")
        await route(self, scope, receive, send)  # type: ignore[arg-type]

    monkeypatch.setattr(app_module.FastAPI, "__call__", through_the_framework)
    settings = Settings(temporal_address="unused", webhook_token=TOKEN, task_queue=f"q-{uuid.uuid4()}")
    temporal = FakeAlertTemporal()
    app = create_app(settings, temporal.factory)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    raw = json.dumps(alertmanager_fixture("oomkilled-firing.json")).encode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        assert (await http.post("/alerts/alertmanager", content=raw, headers=headers)).status_code == 202
        refused = await http.post("/alerts/alertmanager", content=raw, headers={"Authorization": "Bearer no"})
        assert refused.status_code == 401
        assert (await http.get("/alerts/alertmanager", headers=headers)).status_code == 405
        assert (await http.get("/healthz")).status_code == 200
    mounted = httpx.ASGITransport(app=app, root_path="/medic")
    async with httpx.AsyncClient(transport=mounted, base_url="http://gateway") as http:
        below = await http.post("/medic/alerts/alertmanager", content=raw, headers=headers)
        assert below.status_code == 202, below.text

    assert routed == ["GET /alerts/alertmanager", "GET /healthz"]
