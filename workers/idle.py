"""Letting go of workflow runs that wait for people.

Most of an incident's life is waiting: for an approval, a merge, the end of its cooldown. Temporal's
worker keeps every run it has worked on in memory (its sticky cache, `MEDIC_WORKER_WORKFLOW_CACHE`)
until the cache is full and the least recently used run must make room, so a worker with a
thousand waiting incidents held a thousand runs: about half a megabyte each. A smaller cache does
not help when they arrive together — after a large outage every run is in flight at once, each
one evicted between two of its own steps and replayed from its history for the next, and the
worker spends its time replaying.

So runs leave the cache when they wait for no activity or child workflow — for a person, a signal
or a timer — and have had no work for `MEDIC_WORKER_IDLE_EVICTION_SECONDS`, not when the cache is
full; and sooner, after `WAIT_GRACE_SECONDS` without work, when no timer of theirs is due within
that time either: a plan waiting for its approval (its deadline hours away) leaves the cache
seconds after it starts to wait, while a run that polls a pull request or samples a deploy every
few seconds stays, instead of being replayed at each look. How many waiting runs sit in the cache
at once no longer grows with how fast plans reach their approval. A run in flight stays however
long its activities queue behind a thousand others'. An evicted run costs nothing while it waits
and one replay of its history when it next has work — a person's decision, a timer.

The SDK has no public call for this. `IdleRuns` learns when each run last worked by wrapping the
workflow runner (a public extension point); the eviction itself is the worker core's own request
(`request_workflow_eviction`, the same eviction the cache makes), reached through the SDK worker's
bridge. `evict_idle_runs` checks that it is there and otherwise logs once and leaves the runs to
the cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import (
    Worker,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)

log = logging.getLogger("medic.worker")

# How often the idle runs are looked for: a fifth of the shorter wait, within these bounds.
CHECK_SECONDS_MIN = 1.0
CHECK_SECONDS_MAX = 10.0
# Without work for this long, a run with no timer due within the idle time leaves the cache.
WAIT_GRACE_SECONDS = 5.0


class _TimedInstance(WorkflowInstance):
    """A run's instance that notes when it last worked (a query is not work) and which of the
    activities and child workflows it started have not come back yet."""

    def __init__(self, inner: WorkflowInstance, clock: Callable[[], float]) -> None:
        self._inner = inner
        self._clock = clock
        self.last_active = clock()
        self.outstanding: set[tuple[str, int]] = set()
        # Its timers not yet fired or cancelled: seq → when due, by `clock`. A run made again to
        # replay its history starts its timers anew here, so a timer may look later than it is:
        # such a run leaves the cache early at worst, and comes back by replay.
        self.timers: dict[int, float] = {}

    def next_due(self) -> float | None:
        """When its next timer fires (by `clock`), or None without one."""
        return min(self.timers.values(), default=None)

    @property
    def in_flight(self) -> bool:
        """Whether it waits for an activity or a child workflow (the machine's work, not a person)."""
        return bool(self.outstanding)

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        work = any(job.WhichOneof("variant") != "query_workflow" for job in act.jobs)
        for job in act.jobs:
            if job.HasField("fire_timer"):
                self.timers.pop(job.fire_timer.seq, None)
            elif job.HasField("resolve_activity"):
                kind = "local" if job.resolve_activity.is_local else "activity"
                self.outstanding.discard((kind, job.resolve_activity.seq))
            elif job.HasField("resolve_child_workflow_execution"):
                self.outstanding.discard(("child", job.resolve_child_workflow_execution.seq))
        completion = self._inner.activate(act)
        for command in completion.successful.commands if completion.HasField("successful") else ():
            if command.HasField("schedule_activity"):
                self.outstanding.add(("activity", command.schedule_activity.seq))
            elif command.HasField("schedule_local_activity"):
                self.outstanding.add(("local", command.schedule_local_activity.seq))
            elif command.HasField("start_child_workflow_execution"):
                self.outstanding.add(("child", command.start_child_workflow_execution.seq))
            elif command.HasField("start_timer"):
                timer = command.start_timer
                due = self._clock() + timer.start_to_fire_timeout.ToTimedelta().total_seconds()
                self.timers[timer.seq] = due
            elif command.HasField("cancel_timer"):
                self.timers.pop(command.cancel_timer.seq, None)
        if work:
            self.last_active = self._clock()
        return completion

    def get_serialization_context(self, command_info: Any) -> Any:
        return self._inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self._inner.get_external_store_context(command_info)

    def get_info(self) -> workflow.Info:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()


class IdleRuns(WorkflowRunner):
    """`runner`, noting when each run it made last worked. A run the worker drops (evicted or
    finished) is forgotten with its instance."""

    def __init__(self, runner: WorkflowRunner, clock: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self._clock = clock
        self._runs: weakref.WeakValueDictionary[str, _TimedInstance] = weakref.WeakValueDictionary()

    def prepare_workflow(self, defn: workflow._Definition) -> None:
        self.runner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = _TimedInstance(self.runner.create_instance(det), self._clock)
        self._runs[det.info.run_id] = instance
        return instance

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        self.runner.set_worker_level_failure_exception_types(types)

    def idle(self, seconds: float, grace: float | None = None) -> list[str]:
        """The runs that wait for no activity or child workflow (so for a person, a timer or a
        signal) and have not worked for `seconds` — or, with `grace`, have not worked for `grace`
        seconds and have no timer due within `seconds`. Each is named once (it is forgotten here)."""
        now = self._clock()
        idle = [
            run_id
            for run_id, instance in self._snapshot()
            if not instance.in_flight and _idle(instance, now, seconds, grace)
        ]
        for run_id in idle:
            self._runs.pop(run_id, None)
        return idle

    def __len__(self) -> int:
        return len(self._runs)

    def in_flight(self) -> int:
        """How many of the runs in the cache wait for an activity or a child workflow."""
        return sum(1 for _, instance in self._snapshot() if instance.in_flight)

    def _snapshot(self) -> list[tuple[str, _TimedInstance]]:
        """The runs now. The worker makes and drops runs on its workflow threads while the event
        loop reads them here; a weak dictionary changed during a copy says so, and is copied again."""
        while True:
            try:
                return list(self._runs.items())
            except RuntimeError:
                continue


def _idle(instance: _TimedInstance, now: float, seconds: float, grace: float | None) -> bool:
    quiet = now - instance.last_active
    if quiet >= seconds:
        return True
    if grace is None or quiet < grace:
        return False
    due = instance.next_due()
    return due is None or due - now >= seconds


def _eviction(worker: Worker) -> Callable[[str], None] | None:
    """The worker core's eviction request, or None where this SDK does not have it."""
    bridge = getattr(worker, "_bridge_worker", None)
    request = getattr(bridge, "request_workflow_eviction", None)
    return request if callable(request) else None


async def evict_idle_runs(worker: Worker, runs: IdleRuns, idle_seconds: float) -> None:
    """Until cancelled: every so often, ask the worker to evict the runs idle for `idle_seconds`,
    or for `WAIT_GRACE_SECONDS` with no timer due within `idle_seconds` (`IdleRuns.idle`).
    Returns at once when `idle_seconds` is 0 (off) or the SDK offers no eviction request."""
    if idle_seconds <= 0:
        return
    evict = _eviction(worker)
    if evict is None:
        log.warning(
            "this Temporal SDK offers no way to evict a workflow run: waiting runs stay in the "
            "worker's cache until it is full (MEDIC_WORKER_WORKFLOW_CACHE)"
        )
        return
    grace = min(WAIT_GRACE_SECONDS, idle_seconds)
    every = min(CHECK_SECONDS_MAX, max(CHECK_SECONDS_MIN, grace / 5))
    while True:
        await asyncio.sleep(every)
        idle = runs.idle(idle_seconds, grace)
        for run_id in idle:
            try:
                evict(run_id)
            except Exception as err:  # the core refused: the cache still evicts it when full
                log.warning("could not evict idle workflow run %s: %s", run_id, err)
        if idle:
            log.debug("evicted %d waiting workflow runs", len(idle))
