"""The MCP server's tools per transport, through the SDK's in-process client: stdio offers the
reads and `propose_change` (as the local user); the HTTP server's `decide` and `propose_change`
refuse a call that carries no verified identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

from domain.policy.approval import DecisionInput
from domain.settings import Settings
from gateway.assistants.http import principal_of
from gateway.assistants.server import http_server, stdio_server
from gateway.console import DecisionOutcome

READS = {"list_incidents", "get_incident", "get_audit_trail", "get_drift_report", "get_change_review"}


class Proposals:
    """A stand-in for `gateway.intents.propose`: what it was asked, answered as started."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    async def __call__(self, requester: str, words: str, request_id: str) -> dict[str, Any]:
        self.asked.append((requester, words, request_id))
        return {"incident_id": "intent-1.run", "requester": requester, "started": True}


def stdio(tmp_path: Path, proposals: Proposals | None = None) -> Any:
    return stdio_server(Settings(home=str(tmp_path)), lambda _: "kim", proposals or Proposals())


async def test_over_stdio_the_reads_and_a_change_request_as_the_local_user_are_offered(
    tmp_path: Path,
) -> None:
    proposals = Proposals()
    async with Client(stdio(tmp_path, proposals)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        answer = await client.call_tool("propose_change", {"request": "restart shop/cart"})
    assert set(tools) == READS | {"propose_change"}
    for name in READS:
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint, name
        assert tools[name].input_schema["type"] == "object"
    proposing = tools["propose_change"].annotations
    assert proposing is not None and not proposing.read_only_hint and proposing.destructive_hint
    assert not answer.is_error and proposals.asked == [("kim", "restart shop/cart", "")]


async def test_decide_without_a_verified_identity_is_refused_before_anything_is_decided(
    tmp_path: Path,
) -> None:
    decided: list[DecisionInput] = []

    async def decide(incident_id: str, decision: DecisionInput) -> DecisionOutcome:
        decided.append(decision)
        return DecisionOutcome(200, True, "recorded")

    proposals = Proposals()
    server = http_server(Settings(home=str(tmp_path)), principal_of, decide, proposals)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == READS | {"decide", "propose_change"}
        anonymous = await client.call_tool("propose_change", {"request": "restart shop/cart"})
        assert anonymous.is_error and proposals.asked == []
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
    async with Client(stdio(tmp_path)) as client:
        result = await client.call_tool("list_incidents", {})
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error and "the store cannot be read: (sqlite3.OperationalError) no such table" in text
    assert "\n" not in text
