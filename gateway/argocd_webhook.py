"""Argo CD's webhook: `POST /webhooks/argocd` starts the watch of a deploy.

Argo CD Notifications posts medic's template (`domain.deploy.notification.NOTIFICATION_BODY`,
README "Deploy watch") when an Application's sync has succeeded; each delivery starts the
`DeploymentWatchWorkflow` of that (Application, revision), by name (a medic worker runs it), on
medic's task queue, with the id `deploy_watch_id` gives and a reuse policy that refuses a second
start of that id, so one deploy is watched once however often it is told of (a redelivery, a
second trigger, the poll that finds deploys a lost notification missed).

Every delivery must carry `Authorization: Bearer <MEDIC_ARGOCD_WEBHOOK_TOKEN>`; without a
configured token every delivery is refused, as the Alertmanager webhook refuses without its own.
Answers: 202 the watch started; 200 `started: false` a watch of that deploy already exists
(running or ended); 202 `ignored` a sync that did not succeed, or the watch off
(MEDIC_DEPLOY_WATCH=false); 400 a body that is not medic's notification, with the reason; 503
with Retry-After when Temporal cannot be reached within the gateway's budget.

The start is the SDK's own (a request id of its own per call, kept across its retries): the
reuse policy, not a request id derived from the deploy, is what makes a second delivery start
nothing — Temporal answers a repeated request id as the first start, so a second delivery would
read as having started the watch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from domain.deploy.model import deploy_watch_id
from domain.deploy.notification import (
    DeployIgnored,
    DeployNotice,
    NotificationInvalid,
    notice_from_document,
)
from domain.settings import Settings
from gateway.auth import secrets_equal
from gateway.bodies import BodyRefused, one_line, parse_json, read_limited
from gateway.temporal_calls import RETRY_AFTER_SECONDS, unreachable_reason

log = logging.getLogger("medic.gateway")

ClientFactory = Callable[[], Awaitable[Client]]
ARGOCD_PATH = "/webhooks/argocd"
# The watch's workflow type, by name: the worker registers the class `workflows/deploy/` defines.
DEPLOYMENT_WATCH_WORKFLOW = "DeploymentWatchWorkflow"
# What the watch's input says started it (the poll says "poll").
SOURCE = "notification"


def _answer(code: int, **body: Any) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code == 503 else None
    return JSONResponse(body, status_code=code, headers=headers)


def watch_input(notice: DeployNotice, delivery: str, cluster: str = "") -> dict[str, Any]:
    """The watch's input (the fields of the workflow's `DeployEvent`), as JSON values; `cluster`
    (this medic's, README "Clusters") only when one is configured."""
    return {
        **({"cluster": cluster} if cluster else {}),
        "application": notice.application,
        "app_namespace": notice.app_namespace,
        "project": notice.project,
        "revision": notice.revision,
        "previous_revision": notice.previous_revision,
        "synced_at": notice.synced_at.isoformat() if notice.synced_at else None,
        "source": SOURCE,
        "delivery": delivery,
    }


async def start_watch(client: Client, settings: Settings, notice: DeployNotice, delivery: str) -> str | None:
    """Start the watch of `notice`'s deploy; its run id, or None when a watch of that id exists
    already (running or closed: the reuse policy refuses a second one)."""
    try:
        handle = await client.start_workflow(
            DEPLOYMENT_WATCH_WORKFLOW,
            watch_input(notice, delivery, settings.cluster_name),
            id=deploy_watch_id(
                notice.app_namespace, notice.application, notice.revision, settings.cluster_name
            ),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return None
    return handle.first_execution_run_id


def install_argocd_webhook(app: FastAPI, settings: Settings, get_client: ClientFactory) -> None:
    expected = f"Bearer {settings.argocd_webhook_token}".encode() if settings.argocd_webhook_token else None

    @app.post(ARGOCD_PATH)
    async def argocd_webhook(request: Request) -> JSONResponse:
        if expected is None:
            return _answer(
                401,
                error="no Argo CD webhook token is configured (MEDIC_ARGOCD_WEBHOOK_TOKEN); "
                "refusing all webhooks",
            )
        if not secrets_equal(request.headers.get("authorization", "").encode(), expected):
            return _answer(401, error="missing or invalid bearer token")
        try:
            raw = await read_limited(
                request.headers.get("content-length"), request.stream(), settings.webhook_max_body_bytes
            )
            notice = notice_from_document(parse_json(raw))
        except BodyRefused as err:
            return _answer(err.status, error=err.reason)
        except NotificationInvalid as err:
            return _answer(400, error=one_line(f"not medic's Argo CD deploy notification: {err}"))
        except DeployIgnored as err:
            return _answer(202, ignored=one_line(str(err)))
        watch = deploy_watch_id(
            notice.app_namespace, notice.application, notice.revision, settings.cluster_name
        )
        if not settings.deploy_watch:
            return _answer(
                202, ignored="ignored: the deploy watch is off (MEDIC_DEPLOY_WATCH=false)", watch=watch
            )
        delivery = uuid.uuid4().hex
        budget = settings.webhook_temporal_timeout_seconds
        try:
            # Answered by the server alone: the whole exchange is bounded, and a 503 is tried again.
            async with asyncio.timeout(budget):
                client = await get_client()
                run_id = await start_watch(client, settings, notice, delivery)
        except (TimeoutError, RPCError, OSError, RuntimeError) as err:
            reason = unreachable_reason(err, budget)
            if reason is not None:
                log.warning("Argo CD deploy of %s at %s not passed on: %s", watch, notice.revision, reason)
                return _answer(503, error=reason)
            if not isinstance(err, RPCError):
                raise
            log.error("Temporal refused the watch %s: %s", watch, err)
            return _answer(422, error=one_line(f"Temporal refused the watch: {err.message}"))
        body = {"watch": watch, "application": notice.application, "revision": notice.revision}
        if run_id is None:
            return _answer(200, started=False, note="this deploy is watched already", **body)
        log.info("deploy of %s at %s: watch %s", notice.application, notice.revision[:12], watch)
        return _answer(202, started=True, run_id=run_id, **body)
