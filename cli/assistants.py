"""`medic mcp`: medic's MCP server on stdin and stdout, for an assistant on this machine.

The caller is the local user, on their own word (like the CLI's `--as`): the server offers the
read-only tools, reading the store this machine's settings name. Deciding needs a verified
identity: that is the gateway's `/mcp`, behind the console's authentication."""

from __future__ import annotations

import os

import anyio

from cli.config import settings


def mcp_command() -> None:
    """Serve medic's MCP tools on stdin/stdout (for Claude Desktop, Claude Code, IDE agents): the
    incidents, the audit trail, the drift report and change reviews, read-only. Decisions are made
    over the gateway's /mcp, as an authenticated user."""
    from cli.logs import configure
    from gateway.assistants.server import stdio_server

    config = settings()
    # stdout carries the protocol: logs go to stderr, as text unless asked otherwise.
    configure(os.environ.get("MEDIC_LOG_FORMAT") or "text")
    anyio.run(stdio_server(config).run_stdio_async)
