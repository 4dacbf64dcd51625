"""medic's MCP server driven by the SDK's own client, on one embedded stack: over stdio (`medic mcp`
as a subprocess, the local user) the reads and no `decide`; over HTTP (`/mcp` on the gateway) the
reads, and `decide` only as an authenticated user the policy allows, on the current plan."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from cli.embedded import DEFAULT_SCENARIO
from gateway.auth import hash_password, upsert_user
from tests.conftest import wait_for_step
from tests.e2e.test_console_approval import approvals, sre_only_policy
from tests.e2e.test_remediation_loop import post_alert
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
READ_TOOLS = {"list_incidents", "get_incident", "get_audit_trail", "get_drift_report", "get_change_review"}
# offered on both transports: a change request in the caller's name
PROPOSE = "propose_change"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextlib.asynccontextmanager
async def over_http(url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    """The SDK's client on `/mcp`, with these headers (the transport leaves a given client open)."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


def text_of(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def test_an_assistant_reads_over_stdio_and_http_and_decides_only_over_http_as_an_approver(
    make_stack: Any, tmp_path: Path
) -> None:
    users = tmp_path / "users"
    upsert_user(users, "dev", hash_password("dev-pw", iterations=1000), ["developers"])
    upsert_user(users, "sam", hash_password("sam-pw", iterations=1000), ["sre"])
    upsert_user(users, "ana", hash_password("ana-pw", iterations=1000), ["sre"])
    stack = await make_stack(
        DEFAULT_SCENARIO, policy_dir=str(sre_only_policy(tmp_path / "policy")), console_users_file=str(users)
    )
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    incident_id = waiting.incident_id

    # stdio: the local user, self-asserted: the reads, and no tool that decides.
    local = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli", "mcp"],
        cwd=str(ROOT),
        env={
            "MEDIC_HOME": stack.settings.home,
            "MEDIC_DATABASE_URL": stack.settings.resolved_database_url,
            "TEMPORAL_ADDRESS": stack.settings.temporal_address,
            "MEDIC_TASK_QUEUE": stack.settings.task_queue,
        },
    )
    async with Client(local) as assistant:
        tools = {t.name: t for t in (await assistant.list_tools()).tools}
        assert set(tools) == READ_TOOLS | {PROPOSE}
        assert all(t.annotations and t.annotations.read_only_hint for n, t in tools.items() if n != PROPOSE)
        proposing = tools[PROPOSE].annotations
        assert proposing is not None and not proposing.read_only_hint and proposing.destructive_hint
        unread = await assistant.call_tool(PROPOSE, {"request": "make it better"})
        assert unread.is_error and "refused: could not read" in text_of(unread)
        local_request = await assistant.call_tool(PROPOSE, {"request": "scale shop/cart 3"})
        assert not local_request.is_error, text_of(local_request)
        proposed = local_request.structured_content or {}
        assert proposed["requester"] == getpass.getuser() and proposed["started"] is True
        assert proposed["step"] == "awaiting_approval" and proposed["risk"], proposed
        listed = await assistant.call_tool("list_incidents", {"status": "awaiting_approval"})
        assert not listed.is_error, text_of(listed)
        assert incident_id in [i["id"] for i in (listed.structured_content or {})["incidents"]]
        shown = await assistant.call_tool("get_incident", {"incident_id": incident_id})
        assert not shown.is_error, text_of(shown)
        detail = shown.structured_content or {}
        assert detail["plan_hash"] == waiting.plan_hash and detail["plan"] and detail["policy_decision"]
        assert detail["timeline"] and detail["diagnosis"]
        missing = await assistant.call_tool("get_incident", {"incident_id": "no-such-incident"})
        assert missing.is_error and "no incident no-such-incident in the store" in text_of(missing)

    # HTTP without credentials, or with wrong ones: refused before the MCP transport, saying why.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        bare = await http.post("/mcp", json=initialize)
        assert bare.status_code == 401 and "authentication required" in bare.json()["error"]
        wrong = await http.post("/mcp", json=initialize, headers=basic("sam", "nope"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid credentials"

    # HTTP as dev: reads, and `decide` is offered, destructive; the policy refuses dev.
    async with over_http(stack.gateway_url, basic("dev", "dev-pw")) as assistant:
        tools = {t.name: t for t in (await assistant.list_tools()).tools}
        assert set(tools) == READ_TOOLS | {"decide", PROPOSE}
        decide = tools["decide"].annotations
        assert decide is not None and decide.destructive_hint and not decide.read_only_hint
        listed = await assistant.call_tool("list_incidents", {"limit": 5})
        assert incident_id in [i["id"] for i in (listed.structured_content or {})["incidents"]]
        refused = await assistant.call_tool(
            "decide",
            {
                "incident_id": incident_id,
                "decision": "approve",
                "plan_hash": waiting.plan_hash,
                "reason": "let me",
            },
        )
        assert refused.is_error
        assert "dev is not allowed to decide on this plan; the policy allows: group:sre" in text_of(refused)

    # HTTP as sam (group sre): a stale plan hash is refused; the current one approves.
    async with over_http(stack.gateway_url, basic("sam", "sam-pw")) as assistant:
        stale = await assistant.call_tool(
            "decide", {"incident_id": incident_id, "decision": "approve", "plan_hash": "0" * 16}
        )
        assert stale.is_error and "refused" in text_of(stale) and "plan" in text_of(stale)
        approved = await assistant.call_tool(
            "decide",
            {
                "incident_id": incident_id,
                "decision": "approve",
                "plan_hash": waiting.plan_hash,
                "reason": "sre: yes",
            },
        )
        assert not approved.is_error, text_of(approved)
        assert "approve recorded" in (approved.structured_content or {})["message"]

    outcome = await asyncio.wait_for(handle.result(), 90)
    assert outcome.outcome == "resolved", outcome.reason
    assert approvals(stack, incident_id) == [("sam", "approve", "update", waiting.plan_hash)]
    status_channels = [a.channel for a in (await handle.query(RemediationWorkflow.status)).approvals]
    assert status_channels == ["mcp"]

    # sam asks for a change over HTTP: it waits for another approver (never sam), and ana's
    # approval, over HTTP too, lets it run.
    async with over_http(stack.gateway_url, basic("sam", "sam-pw")) as assistant:
        asked = await assistant.call_tool(PROPOSE, {"request": "restart shop/cart", "request_id": "a-1"})
        assert not asked.is_error, text_of(asked)
        answer = asked.structured_content or {}
        assert answer["requester"] == "sam" and answer["step"] == "awaiting_approval", answer
        intent_id, intent_hash = answer["incident_id"], answer["plan_hash"]
        again = await assistant.call_tool(PROPOSE, {"request": "restart shop/cart", "request_id": "a-1"})
        assert (again.structured_content or {})["started"] is False  # the same request id
        own = await assistant.call_tool(
            "decide", {"incident_id": intent_id, "decision": "approve", "plan_hash": intent_hash}
        )
        assert own.is_error and "requester" in text_of(own), text_of(own)
    async with over_http(stack.gateway_url, basic("ana", "ana-pw")) as assistant:
        approved = await assistant.call_tool(
            "decide", {"incident_id": intent_id, "decision": "approve", "plan_hash": intent_hash}
        )
        assert not approved.is_error, text_of(approved)
    intent = stack.client.get_workflow_handle_for(RemediationWorkflow.run, answer["workflow_id"])
    done = await asyncio.wait_for(intent.result(), 90)
    assert done.outcome == "resolved", done.reason
    assert approvals(stack, intent_id) == [("ana", "approve", "update", intent_hash)]
