"""The gateway as an ASGI application built from the environment (`uvicorn --factory gateway.server:app`).

Like `medic gateway`, it refuses to start, in one line per failing dependency, when the settings
cannot be read or Temporal or the database does not answer (see `startup_refusal`).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI

from domain.settings import Settings, SettingsError, settings_from_mapping
from gateway.app import create_app
from health.checks import blocking_failures

STARTUP_CHECK_SECONDS = 5.0


def startup_refusal(settings: Settings, timeout: float = STARTUP_CHECK_SECONDS) -> str | None:
    """None when Temporal (with its namespace) and the database (migrated to this code's head)
    answer; else the lines that say which does not and what to do, each `medic gateway: ...`."""
    # On a thread of its own: uvicorn calls the factory from inside its event loop.
    with ThreadPoolExecutor(max_workers=1) as thread:
        failures = thread.submit(asyncio.run, blocking_failures(settings, timeout=timeout)).result()
    if not failures:
        return None
    return "\n".join(f"medic gateway: {check.line()}" for check in failures)


def app() -> FastAPI:
    try:
        settings = settings_from_mapping(os.environ)
    except SettingsError as err:
        raise SystemExit(f"medic gateway: {err}") from None
    refusal = startup_refusal(settings)
    if refusal:
        raise SystemExit(refusal)
    return create_app(settings)
