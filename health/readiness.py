"""Readiness: whether a process can do its work now (Temporal and the store reachable, and for a
worker, polling), as `/readyz` answers it.

Cheap and bounded: each probe has a short timeout, the probes run at once, and an answer is kept
for a moment so that a probe storm (several kubelets, a load balancer) costs one round of checks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from domain.settings import Settings
from health.checks import one_line, redacted_url
from store.db import normalize_url

PROBE_TIMEOUT = 2.0
CACHE_SECONDS = 1.5

Probe = Callable[[], Awaitable[None]]


class NotReady(Exception):
    """A probe's one-line reason."""


@dataclass(frozen=True)
class Failing:
    name: str
    reason: str


class Readiness:
    """Runs `probes` (name → a coroutine that raises when not ready), at most once per
    `cache_seconds`, each within `timeout`; `failing()` says which fail and why. `states` (name →
    the reason it is not ready, or None) are read on every call, never cached: a worker that stops
    polling is unready at once."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        states: Mapping[str, Callable[[], str | None]] | None = None,
        timeout: float = PROBE_TIMEOUT,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._probes = dict(probes)
        self._states = dict(states or {})
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._answer: tuple[float, list[Failing]] | None = None
        self._lock = asyncio.Lock()

    async def failing(self) -> list[Failing]:
        now = [Failing(name, reason) for name, state in self._states.items() if (reason := state())]
        return now + await self._probed()

    async def _probed(self) -> list[Failing]:
        async with self._lock:
            now = time.monotonic()
            if self._answer is not None and now - self._answer[0] < self._cache_seconds:
                return self._answer[1]
            results = await asyncio.gather(*(self._run(name, probe) for name, probe in self._probes.items()))
            answer = [failing for failing in results if failing is not None]
            self._answer = (time.monotonic(), answer)
            return answer

    async def _run(self, name: str, probe: Probe) -> Failing | None:
        try:
            await asyncio.wait_for(probe(), self._timeout)
        except TimeoutError:
            return Failing(name, f"no answer within {self._timeout:g} s")
        except NotReady as err:
            return Failing(name, str(err))
        except Exception as err:  # whatever it is, the answer is "not ready, because ..."
            return Failing(name, one_line(err))
        return None

    async def body(self) -> tuple[int, dict[str, Any]]:
        """The `/readyz` answer: 200 ready, or 503 with the failing probes and their reasons."""
        failing = await self.failing()
        if not failing:
            return 200, {"status": "ready"}
        return 503, {"status": "unready", "failing": [{"name": f.name, "reason": f.reason} for f in failing]}


def temporal_probe(settings: Settings, client: Callable[[], Awaitable[Client]], timeout: float) -> Probe:
    """Temporal answers for medic's namespace (DescribeNamespace), through the process's client."""

    async def probe() -> None:
        try:
            connected = await client()
            await connected.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=settings.temporal_namespace),
                timeout=timedelta(seconds=timeout),
            )
        except RPCError as err:
            raise NotReady(f"Temporal at {settings.temporal_address}: {one_line(err.message)}") from None
        except (RuntimeError, OSError) as err:
            raise NotReady(f"Temporal at {settings.temporal_address}: {one_line(err)}") from None

    return probe


def store_engine(settings: Settings, timeout: float) -> Engine:
    """An engine for probing the store: a new connection each time (NullPool), bounded by `timeout`."""
    url = normalize_url(settings.resolved_database_url)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, math.ceil(timeout))
    elif url.get_backend_name() == "sqlite":
        connect_args["timeout"] = timeout
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def store_probe(settings: Settings, timeout: float) -> Probe:
    """The store answers `SELECT 1` (on a thread: the drivers block)."""
    engine = store_engine(settings, timeout)
    where = redacted_url(settings.resolved_database_url)

    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def probe() -> None:
        try:
            await asyncio.to_thread(ping)
        except Exception as err:
            raise NotReady(f"database at {where}: {one_line(getattr(err, 'orig', None) or err)}") from None

    return probe
