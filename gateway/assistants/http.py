"""`/mcp` on the gateway: medic's MCP server over streamable HTTP, behind the console's authentication.

Every request is authenticated first, as the console's JSON API authenticates (a Bearer token, a
user's Basic credentials, or a trusted proxy's identity headers: `gateway/auth.py`); a request
without them, or with wrong ones, is a 401 that says why, before the SDK sees it. A session cookie
is refused too: a browser sends it by itself, so it cannot be what lets a page decide. The
verified principal rides in the request's ASGI scope to the tools, where `decide` takes its name
and groups, never an argument's.

The SDK's session manager is used directly (its own Starlette app would add a second routing and
lifespan): stateless, each POST answered with JSON, so that any gateway replica answers any call
and nothing is kept between them. Its task group runs for the gateway's lifetime (`running`,
entered by the gateway's lifespan).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from temporalio.client import Client

from domain.policy.approval import DecisionInput
from domain.settings import Settings
from gateway.assistants.server import http_server
from gateway.auth import NOT_CONFIGURED, Authenticator, AuthError, Principal, SessionsUnavailable
from gateway.console import DecisionOutcome, run_decision
from gateway.intents import propose_reaching
from gateway.temporal_calls import RETRY_AFTER_SECONDS

MCP_PATH = "/mcp"
PRINCIPAL_KEY = "medic.principal"

ClientFactory = Callable[[], Awaitable[Client]]


def principal_of(ctx: Context) -> Principal:
    """The verified caller of the request a tool runs in (set by `AssistantsEndpoint`)."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    principal = scope.get(PRINCIPAL_KEY) if isinstance(scope, dict) else None
    if not isinstance(principal, Principal):
        raise ToolError("refused: this call carries no verified identity")
    return principal


def _refused(status: int, reason: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="medic"'
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


class AssistantsEndpoint:
    """The ASGI app at `/mcp`: authentication, then the SDK's streamable HTTP transport."""

    def __init__(self, settings: Settings, auth: Authenticator, get_client: ClientFactory) -> None:
        reach_seconds = settings.webhook_temporal_timeout_seconds

        async def decide(incident_id: str, decision: DecisionInput) -> DecisionOutcome:
            return await run_decision(get_client, incident_id, decision, reach_seconds)

        async def propose_change(requester: str, words: str, request_id: str) -> dict[str, Any]:
            return await propose_reaching(
                get_client, settings, requester=requester, words=words, channel="mcp", request_id=request_id
            )

        self._auth = auth
        self._server = http_server(settings, principal_of, decide, propose_change)
        # Builds the session manager (the Starlette app it returns is not used). No DNS-rebinding
        # check by Host: a request needs credentials a browser does not attach by itself (no
        # cookie is taken), and the gateway is reached by whatever name it is deployed under.
        self._server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._manager = self._server.session_manager

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._manager.run():
            yield

    async def _principal(self, request: Request) -> Principal | JSONResponse:
        if not self._auth.configured:
            return _refused(401, NOT_CONFIGURED)
        try:
            principal = await asyncio.to_thread(self._auth.authenticate, request)
        except AuthError:
            return _refused(401, "invalid credentials")
        except SessionsUnavailable as err:
            return _refused(503, str(err))
        if principal is None:
            return _refused(
                401, "authentication required: Authorization: Bearer <MEDIC_CONSOLE_TOKEN>, or Basic"
            )
        if principal.via == "session":
            return _refused(
                401, "a session cookie cannot call /mcp: send Authorization (Bearer or Basic) instead"
            )
        return principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = await self._principal(Request(scope))
        if isinstance(found, JSONResponse):
            await found(scope, receive, send)
            return
        await self._manager.handle_request({**scope, PRINCIPAL_KEY: found}, receive, send)


def install_assistants(app: FastAPI, settings: Settings, get_client: ClientFactory) -> AssistantsEndpoint:
    """Serve the MCP endpoint at `/mcp` (after `install_console`, whose authenticator it uses).
    The caller runs `running()` for the app's lifetime."""
    auth: Authenticator = app.state.console_auth
    endpoint = AssistantsEndpoint(settings, auth, get_client)
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint))
    return endpoint
