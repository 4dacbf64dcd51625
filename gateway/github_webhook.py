"""GitHub's webhook: `POST /webhooks/github` starts the review of a person's pull request and
keeps it up to date, and tells an incident's workflow that its own pull request was merged or
closed, so that it need not wait for its next poll of the host.

Every delivery must carry GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
webhook's secret, MEDIC_GITHUB_WEBHOOK_SECRET); without a configured secret every delivery is
refused, as the Alertmanager webhook refuses without its token. Only `pull_request` events (of
the configured repository, when one is set) are acted on; `ping` answers 200, anything else 202
with the reason it was ignored:

- `opened`, `synchronize`, `reopened`, `ready_for_review` on any branch but medic's own: a
  signal-with-start of the PR's `ChangeReviewWorkflow` (one per PR, `review_workflow_id`), its
  input and its `head_pushed` signal the head the event names. Off with
  MEDIC_REVIEW_PULL_REQUESTS=false. medic's `medic/<incident id>` branches are not reviewed:
  their PR already carries the incident's analysis.
- `closed` on a `medic/<incident id>` branch: the `pull_request_event` signal to the incident's
  run; on any other branch: `pull_request_closed` to the PR's review workflow, if one runs.

Each call to Temporal carries the delivery's id (`X-GitHub-Delivery`, which a redelivery keeps)
as its request id, so a delivery GitHub or an operator sends again is applied once.

A signal only wakes a workflow: the review reads the PR's head from the host before reviewing,
and the incident asks the host for the PR's state before acting, so a forged or stale event
decides nothing by itself.

The GitLab webhook (`gateway/gitlab_webhook.py`) passes its merge request events on through the
same three calls: `signal_incident`, `start_review`, `close_review`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import WorkflowIdReusePolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    SignalWithStartWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import WorkflowSerializationContext
from temporalio.service import RPCError, RPCStatusCode

from domain.gitops.pull_requests import PullRequestEvent, incident_of_branch
from domain.settings import Settings
from domain.steps.review import PullRequestClosed, ReviewRequest, ReviewTarget, review_workflow_id
from gateway.auth import secrets_equal
from gateway.temporal_calls import RETRY_AFTER_SECONDS, unreachable_reason
from integrations.temporal.incidents import names_a_run, workflow_id_of
from workflows.remediation import RemediationWorkflow
from workflows.review import ChangeReviewWorkflow
from workflows.review.workflow import HEAD_PUSHED, PULL_REQUEST_CLOSED

log = logging.getLogger("medic.gateway")

ClientFactory = Callable[[], Awaitable[Client]]
SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
# GitHub caps webhook payloads at 25 MB; a pull request event is a few kB.
MAX_BODY_BYTES = 1 << 20
# The actions that put a head up for review: a PR opened, pushed to, reopened, or out of draft.
REVIEW_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
# The review workflow's type as the worker registers it (the definition names none: its class).
REVIEW_WORKFLOW = ChangeReviewWorkflow.__name__


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
    sha: str = ""


class _Pull(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: int
    state: str = ""
    title: str = ""
    user: _Login | None = None
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_by: _Login | None = None
    head: _Ref
    base: _Ref | None = None


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

    def review_target(self) -> ReviewTarget:
        """The head this event names, as the review's target (the workflow reads it again from
        the host before it reviews)."""
        pull = self.pull_request
        base = pull.base or _Ref(ref="main")
        return ReviewTarget(
            host="github",
            repository=self.repository.full_name if self.repository else "",
            number=pull.number,
            base_ref=base.ref,
            head_ref=pull.head.ref,
            head_sha=pull.head.sha,
            base_sha=base.sha,
            title=pull.title,
            author=pull.user.login if pull.user else "",
        )


def answer(code: int, **body: Any) -> JSONResponse:
    """A webhook's answer (GitHub's and GitLab's): JSON, with Retry-After on a 503."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code == 503 else None
    return JSONResponse(body, status_code=code, headers=headers)


def told_answer(incident_id: str, signal: PullRequestEvent, outcome: str, what: str) -> JSONResponse:
    """The answer once the incident's run was told of its pull request (`what`: "pull request #12",
    "merge request !12"): 202, or 200 saying the run is gone."""
    body = {
        "incident_id": incident_id,
        "workflow_id": workflow_id_of(incident_id),
        "number": signal.number,
        "status": signal.status,
    }
    if outcome == "gone":
        return answer(200, delivered=False, note="the incident has no running workflow", **body)
    log.info("%s %s: told %s", what, signal.status, incident_id)
    return answer(202, delivered=True, **body)


async def signal_incident(client: Client, incident_id: str, event: PullRequestEvent) -> str:
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


def _converter(client: Client, workflow_id: str) -> Any:
    return client.data_converter.with_context(
        WorkflowSerializationContext(namespace=client.namespace, workflow_id=workflow_id)
    )


async def start_review(client: Client, settings: Settings, request: ReviewRequest, request_id: str) -> str:
    """Signal-with-start the PR's review workflow with `request` (its input when it starts, its
    `head_pushed` signal either way); the run's id. The SDK draws a random request id per call:
    this is the same service call with the delivery's id in its place."""
    workflow_id = review_workflow_id(request.target)
    payloads = await _converter(client, workflow_id).encode([request])
    start = SignalWithStartWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name=REVIEW_WORKFLOW),
        task_queue=TaskQueue(name=settings.task_queue),
        signal_name=HEAD_PUSHED,
        identity=client.identity,
        request_id=request_id,
        # A PR reopened after its review ended gets a new run.
        workflow_id_reuse_policy=WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
    )
    start.input.payloads.extend(payloads)
    start.signal_input.payloads.extend(payloads)
    response = await client.workflow_service.signal_with_start_workflow_execution(start, retry=True)
    return response.run_id


async def close_review(client: Client, workflow_id: str, closed: PullRequestClosed, request_id: str) -> bool:
    """Signal `pull_request_closed` to the review workflow; False when none runs."""
    signal = SignalWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        signal_name=PULL_REQUEST_CLOSED,
        identity=client.identity,
        request_id=request_id,
    )
    signal.input.payloads.extend(await _converter(client, workflow_id).encode([closed]))
    try:
        await client.workflow_service.signal_workflow_execution(signal, retry=True)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def review_started(
    client: Client, settings: Settings, target: ReviewTarget, delivery: str, request_id: str, what: str
) -> JSONResponse:
    """Start (or feed) the review of a person's pull request and answer 202 (GitHub's and GitLab's
    webhooks); `what` names the event in the log, `{}` standing for the number."""
    run_id = await start_review(client, settings, ReviewRequest(target=target, delivery=delivery), request_id)
    workflow_id = review_workflow_id(target)
    log.info("%s at %s: review %s", what.format(target.number), target.head_sha[:12], workflow_id)
    return answer(
        202,
        delivered=True,
        workflow_id=workflow_id,
        run_id=run_id,
        number=target.number,
        head_sha=target.head_sha,
    )


async def review_ended(
    client: Client, target: ReviewTarget, merged: bool, request_id: str, noun: str
) -> JSONResponse:
    """End the review of a closed (or merged) pull request: 202, or 200 when none runs; `noun` is
    the host's word for it ("pull request", "merge request")."""
    workflow_id = review_workflow_id(target)
    closed = PullRequestClosed(number=target.number, head_ref=target.head_ref, merged=merged)
    body = {"workflow_id": workflow_id, "number": target.number, "merged": closed.merged}
    if not await close_review(client, workflow_id, closed, request_id):
        return answer(200, delivered=False, note=f"no review of this {noun} is running", **body)
    return answer(202, delivered=True, **body)


def install_github_webhook(app: FastAPI, settings: Settings, get_client: ClientFactory) -> None:
    secret = settings.github_webhook_secret

    @app.post("/webhooks/github")
    async def github_webhook(request: Request) -> JSONResponse:
        if not secret:
            return answer(
                401,
                error="no GitHub webhook secret is configured (MEDIC_GITHUB_WEBHOOK_SECRET); "
                "refusing all webhooks",
            )
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return answer(413, error=f"body larger than {MAX_BODY_BYTES} bytes")
        if not signature_valid(secret, raw, request.headers.get(SIGNATURE_HEADER, "")):
            return answer(401, error=f"missing or invalid {SIGNATURE_HEADER} signature")
        kind = request.headers.get(EVENT_HEADER, "")
        delivery = request.headers.get(DELIVERY_HEADER, "")
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return answer(400, error=f"body is not JSON: {err}")
        if not isinstance(payload, dict):
            return answer(400, error="body must be a JSON object (a GitHub webhook payload)")
        if kind == "ping":
            return answer(200, pong=True, hook_id=payload.get("hook_id"))
        if kind != "pull_request":
            return answer(202, ignored=f"event {kind or '(none)'!r} is not acted on")
        try:
            event = PullRequestPayload.model_validate(payload)
        except ValidationError as err:
            details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in err.errors(include_input=False)]
            return answer(422, error="not a GitHub pull_request event", details=details)
        repository = event.repository.full_name if event.repository else ""
        if settings.github_repository and repository.lower() != settings.github_repository.lower():
            return answer(202, ignored=f"repository {repository!r} is not {settings.github_repository}")
        branch = event.pull_request.head.ref
        owner = incident_of_branch(branch)
        if event.action in REVIEW_ACTIONS:
            if owner is not None:
                return answer(
                    202,
                    ignored=f"action {event.action!r} on medic's own branch {branch!r}: "
                    "its pull request carries the incident's analysis, it is not reviewed",
                )
            if not settings.review_pull_requests:
                return answer(202, ignored="change reviews are off (MEDIC_REVIEW_PULL_REQUESTS=false)")
            if not event.pull_request.head.sha:
                return answer(422, error="the pull_request event names no head sha")
        elif event.action != "closed":
            return answer(
                202,
                ignored=f"action {event.action!r}: only opened, pushed, reopened, ready and closed "
                "pull requests are acted on",
            )
        request_id = delivery or uuid.uuid4().hex
        budget = settings.webhook_temporal_timeout_seconds
        try:
            # Every call is answered by the server alone: the whole exchange is bounded, and GitHub
            # (or an operator's redelivery) tries again after a 503.
            async with asyncio.timeout(budget):
                client = await get_client()
                if event.action in REVIEW_ACTIONS:
                    return await _reviewed(client, event, delivery, request_id)
                if owner is None:
                    return await _review_closed(client, event, request_id)
                incident_id, _ = owner
                signal = event.event()
                outcome = await signal_incident(client, incident_id, signal)
        except (TimeoutError, RPCError, OSError, RuntimeError) as err:
            reason = unreachable_reason(err, budget)
            if reason is None:
                raise
            log.warning("GitHub delivery %s not passed on: %s", delivery, reason)
            return answer(503, error=reason)
        return told_answer(incident_id, signal, outcome, f"pull request #{signal.number}")

    async def _reviewed(
        client: Client, event: PullRequestPayload, delivery: str, request_id: str
    ) -> JSONResponse:
        return await review_started(
            client,
            settings,
            event.review_target(),
            delivery,
            request_id,
            f"pull request #{{}} {event.action}",
        )

    async def _review_closed(client: Client, event: PullRequestPayload, request_id: str) -> JSONResponse:
        return await review_ended(
            client, event.review_target(), event.pull_request.merged, request_id, "pull request"
        )
