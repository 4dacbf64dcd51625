"""The gateway's calls to Temporal answer within a short deadline when Temporal is unreachable.

Temporal's client retries an unreachable server for ~10 s before it gives up. A person at the
console, GitHub and Alertmanager are better served by a quick 503 with a one-line reason and a
Retry-After: they retry themselves. The deadline is `webhook_temporal_timeout_seconds` (1 s by
default) for reaching Temporal; what the workflow then takes to answer (an update the worker
must process) is not cut short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gateway.bodies import one_line

# Statuses that mean "Temporal cannot take this right now": try again later.
UNAVAILABLE = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.ABORTED,
    }
)
# What a 503 of these asks the caller to wait before trying again, in seconds.
RETRY_AFTER_SECONDS = 5


class TemporalUnreachable(Exception):
    """Temporal did not answer in time or could not be reached; `reason` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unreachable_reason(err: BaseException, seconds: float) -> str | None:
    """The one line for a failure that means Temporal is out of reach, or None for any other."""
    if isinstance(err, TimeoutError):
        return f"Temporal is unavailable: no answer within {seconds:g} s"
    if isinstance(err, RPCError):
        return one_line(f"Temporal is unavailable: {err.message}") if err.status in UNAVAILABLE else None
    if isinstance(err, (OSError, RuntimeError)):
        # Client.connect raises RuntimeError when the server cannot be reached.
        return one_line(f"cannot reach Temporal: {err}")
    return None


async def reach(get_client: Callable[[], Awaitable[Client]], seconds: float) -> Client:
    """The client, once the Temporal server itself has answered a cheap call (no worker involved)
    within `seconds`; else `TemporalUnreachable`."""
    try:
        async with asyncio.timeout(seconds):
            client = await get_client()
            await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), retry=False, timeout=timedelta(seconds=seconds)
            )
    except (TimeoutError, RPCError, OSError, RuntimeError) as err:
        reason = unreachable_reason(err, seconds)
        if reason is None:
            raise
        raise TemporalUnreachable(reason) from err
    return client
