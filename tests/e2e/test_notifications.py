"""Notifications on the real Temporal dev server: with a Slack incoming webhook configured (a
loopback receiver), the gateway turns them on and the worker posts the approval request, the
decision and the outcome, with links to the console and the Temporal Web UI."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from cli.embedded import DEFAULT_SCENARIO
from domain.policy.approval import DecisionInput
from tests.conftest import wait_for_step
from tests.e2e.test_remediation_loop import post_alert
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

HOOK = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"


def messages(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log if request.path == HOOK]


async def until_messages(httpserver: HTTPServer, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(messages(httpserver)) < count:
        assert loop.time() < deadline, f"Slack got {len(messages(httpserver))} messages, expected {count}"
        await asyncio.sleep(0.1)
    return messages(httpserver)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["text"]["text"]: e["url"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }


async def test_the_approval_request_reaches_slack_with_the_console_link(
    make_stack: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    stack = await make_stack(
        DEFAULT_SCENARIO,
        slack_webhook_url=httpserver.url_for(HOOK),
        console_url="https://medic.example.com",
    )
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    status = await wait_for_step(handle, "awaiting_approval")

    (approval,) = await until_messages(httpserver, 1)
    assert approval["blocks"][0]["text"]["text"].startswith(":raised_hand: Approval needed")
    assert "risk medium, 0/1 approvals" in approval["text"]
    assert buttons(approval) == {
        "Open in console": f"https://medic.example.com/console/incidents/{status.incident_id}",
        "Open in Temporal": (
            f"{stack.settings.temporal_ui_url}/namespaces/{stack.settings.temporal_namespace}"
            f"/workflows/{workflow_id}"
        ),
    }

    await handle.signal(RemediationWorkflow.reject, DecisionInput(approver="alice", reason="not now"))
    result = await handle.result()
    assert result.outcome == "rejected"
    # The workflow waited for its outstanding notifications before it closed.
    _, decision, outcome = messages(httpserver)
    assert decision["blocks"][0]["text"]["text"].startswith(":no_entry_sign: Rejected by alice")
    assert outcome["blocks"][0]["text"]["text"].startswith(":no_entry: Rejected")
