"""The HTTP edge: Alertmanager's webhook, GitHub's webhook for medic's pull requests, `/metrics`, the
operators' console and its JSON API, and the MCP endpoint for assistants (`/mcp`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from starlette.types import Receive, Scope, Send
from temporalio.client import Client
from temporalio.service import RPCError

from domain.settings import Settings
from gateway.argocd_webhook import install_argocd_webhook
from gateway.assistants.http import install_assistants
from gateway.auth import secrets_equal
from gateway.bodies import BodyRefused, one_line, read_limited
from gateway.buffer import BufferUnavailable, Ingest, IngestCollector, buffer_from_settings
from gateway.console import install_console
from gateway.github_webhook import install_github_webhook
from gateway.gitlab_webhook import install_gitlab_webhook
from gateway.ingest import INLINE_BODY_BYTES, Notification, PayloadInvalid, read_notification, send
from gateway.intents import install_intents
from gateway.slack_interactions import install_slack_interactions
from gateway.temporal_calls import RETRY_AFTER_SECONDS, unreachable_reason
from health.readiness import PROBE_TIMEOUT, NotReady, Probe, Readiness, store_probe, temporal_probe
from integrations.temporal.client import connect
from store.db import make_engine, session_factory
from store.metrics import StoreCollector

log = logging.getLogger("medic.gateway")

# The text exposition format every Prometheus version scrapes.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ClientFactory = Callable[[], Awaitable[Client]]
ALERTMANAGER_PATH = "/alerts/alertmanager"


class _Gateway(FastAPI):
    """The FastAPI application, with Alertmanager's webhook answered before the framework's
    routing, dependency and middleware layers, which cost a notification more than its own
    validation and redaction do. Only a POST to the webhook's exact path takes that way; the
    handler is the route's own (registered on the router too: other methods still get 405) and
    needs none of those layers: it reads its body itself, catches what it expects and builds its
    response, and the gateway installs no middleware. An unexpected exception still ends in a 500
    (the server's instead of the framework's)."""

    alertmanager_webhook: Callable[[Request], Awaitable[Response]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        webhook = self.alertmanager_webhook
        if (
            webhook is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and _route_path(scope) == ALERTMANAGER_PATH
        ):
            response = await webhook(Request(scope, receive, send))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The request's path below the application's root path (what the router matches)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def _problem(status: int, reason: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse({"error": reason, **extra}, status_code=status, headers=headers)


class _StoreMetrics:
    """The store collector's registry, with the engine made on the first scrape, not at start-up."""

    def __init__(self, settings: Settings, ingest: Ingest) -> None:
        self._settings = settings
        self._registry: CollectorRegistry | None = None
        self._lock = threading.Lock()
        # The ingest buffer's figures come from memory: they are there also when the store is not.
        self._ingest = CollectorRegistry(auto_describe=False)
        self._ingest.register(IngestCollector(ingest))

    def render(self) -> bytes:
        with self._lock:
            if self._registry is None:
                registry = CollectorRegistry(auto_describe=False)
                sessions = session_factory(make_engine(self._settings.resolved_database_url))
                registry.register(StoreCollector(sessions))
                self._registry = registry
            registry = self._registry
        return generate_latest(self._ingest) + generate_latest(registry)


class _LazyClient:
    """Connects on first use and again after a failure, so the gateway starts before Temporal does."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self._settings)
        return self._client


def _accepted(notification: Notification) -> dict[str, Any]:
    group = notification.group
    body: dict[str, Any] = {
        "workflow_ids": [notification.workflow_id],
        "status": group.status,
        "alerts": len(group.alerts),
        "truncated_alerts": group.truncatedAlerts,
    }
    if notification.summary():
        body["clipped"] = notification.summary()
    if notification.other_clusters:
        # README "Clusters": only this cluster's alerts were taken
        body["other_clusters"] = {
            "left_out": sum(notification.other_clusters.values()),
            "by_cluster": dict(sorted(notification.other_clusters.items())),
        }
    return body


def _temporal_or_buffer(temporal: Probe, ingest: Ingest) -> Probe:
    """Ready when Temporal answers, or when it does not and the ingest buffer does (notifications are
    taken either way); not ready, saying both reasons, when neither answers."""

    async def probe() -> None:
        try:
            await asyncio.wait_for(temporal(), PROBE_TIMEOUT / 2)
        except (NotReady, TimeoutError) as err:
            away = str(err) or f"Temporal: no answer within {PROBE_TIMEOUT / 2:g} s"
            try:
                await ingest.refresh()
            except BufferUnavailable as buffer_err:
                raise NotReady(
                    f"{away}; and the {ingest.kind} ingest buffer cannot take notifications: {buffer_err}"
                ) from None

    return probe


def create_app(settings: Settings, client_factory: ClientFactory | None = None) -> FastAPI:
    get_client = client_factory or _LazyClient(settings)
    ingest = Ingest(settings, get_client, buffer_from_settings(settings))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Every replica delivers what waits in the buffer; the buffer keeps two from taking the same entry.
        delivery = asyncio.create_task(ingest.run(), name="ingest-delivery")
        try:
            # The MCP endpoint's transport runs its calls in a task group of its own.
            async with app.state.assistants.running():
                yield
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
            await ingest.close()

    # No /docs, /redoc or /openapi.json: they would describe every route to anyone unauthenticated,
    # and /docs loads its script from a CDN.
    app = _Gateway(
        title="medic gateway",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.ingest = ingest
    store_metrics = _StoreMetrics(settings, ingest)
    expected = f"Bearer {settings.webhook_token}".encode() if settings.webhook_token else None

    temporal = (
        temporal_probe(settings, get_client, PROBE_TIMEOUT)
        if ingest.buffer is None
        # With a buffer the gateway takes notifications while Temporal is away: it stays in its
        # Service's endpoints (else Alertmanager could not reach any replica during an outage).
        else _temporal_or_buffer(temporal_probe(settings, get_client, PROBE_TIMEOUT / 2), ingest)
    )
    readiness = Readiness(
        {
            "temporal": temporal,
            "store": store_probe(settings, PROBE_TIMEOUT),
        }
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: 200 whenever the process serves, whatever its dependencies do."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready: 200 when Temporal and the store answer, else 503 naming the failing ones and why
        (answers are kept for a moment; each probe is bounded by a short timeout)."""
        status, body = await readiness.body()
        return JSONResponse(body, status_code=status)

    @app.get("/metrics")
    async def metrics() -> Response:
        # The collector queries the store with a blocking driver: keep it off the event loop.
        body = await asyncio.to_thread(store_metrics.render)
        return Response(body, media_type=METRICS_CONTENT_TYPE)

    @app.post(ALERTMANAGER_PATH)
    async def alertmanager_webhook(request: Request) -> JSONResponse:
        if expected is None:
            return _problem(
                401, "no webhook token is configured (MEDIC_WEBHOOK_TOKEN); refusing all webhooks"
            )
        given = request.headers.get("authorization", "").encode()
        if not secrets_equal(given, expected):
            return _problem(401, "missing or invalid bearer token")
        try:
            raw = await read_limited(
                request.headers.get("content-length"), request.stream(), settings.webhook_max_body_bytes
            )
            # Parsing, validation and redaction are CPU-bound. A usual notification takes less time
            # than handing it to a thread and back, so it is read here; a larger one on a thread,
            # so that /healthz and the console keep answering while it is read.
            if len(raw) <= INLINE_BODY_BYTES:
                notification = read_notification(settings, raw)
            else:
                notification = await asyncio.to_thread(read_notification, settings, raw)
        except PayloadInvalid as err:
            return _problem(err.status, err.reason, details=err.details)
        except BodyRefused as err:
            return _problem(err.status, err.reason)
        # The notification's id is the request id of its delivery, direct or from the buffer: a
        # delivery cut short that landed all the same is not signalled twice by the buffer's.
        notification_id = uuid.uuid4().hex
        if ingest.holds(notification.workflow_id):
            # An earlier notification of this group waits in the buffer: this one goes behind it.
            return await buffered(
                notification, notification_id, "an earlier notification of this group waits"
            )
        budget = settings.webhook_temporal_timeout_seconds
        try:
            # Temporal's client retries an unreachable server for ~10 s; answer within the budget
            # instead, from the buffer or with a 503 that Alertmanager retries.
            async with asyncio.timeout(budget):
                client = await get_client()
                delivery = await send(
                    client,
                    settings,
                    notification,
                    rpc_timeout=timedelta(seconds=budget),
                    request_id=notification_id,
                )
        except (TimeoutError, OSError, RuntimeError, RPCError) as err:
            why = unreachable_reason(err, budget)
            if why is not None:
                log.warning("%s", why)
                return await buffered(notification, notification_id, why)
            # Anything else is Temporal refusing this notification: a retry would be refused again.
            message = err.message if isinstance(err, RPCError) else str(err)
            log.error("Temporal refused the notification for %s: %s", notification.workflow_id, err)
            return _problem(422, one_line(f"Temporal refused the notification: {message}"))
        ingest.temporal_answered()
        body = _accepted(notification)
        body["delivered"] = delivery.delivered
        if delivery.note:
            body["note"] = delivery.note
        return JSONResponse(body, status_code=202 if delivery.delivered else 200)

    async def buffered(notification: Notification, notification_id: str, why: str) -> JSONResponse:
        """202 once the buffer holds the notification; 503 (Alertmanager retries) when it cannot."""
        if ingest.buffer is None:
            return _problem(503, why)
        try:
            await ingest.accept(notification, notification_id)
        except BufferUnavailable as err:
            log.error("cannot buffer the notification for %s: %s", notification.workflow_id, err)
            # The buffer's reason must survive the one line's limit: Temporal's part is cut first.
            return _problem(
                503, one_line(f"{one_line(why, 120)}; the {ingest.kind} ingest buffer cannot take it: {err}")
            )
        body = _accepted(notification)
        body["delivered"] = False
        body["buffered"] = ingest.kind
        body["note"] = f"{why}: kept in the {ingest.kind} buffer, delivered when Temporal answers"
        return JSONResponse(body, status_code=202)

    app.alertmanager_webhook = alertmanager_webhook
    install_github_webhook(app, settings, get_client)
    install_gitlab_webhook(app, settings, get_client)
    install_argocd_webhook(app, settings, get_client)
    install_console(app, settings, get_client)
    install_slack_interactions(app, settings, get_client)
    install_intents(app, settings, get_client)
    app.state.assistants = install_assistants(app, settings, get_client)
    return app
