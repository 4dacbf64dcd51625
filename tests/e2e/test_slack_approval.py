"""Approve from Slack on the embedded stack: the demo incident waits, Slack's interactions reach
the gateway signed (or not), and only a signed press by a mapped user on the current plan
decides; the outcome goes to the interaction's response_url, a refusal to the clicker only."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pytest_httpserver import HTTPServer

from cli.embedded import DEFAULT_SCENARIO
from domain.notifications.render import APPROVE_ACTION, decision_value
from gateway.slack_interactions import slack_signature
from tests.conftest import wait_for_step
from tests.e2e.test_console_approval import approvals
from tests.e2e.test_remediation_loop import post_alert
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

SECRET = "e2e-slack-signing-secret"
RESPOND = "/slack/respond"


def interaction(user: str, incident_id: str, plan_hash: str, response_url: str) -> bytes:
    """A `block_actions` interaction as Slack posts it: form-encoded `payload=<json>`."""
    button = {
        "type": "button",
        "action_id": APPROVE_ACTION,
        "value": decision_value(incident_id, plan_hash),
        "text": {"type": "plain_text", "text": "Approve"},
    }
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": f"slack-{user}"},
        "actions": [button],
        "response_url": response_url,
        "message": {
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Approval needed"}},
                {"type": "actions", "elements": [button]},
            ]
        },
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, *, secret: str = SECRET, age: float = 0) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret, timestamp, body),
    }


async def responses(httpserver: HTTPServer, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The messages posted to the response_url so far, once there are `count`, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        posted = [json.loads(request.get_data()) for request, _ in httpserver.log]
        if len(posted) >= count:
            return posted
        assert loop.time() < deadline, f"{len(posted)} messages on the response_url, expected {count}"
        await asyncio.sleep(0.1)


async def test_a_signed_slack_press_approves_and_every_bad_one_decides_nothing(
    make_stack: Any, tmp_path: Path, httpserver: HTTPServer
) -> None:
    users = tmp_path / "slack-users.yaml"
    users.write_text("U0ALICE:\n  user: alice\n  groups: [sre]\n")
    stack = await make_stack(DEFAULT_SCENARIO, slack_signing_secret=SECRET, slack_users_file=str(users))
    httpserver.expect_request(RESPOND, method="POST").respond_with_data("ok")
    respond = httpserver.url_for(RESPOND)

    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    incident_id, plan_hash = waiting.incident_id, waiting.plan_hash
    good = interaction("U0ALICE", incident_id, plan_hash, respond)

    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:

        async def press(body: bytes, headers: dict[str, str]) -> httpx.Response:
            return await http.post("/slack/interactions", content=body, headers=headers)

        # Refused before anything is read: a wrong secret, a tampered body, a replay, no headers.
        wrong = await press(good, signed(good, secret="not-the-secret"))
        assert wrong.status_code == 401 and "does not match" in wrong.json()["error"]
        tampered = await press(good.replace(b"U0ALICE", b"U0MALLO"), signed(good))
        assert tampered.status_code == 401 and "does not match" in tampered.json()["error"]
        stale = await press(good, signed(good, age=600))
        assert stale.status_code == 401 and "replay" in stale.json()["error"]
        bare = await press(good, {"Content-Type": "application/x-www-form-urlencoded"})
        assert bare.status_code == 401 and "missing" in bare.json()["error"]

        # Signed, but by a Slack user medic does not know: only the clicker hears why.
        unmapped = interaction("U0NOBODY", incident_id, plan_hash, respond)
        assert (await press(unmapped, signed(unmapped))).status_code == 200
        (first,) = await responses(httpserver, 1)
        assert first["response_type"] == "ephemeral" and first["replace_original"] is False
        assert "U0NOBODY" in first["text"] and "not mapped" in first["text"]

        # Signed and mapped, but for a plan that is not the one waiting.
        old_plan = interaction("U0ALICE", incident_id, "0" * len(plan_hash), respond)
        assert (await press(old_plan, signed(old_plan))).status_code == 200
        second = (await responses(httpserver, 2))[1]
        assert second["response_type"] == "ephemeral" and "refused" in second["text"]
        assert "plan" in second["text"]

        status = await handle.query(RemediationWorkflow.status)
        assert status.step == "awaiting_approval" and status.approvals == [], "nothing was decided"

        # The real press: approved as alice through the slack channel, the message updated.
        assert (await press(good, signed(good))).status_code == 200
        third = (await responses(httpserver, 3))[2]
        assert third["replace_original"] is True and "approved by alice in Slack" in third["text"]
        assert "1/1 approvals" in third["text"]
        kinds = [b["type"] for b in third["blocks"]]
        assert "actions" not in kinds, "the buttons go once the incident no longer waits"
        assert kinds[0] == "header" and kinds[-1] == "context"

        # Pressed again: the incident no longer waits for a decision.
        assert (await press(good, signed(good))).status_code == 200
        fourth = (await responses(httpserver, 4))[3]
        assert fourth["response_type"] == "ephemeral" and "refused" in fourth["text"]

    outcome = await asyncio.wait_for(handle.result(), 90)
    assert outcome.outcome == "resolved", outcome.reason
    (approval,) = (await handle.query(RemediationWorkflow.status)).approvals
    assert (approval.approver, approval.channel, approval.plan_hash) == ("alice", "slack", plan_hash)
    assert approvals(stack, incident_id) == [("alice", "approve", "update", plan_hash)]
