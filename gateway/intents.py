"""`POST /api/intents`: a change request in plain words, from a person or a pipeline.

Authenticated as the rest of the JSON API is (`gateway.console.api_principal`: a Bearer token or
Basic credentials; a session cookie alone cannot POST here, as it cannot to `/decide`). The caller
is the requester: they can never approve the incident their request opens. The body:

    {"request": "bump checkout to ghcr.io/acme/checkout:1.14.0", "request_id": "build-1234"}

`request_id` (optional) makes the call idempotent: the same caller and id start one incident.
A request that cannot be read, or asks for a value out of the policy's bounds, is a 422 with the
reason in one line; a 202 carries the incident's workflow id, its console link, and — when the
incident got that far within a few seconds — its plan, risk and approvals needed, or the reason it
ended (an ambiguous target lists its candidates).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from domain.intent.model import MAX_REQUEST_ID_LENGTH, MAX_REQUEST_LENGTH, IntentChannel
from domain.intent.parse import IntentBounds, IntentRefused, bounds_from_policy_data
from domain.settings import Settings
from domain.steps.remediation import WorkflowStatus
from gateway.console import ApiRefused, ApiUser, ClientFactory
from gateway.temporal_calls import RETRY_AFTER_SECONDS, UNAVAILABLE, TemporalUnreachable, reach
from integrations.temporal.intents import check_words, start_intent, wait_for_plan
from policies import PolicyError, load_policy_data

log = logging.getLogger(__name__)

INTENTS_PATH = "/api/intents"
# How long the answer waits for the policy's decision on the plan before answering without it.
PLAN_WAIT_SECONDS = 8.0


class IntentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request: str = Field(min_length=1, max_length=MAX_REQUEST_LENGTH)
    request_id: str = Field(default="", max_length=MAX_REQUEST_ID_LENGTH)


def intent_bounds(settings: Settings) -> IntentBounds:
    """The bounds of the policy in force (MEDIC_POLICY_DIR, else the shipped one)."""
    try:
        return bounds_from_policy_data(load_policy_data(settings.policy_dir or None))
    except PolicyError as err:
        log.warning("policy data not readable, the default request bounds apply: %s", err)
        return IntentBounds()


def status_summary(status: WorkflowStatus | None) -> dict[str, Any]:
    """What an entry shows of a started request: its plan, risk and approvals, or how it ended."""
    if status is None:
        return {"step": "received", "note": "the plan is not decided yet; follow the incident's link"}
    body: dict[str, Any] = {"incident_id": status.incident_id, "step": status.step}
    if status.diagnosis is not None:
        body["summary"] = status.diagnosis.summary
    if status.plan is not None and status.plan.actions:
        body["plan"] = status.plan.model_dump(mode="json")
        body["plan_hash"] = status.plan_hash
    if status.policy is not None:
        body["risk"] = status.policy.risk
        body["approvals_required"] = status.approvals_required
        body["approvers"] = status.policy.approvers
        body["policy_reasons"] = list(status.policy.reasons)
    if status.outcome is not None:
        body["outcome"] = status.outcome
        body["reason"] = status.reason
    body["pull_requests"] = [pr.model_dump(mode="json") for pr in status.pull_requests]
    return body


async def propose(
    client: Client,
    settings: Settings,
    *,
    requester: str,
    words: str,
    channel: IntentChannel,
    request_id: str = "",
    bounds: IntentBounds | None = None,
) -> dict[str, Any]:
    """Start `words` as `requester`'s change request and answer what the API, the CLI and an
    assistant show: the incident, its link, and its plan, risk and approvals once decided (or how
    it ended). Raises `IntentRefused` or ValueError (one line, the caller's to fix) and RPC errors."""
    if bounds is None:
        bounds = await asyncio.to_thread(intent_bounds, settings)
    started = await start_intent(
        client,
        settings,
        requester=requester,
        words=words,
        channel=channel,
        request_id=request_id,
        bounds=bounds,
    )
    log.info("intent %s from %s: %s", started.workflow_id, requester, started.request.change)
    status = await wait_for_plan(client, started.workflow_id, timeout=PLAN_WAIT_SECONDS)
    incident_id = status.incident_id if status is not None else started.workflow_id
    return {
        "workflow_id": started.workflow_id,
        "incident_id": incident_id,
        "started": started.started,
        "requester": requester,
        "change": started.request.change.describe() if started.request.change else "",
        # "model:<analyzer>/<model>" when a model read the words the grammar could not; "" else.
        "read_by": started.request.change.read_by if started.request.change else "",
        "link": f"{settings.console_url.rstrip('/')}/console/incidents/{incident_id}",
        **status_summary(status),
    }


async def propose_reaching(
    get_client: ClientFactory,
    settings: Settings,
    *,
    requester: str,
    words: str,
    channel: IntentChannel,
    request_id: str = "",
) -> dict[str, Any]:
    """`propose`, for a caller without a client at hand (an assistant's tool): the words are read
    first — bad words are the caller's to fix, whatever the state of the rest — then Temporal is
    reached within the gateway's budget (`TemporalUnreachable`, one line, when it is not)."""
    bounds = await asyncio.to_thread(intent_bounds, settings)
    check_words(words, bounds, settings)
    client = await reach(get_client, settings.webhook_temporal_timeout_seconds)
    return await propose(
        client,
        settings,
        requester=requester,
        words=words,
        channel=channel,
        request_id=request_id,
        bounds=bounds,
    )


def install_intents(app: FastAPI, settings: Settings, get_client: ClientFactory) -> None:
    """Add `POST /api/intents` to `app` (after `install_console`, whose error handling it uses)."""
    api = APIRouter()
    reach_seconds = settings.webhook_temporal_timeout_seconds

    @api.post(INTENTS_PATH)
    async def api_intents(request: Request, principal: ApiUser) -> JSONResponse:
        if principal.via == "session":
            raise ApiRefused(
                403, "a session cookie cannot POST to /api: send Authorization (Bearer or Basic) instead"
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiRefused(415, "send the request as application/json")
        try:
            body = IntentBody.model_validate_json(await request.body())
        except ValidationError as err:
            details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in err.errors(include_input=False)]
            return _json({"error": "invalid request", "details": details}, 422)
        bounds = await asyncio.to_thread(intent_bounds, settings)
        try:
            # Read before Temporal is asked anything: bad words are the caller's to fix (422),
            # whatever the state of the rest.
            check_words(body.request, bounds, settings)
        except IntentRefused as refused:
            return _json({"error": str(refused)}, 422)
        try:
            client = await reach(get_client, reach_seconds)
        except TemporalUnreachable as err:
            return _json({"error": err.reason}, 503, retry=True)
        try:
            answer = await propose(
                client,
                settings,
                requester=principal.name,
                words=body.request,
                channel="api",
                request_id=body.request_id,
                bounds=bounds,
            )
        except IntentRefused as refused:
            return _json({"error": str(refused)}, 422)
        except ValueError as err:
            return _json({"error": str(err)}, 422)
        except RPCError as err:
            if err.status in UNAVAILABLE:
                return _json({"error": f"Temporal is unavailable: {err.message}"}, 503, retry=True)
            return _json({"error": f"Temporal refused the call: {err.message}"}, 502)
        return _json(answer, 202)

    app.include_router(api)


def _json(body: dict[str, Any], status_code: int, *, retry: bool = False) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if retry:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse(body, status_code=status_code, headers=headers)
