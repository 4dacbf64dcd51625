"""GitHub's webhook: `POST /webhooks/github` tells an incident's workflow that its pull request was
merged or closed, so that it need not wait for its next poll of the host.

Every delivery must carry GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
webhook's secret, MEDIC_GITHUB_WEBHOOK_SECRET); without a configured secret every delivery is
refused, as the Alertmanager webhook refuses without its token. Only `pull_request` events with
action `closed` on a `medic/<incident id>` branch (of the configured repository, when one is set)
are acted on; `ping` answers 200, anything else 202 with the reason it was ignored.

The signal only wakes the workflow: it asks the host for the PR's state before acting, so a
forged or stale event can end no wait by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from domain.gitops.pull_requests import PullRequestEvent, incident_of_branch
from domain.settings import Settings
from gateway.auth import secrets_equal
from gateway.temporal_calls import RETRY_AFTER_SECONDS, unreachable_reason
from integrations.temporal.incidents import names_a_run, workflow_id_of
from workflows.remediation import RemediationWorkflow

log = logging.getLogger("medic.gateway")

ClientFactory = Callable[[], Awaitable[Client]]
SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
# GitHub caps webhook payloads at 25 MB; a pull request event is a few kB.
MAX_BODY_BYTES = 1 << 20


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether `header` is the signature of `body` with `secret` (compared in constant time)."""
    return bool(secret) and secrets_equal(header.strip(), signature(secret, body))


class _Login(BaseModel):
    model_config = ConfigDict(extra="ignore")

    login: str = ""


class _Ref(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ref: str


class _Pull(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: int
    state: str = ""
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_by: _Login | None = None
    head: _Ref


class _Repository(BaseModel):
    model_config = ConfigDict(extra="ignore")

    full_name: str = ""


class PullRequestPayload(BaseModel):
    """The part of GitHub's `pull_request` event medic reads."""

    model_config = ConfigDict(extra="ignore")

    action: str
    number: int | None = None
    pull_request: _Pull
    repository: _Repository | None = None
    sender: _Login | None = None

    def event(self) -> PullRequestEvent:
        pull = self.pull_request
        actor = (pull.merged_by.login if pull.merged_by else "") or (self.sender.login if self.sender else "")
        if pull.merged:
            return PullRequestEvent(
                number=pull.number, status="merged", merge_commit=pull.merge_commit_sha, actor=actor
            )
        return PullRequestEvent(number=pull.number, status="closed", actor=actor)


def _answer(code: int, **body: Any) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code == 503 else None
    return JSONResponse(body, status_code=code, headers=headers)


async def _signal(client: Client, incident_id: str, event: PullRequestEvent) -> str:
    """Signal `pull_request_event` to the incident's run: "signalled", or "gone" when that run is
    no longer the workflow's running one (the event is about a closed incident)."""
    workflow_id = workflow_id_of(incident_id)
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return "gone"
        raise
    run = incident_id.rsplit(".", 1)[1] if names_a_run(incident_id) else ""
    if described.status != WorkflowExecutionStatus.RUNNING or not described.run_id.startswith(run):
        return "gone"
    handle = client.get_workflow_handle(workflow_id, run_id=described.run_id)
    await handle.signal(RemediationWorkflow.pull_request_event, event)
    return "signalled"


def install_github_webhook(app: FastAPI, settings: Settings, get_client: ClientFactory) -> None:
    secret = settings.github_webhook_secret

    @app.post("/webhooks/github")
    async def github_webhook(request: Request) -> JSONResponse:
        if not secret:
            return _answer(
                401,
                error="no GitHub webhook secret is configured (MEDIC_GITHUB_WEBHOOK_SECRET); "
                "refusing all webhooks",
            )
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _answer(413, error=f"body larger than {MAX_BODY_BYTES} bytes")
        if not signature_valid(secret, raw, request.headers.get(SIGNATURE_HEADER, "")):
            return _answer(401, error=f"missing or invalid {SIGNATURE_HEADER} signature")
        kind = request.headers.get(EVENT_HEADER, "")
        delivery = request.headers.get(DELIVERY_HEADER, "")
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return _answer(400, error=f"body is not JSON: {err}")
        if not isinstance(payload, dict):
            return _answer(400, error="body must be a JSON object (a GitHub webhook payload)")
        if kind == "ping":
            return _answer(200, pong=True, hook_id=payload.get("hook_id"))
        if kind != "pull_request":
            return _answer(202, ignored=f"event {kind or '(none)'!r} is not acted on")
        try:
            event = PullRequestPayload.model_validate(payload)
        except ValidationError as err:
            details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in err.errors(include_input=False)]
            return _answer(422, error="not a GitHub pull_request event", details=details)
        if event.action != "closed":
            return _answer(202, ignored=f"action {event.action!r}: only closed pull requests are acted on")
        repository = event.repository.full_name if event.repository else ""
        if settings.github_repository and repository.lower() != settings.github_repository.lower():
            return _answer(202, ignored=f"repository {repository!r} is not {settings.github_repository}")
        owner = incident_of_branch(event.pull_request.head.ref)
        if owner is None:
            return _answer(202, ignored=f"branch {event.pull_request.head.ref!r} is not medic's")
        incident_id, _ = owner
        signal = event.event()
        budget = settings.webhook_temporal_timeout_seconds
        try:
            # Describe and signal are answered by the server alone: the whole exchange is bounded,
            # and GitHub (or an operator's redelivery) tries again after a 503.
            async with asyncio.timeout(budget):
                client = await get_client()
                outcome = await _signal(client, incident_id, signal)
        except (TimeoutError, RPCError, OSError, RuntimeError) as err:
            reason = unreachable_reason(err, budget)
            if reason is None:
                raise
            log.warning("GitHub delivery %s not passed on: %s", delivery, reason)
            return _answer(503, error=reason)
        body = {
            "incident_id": incident_id,
            "workflow_id": workflow_id_of(incident_id),
            "number": signal.number,
            "status": signal.status,
        }
        if outcome == "gone":
            return _answer(200, delivered=False, note="the incident has no running workflow", **body)
        log.info("pull request #%s %s: told %s", signal.number, signal.status, incident_id)
        return _answer(202, delivered=True, **body)
