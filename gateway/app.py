"""The HTTP edge: Alertmanager's webhook, GitHub's webhook for medic's pull requests, `/metrics`, the
operators' console and its JSON API."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.incident.alerts import AlertGroup
from domain.settings import Settings
from gateway.auth import secrets_equal
from gateway.console import install_console
from gateway.github_webhook import install_github_webhook
from gateway.ingest import deliver
from integrations.temporal.client import connect
from store.db import make_engine, session_factory
from store.metrics import StoreCollector

log = logging.getLogger("medic.gateway")

# The text exposition format every Prometheus version scrapes.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ClientFactory = Callable[[], Awaitable[Client]]

# A notification carries its whole group into the workflow's history; beyond this many alerts it
# would approach Temporal's payload limit. Alertmanager's `max_alerts` keeps groups under it.
MAX_ALERTS = 200

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


def _validation_errors(err: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors(include_input=False)
    ]


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

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return _problem(400, f"body is not JSON: {err}")
        if not isinstance(payload, dict):
            return _problem(400, "body must be a JSON object (Alertmanager webhook payload v4)")
        try:
            group = AlertGroup.model_validate(payload)
        except ValidationError as err:
            return _problem(422, "not an Alertmanager webhook payload v4", details=_validation_errors(err))
        if len(group.alerts) > MAX_ALERTS:
            return _problem(
                413,
                f"{len(group.alerts)} alerts in one notification; at most {MAX_ALERTS} are accepted "
                "(set max_alerts in the webhook config; the rest are counted in truncatedAlerts)",
            )
        try:
            client = await get_client()
        except (OSError, RuntimeError) as err:
            # Client.connect raises RuntimeError when the server cannot be reached.
            log.warning("cannot reach Temporal: %s", err)
            return _problem(503, f"cannot reach Temporal: {err}")
        try:
            delivery = await deliver(client, settings, group)
        except RPCError as err:
            if err.status in _UNAVAILABLE:
                log.warning("Temporal unavailable: %s", err)
                return _problem(503, f"Temporal is unavailable: {err.message}")
            raise
        body: dict[str, Any] = {
            "workflow_ids": [delivery.workflow_id],
            "delivered": delivery.delivered,
            "status": group.status,
            "alerts": len(group.alerts),
            "truncated_alerts": group.truncatedAlerts,
        }
        if delivery.note:
            body["note"] = delivery.note
        return JSONResponse(body, status_code=202 if delivery.delivered else 200)

    install_github_webhook(app, settings, get_client)
    install_console(app, settings, get_client)
    return app
