"""medic's MCP server, built for one transport.

Over stdio (`medic mcp`) the caller is the local user, self-asserted like the CLI: the reads only.
Over HTTP (`/mcp` on the gateway, `gateway/assistants/http.py`) the caller is the user the console's
authentication verified: the reads and `decide`.
"""

from __future__ import annotations

import logging

from mcp.server.mcpserver import MCPServer

from domain.settings import Settings
from gateway.assistants.reads import AssistantReads
from gateway.assistants.tools import (
    Decide,
    Identify,
    Propose,
    Requester,
    register_decide,
    register_propose,
    register_read_tools,
)

NAME = "medic"
INSTRUCTIONS = (
    "medic remediates incidents in a GitOps-run Kubernetes estate. Read incidents (their diagnosis, "
    "evidence, plan, policy decision, approvals and timeline), the audit trail, the drift report and "
    "the change reviews of pull requests, and request a change in plain words (propose_change). "
    "Risk and who must approve come from medic's policy, never "
    "from you; a decision is made in the authenticated user's name and bound to the plan's hash."
)


def _server() -> MCPServer:
    # The SDK sets up the root logger when nobody has; medic's processes set up their own (JSON
    # lines on stderr), and a library must not take that over: a handler for the time of the call
    # makes the SDK's setup a no-op.
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    added = not root.handlers
    if added:
        root.addHandler(placeholder)
    try:
        return MCPServer(name=NAME, title="medic", instructions=INSTRUCTIONS, log_level="WARNING")
    finally:
        if added:
            root.removeHandler(placeholder)


def stdio_server(settings: Settings, requester: Requester, propose: Propose) -> MCPServer:
    """The server `medic mcp` runs on stdin and stdout: the read-only tools and `propose_change`."""
    server = _server()
    register_read_tools(server, AssistantReads(settings))
    register_propose(server, requester, propose)
    return server


def http_server(settings: Settings, identify: Identify, decide: Decide, propose: Propose) -> MCPServer:
    """The server behind `/mcp`: the read-only tools, `propose_change` and `decide`."""
    server = _server()
    register_read_tools(server, AssistantReads(settings))
    register_propose(server, lambda ctx: identify(ctx).name, propose)
    register_decide(server, identify, decide)
    return server
