"""`medic mcp`: medic's MCP server on stdin and stdout, for an assistant on this machine.

The caller is the local user, on their own word (like `medic propose`): the server offers the
read-only tools, reading the store this machine's settings name, and `propose_change`, a change
request in the local user's name. Deciding needs a verified identity: that is the gateway's
`/mcp`, behind the console's authentication."""

from __future__ import annotations

import getpass
import os
from typing import Any

import anyio
from temporalio.client import Client

from cli.config import settings


def mcp_command() -> None:
    """Serve medic's MCP tools on stdin/stdout (for Claude Desktop, Claude Code, IDE agents): the
    incidents, the audit trail, the drift report and change reviews, read-only, and change requests
    in the local user's name. Decisions are made over the gateway's /mcp, as an authenticated user."""
    from cli.logs import configure
    from gateway.assistants.server import stdio_server
    from gateway.intents import propose_reaching
    from integrations.temporal.client import connect

    config = settings()
    # stdout carries the protocol: logs go to stderr, as text unless asked otherwise.
    configure(os.environ.get("MEDIC_LOG_FORMAT") or "text")
    local_user = getpass.getuser()
    clients: list[Client] = []

    async def client() -> Client:
        if not clients:  # Temporal is reached on the first request, not at start-up
            clients.append(await connect(config))
        return clients[0]

    async def propose_change(requester: str, words: str, request_id: str) -> dict[str, Any]:
        return await propose_reaching(
            client, config, requester=requester, words=words, channel="mcp", request_id=request_id
        )

    anyio.run(stdio_server(config, lambda _: local_user, propose_change).run_stdio_async)
