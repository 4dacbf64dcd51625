"""The MCP server's tools per transport, through the SDK's in-process client: stdio offers the
reads only; the HTTP server's `decide` refuses a call that carries no verified identity."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from domain.policy.approval import DecisionInput
from domain.settings import Settings
from gateway.assistants.http import principal_of
from gateway.assistants.server import http_server, stdio_server
from gateway.console import DecisionOutcome

READS = {"list_incidents", "get_incident", "get_audit_trail", "get_drift_report", "get_change_review"}


async def test_over_stdio_only_the_read_only_tools_are_offered(tmp_path: Path) -> None:
    async with Client(stdio_server(Settings(home=str(tmp_path)))) as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == READS
    for tool in tools:
        assert tool.annotations is not None and tool.annotations.read_only_hint, tool.name
        assert tool.input_schema["type"] == "object"


async def test_decide_without_a_verified_identity_is_refused_before_anything_is_decided(
    tmp_path: Path,
) -> None:
    decided: list[DecisionInput] = []

    async def decide(incident_id: str, decision: DecisionInput) -> DecisionOutcome:
        decided.append(decision)
        return DecisionOutcome(200, True, "recorded")

    server = http_server(Settings(home=str(tmp_path)), principal_of, decide)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == READS | {"decide"}
        annotations = tools["decide"].annotations
        assert annotations is not None and annotations.destructive_hint and not annotations.read_only_hint
        assert set(tools["decide"].input_schema["required"]) == {"incident_id", "decision", "plan_hash"}
        result = await client.call_tool(
            "decide", {"incident_id": "incident-x.run", "decision": "approve", "plan_hash": "abc"}
        )
    assert result.is_error
    assert "refused: this call carries no verified identity" in " ".join(
        getattr(c, "text", "") for c in result.content
    )
    assert decided == []


async def test_a_store_that_cannot_be_read_is_one_line_naming_it(tmp_path: Path) -> None:
    async with Client(stdio_server(Settings(home=str(tmp_path)))) as client:
        result = await client.call_tool("list_incidents", {})
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error and "the store cannot be read: (sqlite3.OperationalError) no such table" in text
    assert "\n" not in text
