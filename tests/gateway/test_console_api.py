"""The JSON API for scripts: incidents (filtered), one incident, and decisions."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.settings import Settings
from gateway.app import create_app
from gateway.auth import hash_password, upsert_user
from store import migrate
from tests.console_fixtures import DENIED, PENDING, PLAN_HASH, RESOLVED, FakeTemporal, seed

TOKEN = "console-api-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
def api(tmp_path: Path, temporal: FakeTemporal) -> Any:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    seed(url)
    users = tmp_path / "users"
    upsert_user(users, "sam", hash_password("sam-pw", iterations=1000), ["sre"])

    @asynccontextmanager
    async def make() -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(database_url=url, console_token=TOKEN, console_users_file=str(users))
        app = create_app(settings, temporal.factory)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            yield http

    return make


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [PENDING, RESOLVED, DENIED]),
        ({"status": "awaiting_approval"}, [PENDING]),
        ({"namespace": "shop"}, [PENDING, DENIED]),
        ({"risk": "low"}, [RESOLVED]),
        ({"limit": "1", "page": "2"}, [RESOLVED]),
    ],
)
async def test_incidents_with_filters(api: Any, params: dict[str, str], expected: list[str]) -> None:
    async with api() as http:
        response = await http.get("/api/incidents", params=params, headers=BEARER)
    assert response.status_code == 200
    assert [i["id"] for i in response.json()["incidents"]] == expected


async def test_one_incident_in_full(api: Any) -> None:
    async with api() as http:
        response = await http.get(f"/api/incidents/{PENDING}", headers=BEARER)
        missing = await http.get("/api/incidents/incident-alert-none.00000000", headers=BEARER)
    body = response.json()
    assert body["status"] == "awaiting_approval" and body["plan_hash"] == PLAN_HASH
    assert body["workflow_id"] == "incident-alert-aaaaaaaaaaaaaaaaaaaa"
    assert body["diagnosis"]["root_cause"] == "oom"
    assert body["policy_decision"]["approvers"] == ["group:sre", "user:carol"]
    assert body["observation"]["workloads"][0]["id"] == "workload/shop/Deployment/cart"
    (diff,) = body["plan_diff"]
    assert "-            memory: 128Mi" in diff["diff"] and "+            memory: 256Mi" in diff["diff"]
    assert [e["step"] for e in body["audit"]][:2] == ["received", "observing"]
    assert body["created_at"].endswith("+00:00")
    assert missing.status_code == 404


async def test_decide_with_a_bearer_token(api: Any, temporal: FakeTemporal) -> None:
    async with api() as http:
        response = await http.post(
            f"/api/incidents/{PENDING}/decide",
            json={"decision": "approve", "reason": "ok", "plan_hash": PLAN_HASH},
            headers=BEARER,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] and body["status"]["approvals"][0]["approver"] == "admin"
    assert [(d.approver, d.plan_hash) for d in temporal.decisions] == [("admin", PLAN_HASH)]


async def test_decide_with_basic_auth_binds_to_the_current_plan_when_none_is_given(
    api: Any, temporal: FakeTemporal
) -> None:
    credentials = base64.b64encode(b"sam:sam-pw").decode()
    async with api() as http:
        response = await http.post(
            f"/api/incidents/{PENDING}/decide",
            json={"decision": "reject", "reason": "not now"},
            headers={"Authorization": f"Basic {credentials}"},
        )
    assert response.status_code == 200
    (decision,) = temporal.decisions
    assert (decision.approver, decision.groups, decision.decision) == ("sam", ["sre"], "reject")
    assert decision.channel == "api", "the gateway vouches for the authenticated caller"
    assert decision.plan_hash == PLAN_HASH, "the plan the workflow shows"


async def test_refused_decision_is_409_with_the_reason(api: Any, temporal: FakeTemporal) -> None:
    temporal.refuse = "admin has already decided on this plan"
    async with api() as http:
        response = await http.post(
            f"/api/incidents/{PENDING}/decide", json={"decision": "approve"}, headers=BEARER
        )
    assert response.status_code == 409
    assert response.json()["error"] == "refused: admin has already decided on this plan"


@pytest.mark.parametrize(
    "body",
    [{"decision": "maybe"}, {"reason": "no decision"}, {"decision": "approve", "approver": "mallory"}],
)
async def test_invalid_decision_body_is_422(api: Any, temporal: FakeTemporal, body: dict[str, str]) -> None:
    async with api() as http:
        response = await http.post(f"/api/incidents/{PENDING}/decide", json=body, headers=BEARER)
    assert response.status_code == 422
    assert temporal.decisions == []


async def test_decide_needs_a_json_body(api: Any, temporal: FakeTemporal) -> None:
    async with api() as http:
        response = await http.post(
            f"/api/incidents/{PENDING}/decide", data={"decision": "approve"}, headers=BEARER
        )
    assert response.status_code == 415 and temporal.decisions == []
