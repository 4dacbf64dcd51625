"""The HTTP edge: Alertmanager's webhook, GitHub's webhook for medic's pull requests, `/metrics`, the
operators' console and its JSON API."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.settings import Settings
from gateway.auth import secrets_equal
from gateway.bodies import BodyRefused, one_line, read_limited
from gateway.console import install_console
from gateway.github_webhook import install_github_webhook
from gateway.ingest import INLINE_BODY_BYTES, PayloadInvalid, read_notification, send
from health.readiness import PROBE_TIMEOUT, Readiness, store_probe, temporal_probe
from integrations.temporal.client import connect
from store.db import make_engine, session_factory
from store.metrics import StoreCollector

log = logging.getLogger("medic.gateway")

# The text exposition format every Prometheus version scrapes.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ClientFactory = Callable[[], Awaitable[Client]]

# Statuses that mean "Temporal cannot take this right now": Alertmanager should retry.
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
}


def _problem(status: int, reason: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"error": reason, **extra}, status_code=status, headers=headers)


class _StoreMetrics:
    """The store collector's registry, with the engine made on the first scrape, not at start-up."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._registry: CollectorRegistry | None = None
        self._lock = threading.Lock()

    def render(self) -> bytes:
        with self._lock:
            if self._registry is None:
                registry = CollectorRegistry(auto_describe=False)
                sessions = session_factory(make_engine(self._settings.resolved_database_url))
                registry.register(StoreCollector(sessions))
                self._registry = registry
            registry = self._registry
        return generate_latest(registry)


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


def create_app(settings: Settings, client_factory: ClientFactory | None = None) -> FastAPI:
    # No /docs, /redoc or /openapi.json: they would describe every route to anyone unauthenticated,
    # and /docs loads its script from a CDN.
    app = FastAPI(title="medic gateway", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None)
    get_client = client_factory or _LazyClient(settings)
    store_metrics = _StoreMetrics(settings)
    expected = f"Bearer {settings.webhook_token}".encode() if settings.webhook_token else None

    readiness = Readiness(
        {
            "temporal": temporal_probe(settings, get_client, PROBE_TIMEOUT),
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

    @app.post("/alerts/alertmanager")
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
        budget = settings.webhook_temporal_timeout_seconds
        try:
            # Temporal's client retries an unreachable server for ~10 s; Alertmanager retries a 503
            # itself, so answer within the budget instead. A call cut short may still have landed:
            # the retried notification then reaches the same workflow as a repeat.
            async with asyncio.timeout(budget):
                client = await get_client()
                delivery = await send(client, settings, notification, rpc_timeout=timedelta(seconds=budget))
        except TimeoutError:
            log.warning("Temporal did not answer within %.1f s", budget)
            return _problem(503, f"Temporal is unavailable: no answer within {budget:g} s")
        except (OSError, RuntimeError) as err:
            # Client.connect raises RuntimeError when the server cannot be reached.
            log.warning("cannot reach Temporal: %s", err)
            return _problem(503, one_line(f"cannot reach Temporal: {err}"))
        except RPCError as err:
            if err.status in _UNAVAILABLE:
                log.warning("Temporal unavailable: %s", err)
                return _problem(503, one_line(f"Temporal is unavailable: {err.message}"))
            # Anything else is Temporal refusing this notification: a retry would be refused again.
            log.error("Temporal refused the notification for %s: %s", notification.workflow_id, err)
            return _problem(422, one_line(f"Temporal refused the notification: {err.message}"))
        group = notification.group
        body: dict[str, Any] = {
            "workflow_ids": [delivery.workflow_id],
            "delivered": delivery.delivered,
            "status": group.status,
            "alerts": len(group.alerts),
            "truncated_alerts": group.truncatedAlerts,
        }
        if notification.summary():
            body["clipped"] = notification.summary()
        if delivery.note:
            body["note"] = delivery.note
        return JSONResponse(body, status_code=202 if delivery.delivered else 200)

    install_github_webhook(app, settings, get_client)
    install_console(app, settings, get_client)
    return app
