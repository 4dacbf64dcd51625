"""A worker's health endpoints on their own small HTTP server (aiohttp, in the worker's event loop):

- `GET /healthz` — the process is alive: always 200 `{"status": "ok"}` while it serves.
- `GET /readyz` — 200 `{"status": "ready"}` while the worker polls its task queue and Temporal and
  the store answer; else 503 `{"status": "unready", "failing": [{"name": ..., "reason": ...}]}`.

The address is `worker_health_address` (MEDIC_WORKER_HEALTH_ADDRESS, host:port; empty: no server).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from health.readiness import Readiness


class HealthAddressError(ValueError):
    """The health server cannot listen where it was told; the message says why and what to set."""


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise HealthAddressError(
            f"MEDIC_WORKER_HEALTH_ADDRESS={address!r} is not host:port; set e.g. 0.0.0.0:8081, "
            "or an empty value to turn the health server off"
        )
    return host.strip("[]"), int(port)


def health_app(readiness: Readiness) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        status, body = await readiness.body()
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


@contextlib.asynccontextmanager
async def serve_health(address: str, readiness: Readiness) -> AsyncIterator[str | None]:
    """Serve `/healthz` and `/readyz` on `address` while the block runs; yields the base URL (the
    real port when `address` asks for port 0), or None when `address` is empty."""
    if not address.strip():
        yield None
        return
    host, port = _host_port(address.strip())
    runner = web.AppRunner(health_app(readiness), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            raise HealthAddressError(
                f"cannot serve worker health on {address} (MEDIC_WORKER_HEALTH_ADDRESS): "
                f"{err.strerror or err}; set another host:port, or an empty value to turn it off"
            ) from None
        bound = runner.addresses[0] if runner.addresses else (host, port)
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        await runner.cleanup()
