"""Heartbeats for activities that spend seconds in one blocking call (a `git push`, a clone, a PR
host or Argo CD request, a large observe).

`heartbeating()` runs a small thread that heartbeats every `interval` seconds while the block runs,
so Temporal notices a dead worker after the step's heartbeat timeout (seconds) rather than its
start-to-close timeout (minutes). A sync activity's heartbeat is handed to the worker's event loop
thread-safely; the thread runs in a copy of the activity's context, where `activity.heartbeat` finds
the running activity. `@heartbeats` goes under `@activity.defn` and wraps the whole activity in it.
Activities of every step may use it: like `failures.py`, it belongs to no step.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from temporalio import activity

F = TypeVar("F", bound=Callable[..., Any])

# Seconds between heartbeats; every step that heartbeats has a heartbeat timeout several times this.
HEARTBEAT_INTERVAL = 5.0


@contextmanager
def heartbeating(interval: float | None = None, *, details: tuple[Any, ...] = ()) -> Iterator[None]:
    """Heartbeat every `interval` seconds (default `HEARTBEAT_INTERVAL`) and once at the start,
    until the block ends, each beat carrying `details` (what the activity is working on: the UI
    shows the last one)."""
    if interval is None:
        interval = HEARTBEAT_INTERVAL
    if interval <= 0:
        raise ValueError(f"a heartbeat interval must be positive, not {interval!r}")
    stop = threading.Event()
    context = contextvars.copy_context()

    def beat() -> None:
        while True:
            activity.heartbeat(*details)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=context.run, args=(beat,), name="medic-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def heartbeats(fn: F) -> F:
    """`fn` (a sync activity) run inside `heartbeating()`. The wrapper keeps `fn`'s name, signature
    and annotations, which Temporal reads."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with heartbeating():
            return fn(*args, **kwargs)

    return cast(F, run)
