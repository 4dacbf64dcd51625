"""The gateway as an ASGI application built from the environment (`uvicorn --factory gateway.server:app`).

Like `medic gateway`, it refuses to start, in one line per failing dependency, when the settings
cannot be read or Temporal or the database does not answer (see `startup_refusal`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI

from domain.settings import Settings, SettingsError, settings_from_mapping
from gateway.app import create_app
from health.checks import Check, blocking_failures, run_checks

log = logging.getLogger("medic.gateway")

STARTUP_CHECK_SECONDS = 5.0


def startup_refusal(settings: Settings, timeout: float = STARTUP_CHECK_SECONDS) -> str | None:
    """None when Temporal (with its namespace) and the database (migrated to this code's head)
    answer; else the lines that say which does not and what to do, each `medic gateway: ...`.

    With an ingest buffer a Temporal that does not answer is no reason to stay down — the gateway
    takes notifications into the buffer meanwhile (a replica restarted during an outage must be
    able to): it is logged, and the start is refused only when the buffer does not answer either."""
    # On a thread of its own: uvicorn calls the factory from inside its event loop.
    with ThreadPoolExecutor(max_workers=1) as thread:
        failures = thread.submit(asyncio.run, _failures(settings, timeout)).result()
    if not failures:
        return None
    return "\n".join(f"medic gateway: {check.line()}" for check in failures)


async def _failures(settings: Settings, timeout: float) -> list[Check]:
    failures = await blocking_failures(settings, timeout=timeout)
    temporal = [check for check in failures if check.name == "temporal"]
    if not temporal or settings.ingest_buffer == "off":
        return failures
    rest = [check for check in failures if check.name != "temporal"]
    buffer = (await run_checks(settings, {}, timeout=timeout, only=["ingest_buffer"]))[0]
    if buffer.failed or rest:
        return failures + ([buffer] if buffer.failed else [])
    log.warning(
        "starting without Temporal: %s; notifications are kept in the %s ingest buffer until it answers",
        temporal[0].line(),
        settings.ingest_buffer,
    )
    return rest


def app() -> FastAPI:
    try:
        settings = settings_from_mapping(os.environ)
    except SettingsError as err:
        raise SystemExit(f"medic gateway: {err}") from None
    refusal = startup_refusal(settings)
    if refusal:
        raise SystemExit(refusal)
    return create_app(settings)
