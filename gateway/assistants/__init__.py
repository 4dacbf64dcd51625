"""medic as an MCP server, for assistants (Claude Desktop, Claude Code, IDE agents).

`server.py` builds the server on the official MCP SDK for one transport; `tools.py` holds every
tool, registered per transport (reads everywhere, `decide` only where the identity is verified);
`reads.py` is what the tools read (the console's own store reads, so the same redaction); `http.py`
serves it at `/mcp` on the gateway behind the console's authentication. `medic mcp` (`cli/assistants.py`)
serves it over stdio as the local user.
"""
