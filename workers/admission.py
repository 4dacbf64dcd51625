"""Admitting workflow runs into their steps a bounded number at a time.

After a large outage a thousand alerts arrive at once. Each becomes a run that takes its first
workflow task at once and then waits, in the worker's cache, for its activities to come round in
a task queue a thousand deep: every run of the burst is in flight, and in memory, until nearly the
end of it (README "Capacity"). What a worker holds is set by that peak, not by the incidents that
wait for a person afterwards — those leave the cache (`workers/idle.py`).

So the worker takes a run's workflow task from the task queue's ordinary (not sticky) side only
while fewer than `limit` runs wait for an activity or a child workflow. That side carries the first
task of every new run and the next task of a run that is not in the cache (an evicted run whose
approval came); a run already in the cache gets its tasks on the worker's sticky queue and is never
held back, so the runs in flight finish their steps while new ones wait their turn in Temporal —
where waiting costs the worker nothing. The limit is soft: an ordinary poll waits at most
`max_wait` seconds, so that a run that lost its place in the cache (its sticky task timed out)
cannot be held up behind the very runs it is counted among.

This is the SDK's public extension point for it: a custom slot supplier for workflow tasks, asked
for a slot before each poll. It also keeps the worker's usual cap on workflow tasks at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from temporalio.worker import (
    CustomSlotSupplier,
    FixedSizeSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
    WorkerTuner,
)

# Workflow tasks processed at once, as the SDK's default.
WORKFLOW_SLOTS = 100
# An ordinary poll waits at most this long for the runs in flight to fall under the limit.
MAX_WAIT_SECONDS = 5.0
# How often a held-back poll looks again.
RECHECK_SECONDS = 0.05


class _Permit(SlotPermit):
    def __init__(self, ordinary: bool) -> None:
        self.ordinary = ordinary


class RunAdmission(CustomSlotSupplier):
    """Workflow task slots: at most `slots` at once; a slot for a poll of the ordinary queue only
    while `in_flight()` is under `limit` (or after `max_wait` seconds). `limit` 0: no admission
    limit, only the cap on slots. A slot taken for an ordinary poll counts as a run in flight until
    it is given back (its poll is out, or the run it brought has not yet scheduled its activities)."""

    def __init__(
        self,
        limit: int,
        in_flight: Callable[[], int],
        *,
        slots: int = WORKFLOW_SLOTS,
        max_wait: float = MAX_WAIT_SECONDS,
        recheck: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.slots = slots
        self.max_wait = max_wait
        self._in_flight = in_flight
        self._recheck = recheck
        self._clock = clock
        # release_slot and mark_slot_used may come from the SDK core's threads.
        self._lock = threading.Lock()
        self._taken = 0
        self._ordinary = 0
        self.held_back = 0  # ordinary polls that waited for the runs in flight (for the benchmark)

    def _take(self, ctx: SlotReserveContext, force: bool = False) -> SlotPermit | None:
        with self._lock:
            if self._taken >= self.slots or not (force or self._admits(ctx)):
                return None
            self._taken += 1
            if not ctx.is_sticky:
                self._ordinary += 1
            return _Permit(ordinary=not ctx.is_sticky)

    def _admits(self, ctx: SlotReserveContext) -> bool:
        return ctx.is_sticky or self.limit <= 0 or self._in_flight() + self._ordinary < self.limit

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        deadline = self._clock() + self.max_wait
        waited = False
        while True:
            permit = self._take(ctx, force=self._clock() >= deadline)
            if permit is not None:
                return permit
            if not waited and self._taken < self.slots:
                waited = True
                self.held_back += 1
            await asyncio.sleep(self._recheck)

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        return self._take(ctx)

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        return None

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self._taken = max(0, self._taken - 1)
            if isinstance(ctx.permit, _Permit) and ctx.permit.ordinary:
                self._ordinary = max(0, self._ordinary - 1)

    @property
    def taken(self) -> int:
        return self._taken


def admission_tuner(admission: RunAdmission, activity_slots: int) -> WorkerTuner:
    """The worker's tuner: `admission` for workflow tasks, fixed slots for the rest (the SDK's
    defaults, and `activity_slots` activities at once)."""
    return WorkerTuner.create_composite(
        workflow_supplier=admission,
        activity_supplier=FixedSizeSlotSupplier(activity_slots),
        local_activity_supplier=FixedSizeSlotSupplier(100),
        nexus_supplier=FixedSizeSlotSupplier(100),
    )
